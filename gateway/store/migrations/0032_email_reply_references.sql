-- 0032: a reply's References are filled in when it is first claimed, not
-- when it is written (issue 15; docs/email.md, "Replies from the desk").
--
-- An advisor's second reply written before the first was sent (the SMTP
-- server down, or two quick replies) was queued with References that
-- lacked the first reply's Message-ID: that id is given only when the
-- first is claimed (0028). A conversation's rows are claimed in order
-- (0026), so when a reply is first claimed every earlier row of its
-- conversation has its Message-ID: the References are made then, from
-- sb_email_reply_target (0031), before this row is given its own id.

CREATE OR REPLACE FUNCTION sb_outbox_claim_email(p_limit integer, p_lease interval,
	p_domain text)
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
	   SET payload = o.payload || jsonb_build_object('references',
	           coalesce(sb_email_reply_target(o.conversation_id)->'references', '[]'))
	 WHERE o.id = ANY (ids) AND NOT (o.payload ? 'message_id')
	   AND o.payload->>'kind' = 'email.reply' AND o.conversation_id IS NOT NULL;
	UPDATE outbox o
	   SET payload = o.payload || jsonb_build_object('message_id',
	           'sb.' || o.id || '.' || replace(gen_random_uuid()::text, '-', '') || '@' ||
	           p_domain)
	 WHERE o.id = ANY (ids) AND NOT (o.payload ? 'message_id');
	INSERT INTO conversation_threads (channel, key, conversation_id)
	SELECT 'email', 'msgid:' || (o.payload->>'message_id'), o.conversation_id
	  FROM outbox o
	 WHERE o.id = ANY (ids) AND o.conversation_id IS NOT NULL
	ON CONFLICT DO NOTHING;
	RETURN QUERY SELECT * FROM outbox o WHERE o.id = ANY (ids) ORDER BY o.id;
END;
$$;
