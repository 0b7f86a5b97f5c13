-- 0006_chat: the web chat channel (channels/chat, docs/chat-protocol.md).
--
-- A resident's chat is a conversation (channel 'chat') with one chat
-- session: the SHA-256 of the resume token the widget holds (the token
-- itself is never stored), how the contact details given in the pre-chat
-- form matched customers, the page the resident is on, and how far each
-- side has read. Messages are ordinary rows of `messages`: a resident's
-- has source 'chat' and external_id '<conversation>:<client id>', an
-- advisor's source 'desk' and the same form, so a message sent twice
-- (a retry after a lost answer) is stored once. Their id is the `seq` the
-- protocol shows.

CREATE TABLE chat_sessions (
	conversation_id  bigint      PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
	token_sha256     bytea       NOT NULL UNIQUE CHECK (octet_length(token_sha256) = 32),
	-- The client id of the chat.start that made it: the same start sent
	-- again (its answer was lost) finds this session and gets a new token.
	start_client_id  uuid        NULL UNIQUE,
	-- How the pre-chat form's email and mobile matched customers:
	--   new        no customer had them: a new customer holds them now
	--   matched    exactly one customer had them: the chat is theirs
	--              (unverified: the resident only typed them)
	--   ambiguous  they belong to different customers: a new customer,
	--              candidates lists the others, an advisor decides
	customer_match   text        NOT NULL CHECK (customer_match IN ('new', 'matched', 'ambiguous', 'none')),
	match_candidates bigint[]    NOT NULL DEFAULT '{}',
	email            text        NULL CHECK (length(email) BETWEEN 3 AND 320),
	mobile           text        NULL CHECK (mobile ~ '^\+[1-9][0-9]{6,14}$'),
	page_url         text        NOT NULL DEFAULT '' CHECK (length(page_url) <= 2000),
	page_title       text        NOT NULL DEFAULT '' CHECK (length(page_title) <= 300),
	-- The newest message id each side has seen (read receipts).
	resident_read    bigint      NOT NULL DEFAULT 0,
	advisor_read     bigint      NOT NULL DEFAULT 0,
	ended_at         timestamptz NULL,
	ended_by         text        NULL CHECK (ended_by IN ('resident', 'advisor', 'system')),
	-- The token is refused after this, whatever happens.
	expires_at       timestamptz NOT NULL,
	created_at       timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT chat_sessions_ended CHECK ((ended_at IS NULL) = (ended_by IS NULL))
);

CREATE INDEX chat_sessions_open_idx ON chat_sessions (created_at) WHERE ended_at IS NULL;

-- Satisfaction, one rating per conversation (the resident may change it).
CREATE TABLE conversation_ratings (
	conversation_id bigint      PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
	score           smallint    NOT NULL CHECK (score BETWEEN 1 AND 5),
	comment         text        NOT NULL DEFAULT '' CHECK (length(comment) <= 2000),
	created_at      timestamptz NOT NULL DEFAULT now(),
	updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The customer a contact from the pre-chat form (or a left message)
-- belongs to, and how it matched (see chat_sessions.customer_match). A new
-- customer gets the email and mobile as unverified identities; a matched
-- one gets nothing added (someone typing another person's email must not
-- attach their number to that person); ambiguous ones are never merged.
CREATE FUNCTION sb_chat_customer(p_name text, p_email text, p_mobile text,
	OUT customer_id bigint, OUT match text, OUT candidates bigint[])
LANGUAGE plpgsql AS $$
DECLARE
	by_email bigint;
	by_phone bigint;
BEGIN
	candidates := '{}';
	IF p_email IS NOT NULL THEN
		SELECT i.customer_id INTO by_email FROM customer_identities i
		 WHERE i.kind = 'email' AND i.value = lower(p_email);
	END IF;
	IF p_mobile IS NOT NULL THEN
		SELECT i.customer_id INTO by_phone FROM customer_identities i
		 WHERE i.kind = 'phone' AND i.value = p_mobile;
	END IF;
	IF by_email IS NOT NULL AND by_phone IS NOT NULL AND by_email <> by_phone THEN
		match := 'ambiguous';
		candidates := ARRAY[by_email, by_phone];
	ELSIF coalesce(by_email, by_phone) IS NOT NULL THEN
		match := 'matched';
		customer_id := coalesce(by_email, by_phone);
		RETURN;
	ELSIF p_email IS NULL AND p_mobile IS NULL THEN
		match := 'none';
	ELSE
		match := 'new';
	END IF;
	INSERT INTO customers (display_name) VALUES (p_name) RETURNING id INTO customer_id;
	IF match = 'new' THEN
		-- ON CONFLICT: a concurrent start with the same details took it.
		IF p_email IS NOT NULL THEN
			INSERT INTO customer_identities (customer_id, kind, value)
			VALUES (customer_id, 'email', lower(p_email)) ON CONFLICT DO NOTHING;
		END IF;
		IF p_mobile IS NOT NULL THEN
			INSERT INTO customer_identities (customer_id, kind, value)
			VALUES (customer_id, 'phone', p_mobile) ON CONFLICT DO NOTHING;
		END IF;
	END IF;
END;
$$;

-- chat.start: a waiting chat conversation on an active queue that takes
-- chat, its session and a 'chat.started' event. conversation_id is NULL
-- when no such queue exists, or (unserved) when none of its members is
-- signed in. The same start sent again (p_client) is
-- answered with the same conversation (repeated) and the new token.
CREATE FUNCTION sb_chat_start(p_queue text, p_name text, p_email text, p_mobile text,
	p_token bytea, p_client uuid, p_page_url text, p_page_title text, p_lifetime_s integer,
	OUT conversation_id bigint, OUT reference text, OUT queue_id bigint,
	OUT queued_ms bigint, OUT match text, OUT repeated boolean, OUT unserved boolean)
LANGUAGE plpgsql AS $$
DECLARE
	q bigint;
	cust record;
BEGIN
	repeated := false;
	unserved := false;
	IF p_client IS NOT NULL THEN
		UPDATE chat_sessions s SET token_sha256 = p_token
		 WHERE s.start_client_id = p_client AND s.ended_at IS NULL
		 RETURNING s.conversation_id, s.customer_match INTO conversation_id, match;
		IF FOUND THEN
			SELECT c.reference, c.queue_id, (extract(epoch FROM c.queued_at) * 1000)::bigint
			  INTO reference, queue_id, queued_ms
			  FROM conversations c WHERE c.id = sb_chat_start.conversation_id;
			repeated := true;
			RETURN;
		END IF;
	END IF;
	SELECT qq.id INTO q FROM queues qq
	  JOIN queue_channels qc ON qc.queue_id = qq.id AND qc.channel = 'chat'
	 WHERE qq.active AND (qq.slug = p_queue OR qq.id::text = p_queue)
	 ORDER BY qq.id LIMIT 1;
	IF q IS NULL THEN
		RETURN;
	END IF;
	-- Nobody signed in to serve the queue (each member's latest status):
	-- the widget offers to leave a message instead.
	IF NOT EXISTS (SELECT 1 FROM queue_members qm
	                 JOIN LATERAL (SELECT e.status FROM staff_status_events e
	                                WHERE e.staff_id = qm.staff_id
	                                ORDER BY e.route_version DESC LIMIT 1) st ON true
	                WHERE qm.queue_id = q AND st.status IN ('available', 'busy', 'wrap_up')) THEN
		unserved := true;
		RETURN;
	END IF;
	SELECT * INTO cust FROM sb_chat_customer(p_name, p_email, p_mobile);
	match := cust.match;
	INSERT INTO conversations (customer_id, channel, queue_id, status, queued_at)
	VALUES (cust.customer_id, 'chat', q, 'waiting', now())
	RETURNING id, conversations.reference, conversations.queue_id,
	          (extract(epoch FROM queued_at) * 1000)::bigint
	     INTO conversation_id, reference, queue_id, queued_ms;
	INSERT INTO chat_sessions (conversation_id, token_sha256, start_client_id, customer_match,
	                           match_candidates, email, mobile, page_url, page_title, expires_at)
	VALUES (conversation_id, p_token, p_client, cust.match, cust.candidates, lower(p_email),
	        p_mobile, coalesce(p_page_url, ''), coalesce(p_page_title, ''),
	        now() + make_interval(secs => p_lifetime_s));
	INSERT INTO conversation_events (conversation_id, kind, queue_id, detail)
	VALUES (conversation_id, 'chat.started', q,
	        jsonb_build_object('match', cust.match, 'candidates', to_jsonb(cust.candidates),
	                           'page', coalesce(p_page_url, '')));
END;
$$;

-- message.leave: a conversation on the chat channel, waiting in the queue
-- for an advisor to answer by email or SMS, with the resident's message,
-- and an acknowledgement in the outbox when an email address was given.
-- The same message sent again (p_client) gives the same conversation.
CREATE FUNCTION sb_chat_leave(p_queue text, p_name text, p_email text, p_mobile text,
	p_text text, p_client uuid,
	OUT conversation_id bigint, OUT reference text, OUT queue_id bigint,
	OUT queued_ms bigint, OUT repeated boolean)
LANGUAGE plpgsql AS $$
DECLARE
	q record;
	cust record;
	council text;
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
		SELECT name INTO council FROM councils WHERE id = 1;
		INSERT INTO outbox (conversation_id, channel, destination, payload, dedupe_key)
		VALUES (conversation_id, 'email', lower(p_email),
		        jsonb_build_object('kind', 'chat.left_message.ack',
		          'subject', 'We have your message – reference ' || reference,
		          'text', 'Thank you for your message to ' || coalesce(council, 'the council') ||
		                  ' about ' || q.name || '. Your reference is ' || reference ||
		                  '. We will reply to this address. Please quote the reference if you contact us about it.' ||
		                  E'\n\nYour message:\n' || p_text,
		          'reference', reference),
		        'chat.left_message.ack:' || conversation_id);
	END IF;
END;
$$;

-- The text of a chat's transcript, as emailed to the resident: every
-- message either side could see, in order, times in the council's zone.
CREATE FUNCTION sb_chat_transcript(p_conv bigint) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT 'Your chat with ' || coalesce(co.name, 'the council') || ', reference ' || c.reference ||
	       ', on ' || to_char(c.created_at AT TIME ZONE coalesce(co.timezone, 'Europe/London'),
	                          'FMDD FMMonth YYYY') || E'.\n\n' ||
	       coalesce((SELECT string_agg(
	           '[' || to_char(m.created_at AT TIME ZONE coalesce(co.timezone, 'Europe/London'), 'HH24:MI') || '] ' ||
	           CASE m.author_kind WHEN 'customer' THEN 'You'
	                              WHEN 'staff' THEN coalesce(s.display_name, 'Advisor')
	                              ELSE coalesce(co.name, 'Council') END ||
	           ': ' || m.body, E'\n' ORDER BY m.id)
	         FROM messages m LEFT JOIN staff_users s ON s.id = m.author_staff_id
	        WHERE m.conversation_id = c.id AND m.direction <> 'internal'), '(no messages)')
	  FROM conversations c LEFT JOIN councils co ON co.id = 1
	 WHERE c.id = p_conv
$$;
