-- Switchboard schema 0014: each staff member's own desk preferences.
--
-- Kept in the database, not the browser, so they follow the advisor to
-- another machine (GET/PATCH /api/me/preferences, docs/api.md). One row per
-- staff member, made on the first change; no row means every preference is
-- at its default. Both offer alerts are off until the advisor turns them on.

CREATE TABLE staff_preferences (
	staff_id           bigint      PRIMARY KEY REFERENCES staff_users (id) ON DELETE CASCADE,
	-- A short tone when an offer arrives.
	offer_sound        boolean     NOT NULL DEFAULT false,
	-- A browser notification when an offer arrives while the desk's tab is
	-- hidden (the browser's permission is asked when it is turned on).
	offer_notification boolean     NOT NULL DEFAULT false,
	updated_at         timestamptz NOT NULL DEFAULT now()
);
