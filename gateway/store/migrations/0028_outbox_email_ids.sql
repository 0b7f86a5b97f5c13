-- 0028: email outbox rows claimed with their Message-ID (issue 15; docs/
-- email.md, "The outbox sender").
--
-- A message sent again after a crash between the server's 250 and
-- sb_outbox_sent must carry the same Message-ID, so the recipient's mail
-- system (and the resident) can tell it is the same message. The id is
-- therefore stored in the row's payload before the first attempt: a claim
-- gives every claimed row that has none a new one, in the same
-- transaction as the claim, and never changes one that is there.

CREATE FUNCTION sb_outbox_claim_email(p_limit integer, p_lease interval, p_domain text)
RETURNS SETOF outbox
LANGUAGE plpgsql AS $$
DECLARE
	ids bigint[];
BEGIN
	SELECT array_agg(c.id) INTO ids FROM sb_outbox_claim('email', p_limit, p_lease) c;
	IF ids IS NULL THEN
		RETURN;
	END IF;
	UPDATE outbox o
	   SET payload = o.payload || jsonb_build_object('message_id',
	           'sb.' || o.id || '.' || replace(gen_random_uuid()::text, '-', '') || '@' ||
	           p_domain)
	 WHERE o.id = ANY (ids) AND NOT (o.payload ? 'message_id');
	RETURN QUERY SELECT * FROM outbox o WHERE o.id = ANY (ids) ORDER BY o.id;
END;
$$;
