-- 0033: a message left in the web chat, whose resident asked to be
-- answered by email, is answered by email from the desk (issue 15, "The
-- desk replies by email"; docs/email.md, "Replies from the desk").
--
-- The address is the one the resident gave with the message (its
-- metadata's email). The reply is the advisor's own text: nothing the
-- resident typed goes to the address (the rule of docs/chat-protocol.md,
-- "Mail the resident can cause"), and the desk shows the address before it
-- is sent. It is threaded to the acknowledgement the left message was
-- sent, when that went out, and carries the reference in its subject.

CREATE OR REPLACE FUNCTION sb_email_reply_target(p_conv bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	c conversations;
	first_msg messages;
	last_in messages;
	addr text;
	subj text;
	irt text;
	refs jsonb;
	mbox text;
	ignored text;
BEGIN
	SELECT * INTO c FROM conversations WHERE id = p_conv;
	IF NOT FOUND THEN
		RETURN jsonb_build_object('why', 'no such conversation');
	END IF;
	SELECT * INTO first_msg FROM messages m WHERE m.conversation_id = p_conv
	 ORDER BY m.id LIMIT 1;
	IF first_msg.metadata->>'kind' = 'left_message' THEN
		-- A message left for the council: the address given with it.
		IF first_msg.metadata->>'reply_by' IS DISTINCT FROM 'email' THEN
			RETURN jsonb_build_object('why', 'the resident asked for a reply by text message');
		END IF;
		addr := lower(first_msg.metadata->>'email');
		subj := 'Your message to us – reference ' || c.reference;
		SELECT o.payload->>'message_id' INTO irt FROM outbox o
		 WHERE o.conversation_id = p_conv AND o.payload->>'kind' = 'chat.left_message.ack'
		 ORDER BY o.id LIMIT 1;
	ELSIF c.channel = 'email' THEN
		SELECT * INTO last_in FROM messages m
		 WHERE m.conversation_id = p_conv AND m.direction = 'in' AND m.metadata ? 'email'
		 ORDER BY m.id DESC LIMIT 1;
		IF NOT FOUND THEN
			RETURN jsonb_build_object('why', 'no email from the resident to answer');
		END IF;
		addr := lower(last_in.metadata->'email'->'from'->>'address');
		irt := last_in.metadata->'email'->>'message_id';
		SELECT e.mailbox INTO mbox FROM email_messages e WHERE e.message_id = last_in.id;
		ignored := CASE WHEN lower(last_in.metadata->'email'->'reply_to'->>'address')
		                     IS DISTINCT FROM addr
		                THEN last_in.metadata->'email'->'reply_to'->>'address' END;
		subj := left(regexp_replace(coalesce(nullif(c.subject, ''), 'Your enquiry'),
		                            '[[:cntrl:]]', ' ', 'g'), 200);
		IF subj !~* '^re:' THEN
			subj := 'Re: ' || subj;
		END IF;
		IF position(c.reference IN subj) = 0 THEN
			subj := subj || ' [' || c.reference || ']';
		END IF;
	ELSE
		RETURN jsonb_build_object('why', 'not an email conversation');
	END IF;
	IF addr IS NULL OR addr !~ '^[^@[:space:][:cntrl:]<>",;]+@[^@[:space:][:cntrl:]<>",;]+\.[^@[:space:][:cntrl:]<>",;]+$'
	   OR length(addr) > 254 THEN
		RETURN jsonb_build_object('why', CASE WHEN c.channel = 'email'
		        THEN 'the resident''s mail has no usable From address'
		        ELSE 'the message left has no usable email address' END);
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
		'address', addr, 'subject', subj, 'in_reply_to', irt, 'references', refs,
		'mailbox', mbox, 'reply_to_ignored', ignored));
END;
$$;

-- The reply's outbox row, now also for a left message answered by email.
CREATE OR REPLACE FUNCTION sb_email_reply_queue() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	t jsonb;
BEGIN
	IF (SELECT channel FROM conversations WHERE id = NEW.conversation_id) <> 'email'
	   AND NOT EXISTS (SELECT 1 FROM (SELECT m.metadata FROM messages m
	                                   WHERE m.conversation_id = NEW.conversation_id
	                                   ORDER BY m.id LIMIT 1) f
	                    WHERE f.metadata->>'kind' = 'left_message'
	                      AND f.metadata->>'reply_by' = 'email') THEN
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
