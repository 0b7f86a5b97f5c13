-- Switchboard schema 0012: the web chat can no longer make the council
-- email strangers (issue 13 item 14; docs/chat-protocol.md).
--
-- * Leave-a-message and transcript requests are counted per client
--   address and per destination (email address or mobile number) over the
--   last hour, and refused past the limits the daemon passes in
--   (chat.requests_per_client, chat.requests_per_destination). The daemon
--   counts per socket itself.
-- * Nothing a resident typed goes into mail to an address nobody has
--   verified: the acknowledgement of a left message states the reference
--   and what happens next, not the message; a transcript goes at once
--   only to an email address verified for the chat's customer, otherwise
--   the address is sent a link first (chat_transcript_links, single use),
--   and the transcript is queued when the link is opened.

-- One row per request that was let through (a repeat of the same left
-- message, or a transcript already queued, is not counted again).
CREATE TABLE chat_mail_requests (
	id              bigserial   PRIMARY KEY,
	kind            text        NOT NULL CHECK (kind IN ('leave', 'transcript')),
	-- The client's address (the forwarded one behind a trusted proxy).
	client          text        NOT NULL CHECK (length(client) BETWEEN 1 AND 64),
	destinations    text[]      NOT NULL DEFAULT '{}',
	conversation_id bigint      NULL REFERENCES conversations (id) ON DELETE CASCADE,
	at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_mail_requests_client_idx ON chat_mail_requests (client, at);
CREATE INDEX chat_mail_requests_destinations_idx ON chat_mail_requests USING gin (destinations);
CREATE INDEX chat_mail_requests_at_idx ON chat_mail_requests (at);

-- A transcript waiting for its address to be confirmed. Only the SHA-256
-- of the link's token is kept.
CREATE TABLE chat_transcript_links (
	id              bigserial   PRIMARY KEY,
	conversation_id bigint      NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	destination     text        NOT NULL CHECK (length(destination) BETWEEN 3 AND 320),
	token_sha256    bytea       NOT NULL UNIQUE CHECK (octet_length(token_sha256) = 32),
	created_at      timestamptz NOT NULL DEFAULT now(),
	expires_at      timestamptz NOT NULL,
	used_at         timestamptz NULL,
	UNIQUE (conversation_id, destination)
);

-- Whether a request from p_client naming p_dests (NULLs ignored) may go
-- on: NULL, and it is recorded; or what refuses it ('client' or
-- 'destination'). Concurrent requests for the same client or destination
-- wait for each other (advisory locks, two key spaces so that the locks
-- of a client and of a destination never collide).
CREATE FUNCTION sb_chat_request_allowed(p_kind text, p_client text, p_dests text[],
	p_conv bigint, p_max_client integer, p_max_dest integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	d text;
	dests text[] := ARRAY(SELECT DISTINCT x FROM unnest(p_dests) x WHERE x IS NOT NULL ORDER BY x);
BEGIN
	PERFORM pg_advisory_xact_lock(7312001, hashtext(p_client));
	FOREACH d IN ARRAY dests LOOP
		PERFORM pg_advisory_xact_lock(7312002, hashtext(d));
	END LOOP;
	IF (SELECT count(*) FROM chat_mail_requests
	     WHERE client = p_client AND at > now() - interval '1 hour') >= p_max_client THEN
		RETURN 'client';
	END IF;
	FOREACH d IN ARRAY dests LOOP
		IF (SELECT count(*) FROM chat_mail_requests
		     WHERE destinations @> ARRAY[d] AND at > now() - interval '1 hour') >= p_max_dest THEN
			RETURN 'destination';
		END IF;
	END LOOP;
	INSERT INTO chat_mail_requests (kind, client, destinations, conversation_id)
	VALUES (p_kind, p_client, dests, p_conv);
	-- Counting needs an hour: older rows go (a few at a time).
	DELETE FROM chat_mail_requests
	 WHERE id IN (SELECT id FROM chat_mail_requests
	               WHERE at < now() - interval '2 hours' ORDER BY at LIMIT 20);
	RETURN NULL;
END;
$$;

-- The acknowledgement of a left message: the reference and what happens
-- next. Never the resident's text: the address was only typed.
CREATE FUNCTION sb_chat_left_ack_text(p_reference text, p_queue text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT 'Thank you for your message to ' || coalesce((SELECT name FROM councils WHERE id = 1), 'the council') ||
	       ' about ' || p_queue || '. Your reference is ' || p_reference ||
	       '. An advisor will read it and reply to this address, usually within two working days.' ||
	       ' Please quote the reference if you contact us about it.' ||
	       E'\n\nIf you did not leave a message with us, you can ignore this email.'
$$;

-- message.leave, limited: as sb_chat_leave (0006), checked first against
-- the limits (refused: 'client' or 'destination', nothing stored), and
-- acknowledged without the message text.
CREATE FUNCTION sb_chat_leave_limited(p_queue text, p_name text, p_email text, p_mobile text,
	p_text text, p_client uuid, p_addr text, p_max_client integer, p_max_dest integer,
	OUT conversation_id bigint, OUT reference text, OUT queue_id bigint,
	OUT queued_ms bigint, OUT repeated boolean, OUT refused text)
LANGUAGE plpgsql AS $$
DECLARE
	q record;
	cust record;
BEGIN
	SELECT c.id, c.reference, c.queue_id, (extract(epoch FROM c.queued_at) * 1000)::bigint
	  INTO conversation_id, reference, queue_id, queued_ms
	  FROM messages m JOIN conversations c ON c.id = m.conversation_id
	 WHERE m.source = 'chat' AND m.external_id = 'leave:' || p_client::text;
	IF FOUND THEN
		repeated := true;
		RETURN;
	END IF;
	repeated := false;
	SELECT qq.id, qq.name INTO q FROM queues qq
	  JOIN queue_channels qc ON qc.queue_id = qq.id AND qc.channel = 'chat'
	 WHERE qq.active AND (qq.slug = p_queue OR qq.id::text = p_queue)
	 ORDER BY qq.id LIMIT 1;
	IF q.id IS NULL THEN
		RETURN;
	END IF;
	refused := sb_chat_request_allowed('leave', p_addr, ARRAY[lower(p_email), p_mobile], NULL,
	                                   p_max_client, p_max_dest);
	IF refused IS NOT NULL THEN
		RETURN;
	END IF;
	SELECT * INTO cust FROM sb_chat_customer(p_name, p_email, p_mobile);
	INSERT INTO conversations (customer_id, channel, queue_id, status, queued_at, subject)
	VALUES (cust.customer_id, 'chat', q.id, 'waiting', now(), 'Message left: ' || q.name)
	RETURNING id, conversations.reference, conversations.queue_id,
	          (extract(epoch FROM queued_at) * 1000)::bigint
	     INTO conversation_id, reference, queue_id, queued_ms;
	INSERT INTO messages (conversation_id, direction, author_kind, body, metadata, source, external_id)
	VALUES (conversation_id, 'in', 'customer', p_text,
	        jsonb_build_object('kind', 'left_message', 'reply_by',
	                           CASE WHEN p_email IS NOT NULL THEN 'email' ELSE 'sms' END,
	                           'email', lower(p_email), 'mobile', p_mobile),
	        'chat', 'leave:' || p_client::text);
	INSERT INTO conversation_events (conversation_id, kind, queue_id, detail)
	VALUES (conversation_id, 'chat.left_message', q.id,
	        jsonb_build_object('match', cust.match, 'candidates', to_jsonb(cust.candidates),
	                           'email', lower(p_email), 'mobile', p_mobile));
	IF p_email IS NOT NULL THEN
		INSERT INTO outbox (conversation_id, channel, destination, payload, dedupe_key)
		VALUES (conversation_id, 'email', lower(p_email),
		        jsonb_build_object('kind', 'chat.left_message.ack',
		          'subject', 'We have your message – reference ' || reference,
		          'text', sb_chat_left_ack_text(reference, q.name),
		          'reference', reference),
		        'chat.left_message.ack:' || conversation_id);
	END IF;
END;
$$;

-- The old function (a daemon of the previous version may still call it
-- while instances are upgraded one by one) no longer mails the text.
CREATE OR REPLACE FUNCTION sb_chat_leave(p_queue text, p_name text, p_email text, p_mobile text,
	p_text text, p_client uuid,
	OUT conversation_id bigint, OUT reference text, OUT queue_id bigint,
	OUT queued_ms bigint, OUT repeated boolean)
LANGUAGE sql AS $$
	SELECT l.conversation_id, l.reference, l.queue_id, l.queued_ms, l.repeated
	  FROM sb_chat_leave_limited(p_queue, p_name, p_email, p_mobile, p_text, p_client,
	                             'unknown', 2147483647, 2147483647) l
$$;

-- transcript.request for chat p_conv, to p_email (or the email of the
-- chat's form). result:
--   queued       in the outbox now (the address is verified for the
--                chat's customer), or it was already
--   confirm      a link to confirm the address is in the outbox (or was
--                sent already and is still valid)
--   no_email     no address
--   client, destination  refused by the limits
-- p_token: the SHA-256 of a new link's token; p_link: the link's address
-- (with the token); p_ttl_s how long it works.
CREATE FUNCTION sb_chat_transcript_request(p_conv bigint, p_email text, p_addr text,
	p_token bytea, p_link text, p_ttl_s integer, p_max_client integer, p_max_dest integer,
	OUT result text, OUT reference text)
LANGUAGE plpgsql AS $$
DECLARE
	dest text;
	cust bigint;
BEGIN
	SELECT lower(coalesce(p_email, s.email)), c.reference, c.customer_id INTO dest, reference, cust
	  FROM chat_sessions s JOIN conversations c ON c.id = s.conversation_id
	 WHERE s.conversation_id = p_conv;
	IF dest IS NULL THEN
		result := 'no_email';
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM outbox WHERE dedupe_key = 'chat.transcript:' || p_conv || ':' || dest) THEN
		result := 'queued';
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM chat_transcript_links l WHERE l.conversation_id = p_conv
	            AND l.destination = dest AND l.used_at IS NULL AND l.expires_at > now()) THEN
		result := 'confirm';
		RETURN;
	END IF;
	result := sb_chat_request_allowed('transcript', p_addr, ARRAY[dest], p_conv, p_max_client, p_max_dest);
	IF result IS NOT NULL THEN
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM customer_identities i WHERE i.customer_id = cust
	            AND i.kind = 'email' AND i.value = dest AND i.verified) THEN
		INSERT INTO outbox (conversation_id, channel, destination, payload, dedupe_key)
		VALUES (p_conv, 'email', dest,
		        jsonb_build_object('kind', 'chat.transcript', 'subject',
		          'Transcript of your chat - reference ' || reference,
		          'text', sb_chat_transcript(p_conv), 'reference', reference),
		        'chat.transcript:' || p_conv || ':' || dest)
		ON CONFLICT (dedupe_key) DO NOTHING;
		result := 'queued';
		RETURN;
	END IF;
	-- An expired link for the same address is replaced.
	DELETE FROM chat_transcript_links WHERE conversation_id = p_conv AND destination = dest;
	INSERT INTO chat_transcript_links (conversation_id, destination, token_sha256, expires_at)
	VALUES (p_conv, dest, p_token, now() + make_interval(secs => p_ttl_s));
	INSERT INTO outbox (conversation_id, channel, destination, payload, dedupe_key)
	VALUES (p_conv, 'email', dest,
	        jsonb_build_object('kind', 'chat.transcript.confirm',
	          'subject', 'Confirm your email address to get your chat transcript',
	          'text', 'Someone asked ' || coalesce((SELECT name FROM councils WHERE id = 1), 'the council') ||
	                  ' to email the transcript of web chat ' || reference || ' to this address.' ||
	                  E'\n\nIf it was you, open this link to confirm the address; the transcript will then be sent:\n' ||
	                  p_link || E'\n\nThe link works once, for ' || (p_ttl_s / 3600) || ' hours.' ||
	                  ' If it was not you, ignore this email: nothing will be sent.',
	          'reference', reference),
	        'chat.transcript.confirm:' || encode(p_token, 'hex'));
	result := 'confirm';
END;
$$;

-- The confirmation link was opened (p_token: the SHA-256 of its token).
-- result: 'queued' (the transcript is in the outbox now), 'used' (the
-- link was used before), 'expired', 'unknown'.
CREATE FUNCTION sb_chat_transcript_confirm(p_token bytea, OUT result text, OUT reference text)
LANGUAGE plpgsql AS $$
DECLARE
	l record;
BEGIN
	SELECT * INTO l FROM chat_transcript_links WHERE token_sha256 = p_token FOR UPDATE;
	IF NOT FOUND THEN
		result := 'unknown';
		RETURN;
	END IF;
	SELECT c.reference INTO reference FROM conversations c WHERE c.id = l.conversation_id;
	IF l.used_at IS NOT NULL THEN
		result := 'used';
		RETURN;
	END IF;
	IF l.expires_at <= now() THEN
		result := 'expired';
		RETURN;
	END IF;
	UPDATE chat_transcript_links SET used_at = now() WHERE id = l.id;
	INSERT INTO outbox (conversation_id, channel, destination, payload, dedupe_key)
	VALUES (l.conversation_id, 'email', l.destination,
	        jsonb_build_object('kind', 'chat.transcript', 'subject',
	          'Transcript of your chat - reference ' || reference,
	          'text', sb_chat_transcript(l.conversation_id), 'reference', reference),
	        'chat.transcript:' || l.conversation_id || ':' || l.destination)
	ON CONFLICT (dedupe_key) DO NOTHING;
	result := 'queued';
END;
$$;
