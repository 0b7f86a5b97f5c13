-- Switchboard schema 0010: never lose the last enabled admin.
--
-- An UPDATE that disables the last enabled admin, or changes the last
-- enabled admin's role, fails with SQLSTATE SB001 (staff.h
-- GW_STAFF_LAST_ADMIN_STATE), whether it comes from the admin API or
-- from `switchboard user disable`. Race-free across instances: the check
-- takes a transaction-scoped advisory lock first, and in READ COMMITTED
-- each statement of the function sees what committed before it, so two
-- admins disabled at once by two transactions cannot both pass.

CREATE FUNCTION sb_staff_keep_admin() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	-- One lock for every change that takes an admin away.
	PERFORM pg_advisory_xact_lock(7301001);
	IF NOT EXISTS (SELECT 1 FROM staff_users
	               WHERE role = 'admin' AND NOT disabled) THEN
		RAISE EXCEPTION 'the last enabled admin cannot be disabled or lose the admin role'
			USING ERRCODE = 'SB001';
	END IF;
	RETURN NULL;
END;
$$;

CREATE TRIGGER staff_users_keep_admin
	AFTER UPDATE OF role, disabled ON staff_users
	FOR EACH ROW
	WHEN (OLD.role = 'admin' AND NOT OLD.disabled
	      AND (NEW.role <> 'admin' OR NEW.disabled))
	EXECUTE FUNCTION sb_staff_keep_admin();
