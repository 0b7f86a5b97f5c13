-- 0031: an advisor's reply on an email conversation goes out by email
-- (issue 15, "Sending"; docs/email.md, "Replies from the desk").
--
-- The desk's reply is written by the core (conversation.c, REPLY_SQL).
-- Its outbox row must commit with it, whoever writes it: a trigger on the
-- message queues it in the same transaction. The reply goes to the From
-- address of the conversation's newest inbound mail, never to a Reply-To
-- the sender set: a forged From with a Reply-To of the forger's would
-- otherwise let anyone have the council's answer about someone else sent
-- to them. Threaded by In-Reply-To (that mail's Message-ID) and References
-- (the conversation's Message-IDs in and out, oldest first, the last 20),
-- with the reference in the subject. Mail that cannot be answered (no
-- address) is queued as failed with the reason, so the desk shows it: it
-- never silently vanishes.

-- Where a reply to conversation p_conv goes: {"address", "subject",
-- "in_reply_to", "references", "mailbox", "reply_to_ignored"} or {"why"}.
CREATE FUNCTION sb_email_reply_target(p_conv bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	c conversations;
	last_in messages;
	addr text;
	subj text;
	refs jsonb;
	mbox text;
BEGIN
	SELECT * INTO c FROM conversations WHERE id = p_conv;
	IF NOT FOUND THEN
		RETURN jsonb_build_object('why', 'no such conversation');
	END IF;
	SELECT * INTO last_in FROM messages m
	 WHERE m.conversation_id = p_conv AND m.direction = 'in' AND m.metadata ? 'email'
	 ORDER BY m.id DESC LIMIT 1;
	IF NOT FOUND THEN
		RETURN jsonb_build_object('why', 'no email from the resident to answer');
	END IF;
	addr := lower(last_in.metadata->'email'->'from'->>'address');
	IF addr IS NULL OR addr !~ '^[^@[:space:][:cntrl:]<>",;]+@[^@[:space:][:cntrl:]<>",;]+\.[^@[:space:][:cntrl:]<>",;]+$'
	   OR length(addr) > 254 THEN
		RETURN jsonb_build_object('why', 'the resident''s mail has no usable From address');
	END IF;
	SELECT e.mailbox INTO mbox FROM email_messages e WHERE e.message_id = last_in.id;
	subj := left(regexp_replace(coalesce(nullif(c.subject, ''), 'Your enquiry'),
	                            '[[:cntrl:]]', ' ', 'g'), 200);
	IF subj !~* '^re:' THEN
		subj := 'Re: ' || subj;
	END IF;
	IF position(c.reference IN subj) = 0 THEN
		subj := subj || ' [' || c.reference || ']';
	END IF;
	SELECT coalesce(jsonb_agg(x.mid ORDER BY x.at), '[]') INTO refs FROM (
		SELECT mid, at FROM (
			SELECT e.rfc_message_id AS mid, e.imported_at AS at
			  FROM email_messages e JOIN messages m ON m.id = e.message_id
			 WHERE m.conversation_id = p_conv AND e.rfc_message_id IS NOT NULL
			UNION ALL
			SELECT o.payload->>'message_id', o.created_at
			  FROM outbox o
			 WHERE o.conversation_id = p_conv AND o.channel = 'email'
			   AND o.payload ? 'message_id') a
		 ORDER BY at DESC LIMIT 20) x;
	RETURN jsonb_strip_nulls(jsonb_build_object(
		'address', addr, 'subject', subj,
		'in_reply_to', last_in.metadata->'email'->>'message_id',
		'references', refs, 'mailbox', mbox,
		'reply_to_ignored', CASE WHEN lower(last_in.metadata->'email'->'reply_to'->>'address')
		                             IS DISTINCT FROM addr
		                        THEN last_in.metadata->'email'->'reply_to'->>'address' END));
END;
$$;

CREATE FUNCTION sb_email_reply_queue() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	t jsonb;
BEGIN
	IF (SELECT channel FROM conversations WHERE id = NEW.conversation_id) <> 'email' THEN
		RETURN NULL;
	END IF;
	t := sb_email_reply_target(NEW.conversation_id);
	INSERT INTO outbox (conversation_id, message_id, channel, destination, payload, status,
	                    last_error, dedupe_key)
	VALUES (NEW.conversation_id, NEW.id, 'email', coalesce(t->>'address', 'nobody'),
	        jsonb_strip_nulls(jsonb_build_object(
	          'kind', 'email.reply', 'subject', t->>'subject', 'text', NEW.body,
	          'in_reply_to', t->>'in_reply_to', 'references', t->'references',
	          'mailbox', t->>'mailbox')),
	        CASE WHEN t ? 'address' THEN 'pending' ELSE 'failed' END,
	        CASE WHEN t ? 'address' THEN NULL ELSE 'not sent: ' || (t->>'why') END,
	        'email.reply:' || NEW.id)
	ON CONFLICT (dedupe_key) DO NOTHING;
	RETURN NULL;
END;
$$;

CREATE TRIGGER messages_email_reply AFTER INSERT ON messages FOR EACH ROW
	WHEN (NEW.direction = 'out' AND NEW.author_kind = 'staff')
	EXECUTE FUNCTION sb_email_reply_queue();
