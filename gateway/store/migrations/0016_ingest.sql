-- Switchboard schema 0016: one ingest path for every channel (issue 14,
-- items 1 and 2; gateway/core/ingest.h, docs/architecture.md "Ingest").
--
-- A channel hands ingest a normalised inbound message: its channel and
-- source, the source's own id (idempotency), the sender's identities
-- (already normalised by gateway/core/identity.c), how to find its
-- conversation, the queue for a new one, and the message. sb_ingest does
-- it all in one call, so a group-commit row set of many messages is one
-- statement and one transaction:
--
--   1. the same (source, external_id) again: the stored message, nothing
--      else happens (a repeat);
--   2. the conversation: the one given (a chat socket knows it); or one
--      found by a thread key (conversation_threads: an email's Message-ID
--      and References) or by a case reference the sender quoted (only when
--      the sender's identities are that conversation's customer's); or the
--      customer's open conversation on the channel when the channel asks
--      (SMS); else a new one on the queue given;
--   3. the customer: the conversation's, or resolved from the identities
--      (sb_customer_resolve, channel-neutral; sb_chat_customer is now a
--      wrapper of it);
--   4. the message, inserted once per (source, external_id).
--
-- Nothing is written before every check has passed: a refusal (unknown
-- queue, ended conversation, ...) is an answer (`refused`), never a half
-- written contact.

-- ---------------------------------------------------------------------------
-- Thread keys
-- ---------------------------------------------------------------------------

-- What finds a conversation again from a later message of a thread:
-- (channel, key) -> conversation. The key is the channel's own (an email's
-- Message-ID, without its <>, say); the channel is the key's namespace, not
-- necessarily the conversation's (an email reply to a message left on the
-- web chat threads into that chat conversation). One key, one conversation:
-- the first to record it keeps it, unless the thread moved to a conversation
-- that follows an ended one (sb_ingest).
CREATE TABLE conversation_threads (
	channel         sb_channel  NOT NULL,
	key             text        NOT NULL CHECK (length(key) BETWEEN 1 AND 1000),
	conversation_id bigint      NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	created_at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (channel, key)
);

CREATE INDEX conversation_threads_conversation_idx ON conversation_threads (conversation_id);

-- A customer's newest live conversation on a channel (SMS: "the customer's
-- open conversation").
CREATE INDEX conversations_customer_channel_live_idx ON conversations (customer_id, channel, id DESC)
	WHERE status NOT IN ('closed', 'wrap_up');

-- ---------------------------------------------------------------------------
-- Channel-neutral building blocks
-- ---------------------------------------------------------------------------

-- The customers holding any of the identities (a JSON array of {"kind",
-- "value"}), distinct and ascending. One index lookup per identity: a join
-- of jsonb_array_elements (estimated at 100 rows) with customer_identities
-- may be planned as a sequential scan, which grows with the table.
CREATE FUNCTION sb_identity_customers(p_identities jsonb) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
	x jsonb;
	c bigint;
	found_ids bigint[] := '{}';
BEGIN
	IF jsonb_typeof(p_identities) <> 'array' THEN
		RETURN found_ids;
	END IF;
	FOR x IN SELECT e FROM jsonb_array_elements(p_identities) e LOOP
		SELECT i.customer_id INTO c FROM customer_identities i
		 WHERE i.kind = x->>'kind' AND i.value = x->>'value';
		IF c IS NOT NULL AND NOT c = ANY (found_ids) THEN
			found_ids := found_ids || c;
		END IF;
	END LOOP;
	RETURN ARRAY(SELECT u FROM unnest(found_ids) u ORDER BY u);
END;
$$;

-- The customer a contact belongs to, from its identities: a JSON array of
-- {"kind", "value"} objects, values already normalised (NULL values are
-- ignored). match:
--   new        nobody has any of them: a new customer holds them now
--              (unverified)
--   matched    exactly one customer has one or more of them: theirs.
--              Nothing is added to that customer (someone typing another
--              person's email must not attach their number to that person)
--   ambiguous  they belong to different customers: a new customer with
--              none of them; candidates lists the others (ascending) for an
--              advisor to decide. Never merged silently
--   none       no identity was given: a new customer
-- Two concurrent contacts with the same new identity each make a customer;
-- the identity goes to the first to commit (ON CONFLICT DO NOTHING).
CREATE FUNCTION sb_customer_resolve(p_name text, p_identities jsonb,
	OUT customer_id bigint, OUT match text, OUT candidates bigint[])
LANGUAGE plpgsql AS $$
DECLARE
	ids jsonb := CASE WHEN jsonb_typeof(p_identities) = 'array'
	                  THEN p_identities ELSE '[]'::jsonb END;
	n integer;
BEGIN
	SELECT count(*) INTO n FROM jsonb_array_elements(ids) x
	 WHERE x->>'value' IS NOT NULL;
	candidates := sb_identity_customers(ids);
	IF cardinality(candidates) = 1 THEN
		match := 'matched';
		customer_id := candidates[1];
		candidates := '{}';
		RETURN;
	END IF;
	IF cardinality(candidates) > 1 THEN
		match := 'ambiguous';
	ELSIF n = 0 THEN
		match := 'none';
	ELSE
		match := 'new';
	END IF;
	INSERT INTO customers (display_name) VALUES (coalesce(p_name, ''))
	RETURNING id INTO customer_id;
	IF match = 'new' THEN
		INSERT INTO customer_identities (customer_id, kind, value)
		SELECT DISTINCT sb_customer_resolve.customer_id, x->>'kind', x->>'value'
		  FROM jsonb_array_elements(ids) x WHERE x->>'value' IS NOT NULL
		ON CONFLICT DO NOTHING;
	END IF;
END;
$$;

-- The chat's pre-chat form (0006): now the channel-neutral resolution of
-- its email and mobile. Same answers as before.
CREATE OR REPLACE FUNCTION sb_chat_customer(p_name text, p_email text, p_mobile text,
	OUT customer_id bigint, OUT match text, OUT candidates bigint[])
LANGUAGE sql AS $$
	SELECT r.customer_id, r.match, r.candidates
	  FROM sb_customer_resolve(p_name, jsonb_build_array(
	         jsonb_build_object('kind', 'email', 'value', lower(p_email)),
	         jsonb_build_object('kind', 'phone', 'value', p_mobile))) r
$$;

-- The queue a new contact on p_channel goes to: p_queue is its slug or id.
-- An active queue that takes the channel, or why not (refused):
-- unknown_queue, queue_inactive, queue_channel (it does not take it).
CREATE FUNCTION sb_queue_for_channel(p_queue text, p_channel text,
	OUT queue_id bigint, OUT name text, OUT refused text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
	SELECT q.id, q.name INTO queue_id, name FROM queues q
	  JOIN queue_channels qc ON qc.queue_id = q.id AND qc.channel = p_channel
	 WHERE q.active AND (q.slug = p_queue OR q.id::text = p_queue)
	 ORDER BY q.id LIMIT 1;
	IF FOUND THEN
		RETURN;
	END IF;
	IF p_queue IS NULL OR NOT EXISTS (SELECT 1 FROM queues q
	                                  WHERE q.slug = p_queue OR q.id::text = p_queue) THEN
		refused := 'unknown_queue';
	ELSIF NOT EXISTS (SELECT 1 FROM queues q
	                  WHERE (q.slug = p_queue OR q.id::text = p_queue) AND q.active) THEN
		refused := 'queue_inactive';
	ELSE
		refused := 'queue_channel';
	END IF;
END;
$$;

-- A new conversation, waiting in queue p_queue (committed as waiting first:
-- the router's reconciler queues it if the hand-off to routing is lost).
-- PL/pgSQL rather than SQL: its plan is kept, a SQL function's is made again
-- at every call.
CREATE FUNCTION sb_conversation_open(p_customer bigint, p_channel text, p_queue bigint,
	p_subject text,
	OUT conversation_id bigint, OUT reference text, OUT queued_ms bigint)
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO conversations AS cv (customer_id, channel, queue_id, status, queued_at,
	                                 subject)
	VALUES (p_customer, p_channel::sb_channel, p_queue, 'waiting', now(),
	        coalesce(p_subject, ''))
	RETURNING cv.id, cv.reference, (extract(epoch FROM cv.queued_at) * 1000)::bigint
	     INTO conversation_id, reference, queued_ms;
END;
$$;

-- ---------------------------------------------------------------------------
-- Ingest
-- ---------------------------------------------------------------------------

-- One inbound message from any channel (see the head of this file).
--
--   p_channel        sb_channel of the message
--   p_source         messages.source ('chat', 'imap:<mailbox>', 'notify', ...)
--   p_external_id    the source's own id: (p_source, p_external_id) is
--                    stored once
--   p_name           the sender's name as given, for a new customer
--   p_identities     [{"kind", "value"}], normalised
--   p_conversation   a conversation the channel knows, or NULL: it must be
--                    on p_channel and not ended (closed or in wrap-up)
--   p_thread_find    ["key", ...]: thread keys on p_channel to look for,
--                    best first
--   p_thread_add     ["key", ...]: thread keys to record for the
--                    conversation the message ends up in
--   p_reference      a conversation reference the sender quoted, or NULL
--   p_open_on_channel  use the customer's newest live conversation on
--                    p_channel when there is one (SMS)
--   p_queue          for a new or re-opened conversation: slug or id
--   p_subject        for a new conversation
--   p_body, p_metadata  the message (metadata: a JSON object, the channel's)
--
-- A conversation found by thread key or reference that has ended is
-- re-opened when it is closed and on p_channel (same reference, back in
-- p_queue, routed again: opened 'reopened'); otherwise (in wrap-up with its
-- advisor, or closed on another channel) a new conversation for the same
-- customer follows it (opened 'followed', event detail 'follows'), and the
-- thread's keys on p_channel move to the new one.
--
-- Result: conversation_id, reference, seq (messages.id), at_ms, customer_id,
-- match (new, matched, ambiguous, none: see sb_customer_resolve; or
-- conversation: the customer of the conversation given or found), candidates
-- (ambiguous), opened ('' for an existing conversation, 'new', 'reopened',
-- 'followed'; an event 'conversation.<opened>' records it, with the match
-- and the message), repeated, route (hand to the router now: opened now, or a
-- repeat of the message that opened a conversation still waiting), queue_id,
-- channel, queued_ms and priority (the routing priority: the conversation's,
-- +10 for a vulnerable customer, as the router's reconciler computes it),
-- stored_body and stored_metadata (a repeat: the message as stored, which
-- the retry may not match; NULL otherwise),
-- refused (NULL, or why nothing was written: unknown_queue, queue_inactive,
-- queue_channel, no_queue, no_conversation, conversation_channel, ended).
--
-- The same (source, external_id) committed by a concurrent transaction
-- between the check and the insert raises serialization_failure: the
-- batch is retried (by db_commit, one write at a time) and the retry finds
-- the repeat; nothing of the first attempt is left behind.
CREATE FUNCTION sb_ingest(p_channel text, p_source text, p_external_id text, p_name text,
	p_identities jsonb, p_conversation bigint, p_thread_find jsonb, p_thread_add jsonb,
	p_reference text, p_open_on_channel boolean, p_queue text, p_subject text,
	p_body text, p_metadata jsonb,
	OUT conversation_id bigint, OUT reference text, OUT seq bigint, OUT at_ms bigint,
	OUT customer_id bigint, OUT match text, OUT candidates bigint[], OUT opened text,
	OUT repeated boolean, OUT route boolean, OUT queue_id bigint, OUT channel text,
	OUT queued_ms bigint, OUT priority integer, OUT stored_body text,
	OUT stored_metadata jsonb, OUT refused text)
LANGUAGE plpgsql AS $$
DECLARE
	ids jsonb := CASE WHEN jsonb_typeof(p_identities) = 'array'
	                  THEN p_identities ELSE '[]'::jsonb END;
	-- the conversation found (c_id NULL: none)
	c_id bigint;
	c_customer bigint;
	c_status text;
	c_channel text;
	c_subject text;
	q record;
	cust record;
	follows bigint;
	opener jsonb;
	tkey text;
	known bigint[];
BEGIN
	repeated := false;
	route := false;
	opened := '';
	candidates := '{}';

	-- 1. A repeat: the stored message and nothing else.
	SELECT m.id, m.conversation_id, (extract(epoch FROM m.created_at) * 1000)::bigint, m.body,
	       m.metadata
	  INTO seq, conversation_id, at_ms, stored_body, stored_metadata
	  FROM messages m WHERE m.source = p_source AND m.external_id = p_external_id;
	IF FOUND THEN
		repeated := true;
		SELECT e.detail INTO opener FROM conversation_events e
		 WHERE e.conversation_id = sb_ingest.conversation_id
		   AND e.kind IN ('conversation.new', 'conversation.reopened', 'conversation.followed')
		   AND e.detail->>'message' = seq::text
		 ORDER BY e.id LIMIT 1;
		SELECT cv.reference, cv.customer_id, cv.queue_id, cv.channel,
		       (extract(epoch FROM cv.queued_at) * 1000)::bigint,
		       least(100, cv.priority + CASE WHEN cu.vulnerable THEN 10 ELSE 0 END),
		       opener IS NOT NULL AND cv.status = 'waiting'
		  INTO reference, customer_id, queue_id, channel, queued_ms, priority, route
		  FROM conversations cv JOIN customers cu ON cu.id = cv.customer_id
		 WHERE cv.id = sb_ingest.conversation_id;
		match := coalesce(opener->>'match', 'conversation');
		candidates := ARRAY(SELECT x::bigint FROM jsonb_array_elements_text(
		                      coalesce(opener->'candidates', '[]')) x);
		RETURN;
	END IF;

	-- 2. The conversation: given, by thread key, by reference, or open.
	IF p_conversation IS NOT NULL THEN
		SELECT cv.id, cv.customer_id, cv.status, cv.channel
		  INTO c_id, c_customer, c_status, c_channel
		  FROM conversations cv WHERE cv.id = p_conversation;
		IF c_id IS NULL THEN
			refused := 'no_conversation';
			RETURN;
		END IF;
		IF c_channel <> p_channel THEN
			refused := 'conversation_channel';
			RETURN;
		END IF;
		IF c_status IN ('closed', 'wrap_up') THEN
			refused := 'ended';
			RETURN;
		END IF;
		match := 'conversation';
	ELSE
		IF jsonb_typeof(p_thread_find) = 'array' THEN
			-- One index lookup per key, best first (not a join: see
			-- sb_identity_customers).
			FOR tkey IN SELECT k FROM jsonb_array_elements_text(p_thread_find) k LOOP
				SELECT t.conversation_id INTO c_id FROM conversation_threads t
				 WHERE t.channel = p_channel AND t.key = tkey;
				EXIT WHEN c_id IS NOT NULL;
			END LOOP;
		END IF;
		IF c_id IS NULL AND p_reference IS NOT NULL THEN
			-- Only the customer's own: a reference is easy to guess.
			SELECT cv.id INTO c_id FROM conversations cv
			 WHERE cv.reference = upper(p_reference)
			   AND cv.customer_id = ANY (sb_identity_customers(ids));
		END IF;
		IF c_id IS NOT NULL THEN
			SELECT cv.customer_id, cv.status, cv.channel, cv.subject
			  INTO c_customer, c_status, c_channel, c_subject
			  FROM conversations cv WHERE cv.id = c_id;
			match := 'conversation';
			IF c_status = 'closed' AND c_channel = p_channel THEN
				opened := 'reopened';
			ELSIF c_status IN ('closed', 'wrap_up') THEN
				opened := 'followed';
				follows := c_id;
			END IF;
		ELSIF p_open_on_channel THEN
			known := sb_identity_customers(ids);
			IF cardinality(known) = 1 THEN
				SELECT cv.id, cv.customer_id INTO c_id, c_customer FROM conversations cv
				 WHERE cv.customer_id = known[1]
				   AND cv.channel = p_channel
				   AND cv.status NOT IN ('closed', 'wrap_up')
				 ORDER BY cv.id DESC LIMIT 1;
			END IF;
			IF c_id IS NOT NULL THEN
				match := 'matched';
			ELSE
				opened := 'new';
			END IF;
		ELSE
			opened := 'new';
		END IF;
	END IF;

	-- 3. A queue for what opens: checked before anything is written.
	IF opened <> '' THEN
		IF p_queue IS NULL THEN
			refused := 'no_queue';
			RETURN;
		END IF;
		SELECT * INTO q FROM sb_queue_for_channel(p_queue, p_channel);
		IF q.refused IS NOT NULL THEN
			refused := q.refused;
			RETURN;
		END IF;
	END IF;

	-- 4. Written from here on.
	IF opened = 'new' THEN
		SELECT * INTO cust FROM sb_customer_resolve(p_name, ids);
		match := cust.match;
		candidates := cust.candidates;
		customer_id := cust.customer_id;
	ELSE
		customer_id := c_customer;
	END IF;
	IF opened IN ('new', 'followed') THEN
		SELECT o.conversation_id, o.reference, o.queued_ms
		  INTO conversation_id, reference, queued_ms
		  FROM sb_conversation_open(customer_id, p_channel, q.queue_id,
		                            coalesce(p_subject, c_subject)) o;
		queue_id := q.queue_id;
		channel := p_channel;
		priority := 0;
	ELSIF opened = 'reopened' THEN
		UPDATE conversations cv SET status = 'waiting', queue_id = q.queue_id,
		       assigned_staff_id = NULL, queued_at = now(), updated_at = now()
		 WHERE cv.id = c_id
		RETURNING cv.id, cv.reference, (extract(epoch FROM cv.queued_at) * 1000)::bigint,
		          cv.queue_id, cv.channel, cv.priority
		     INTO conversation_id, reference, queued_ms, queue_id, channel, priority;
	ELSE
		SELECT cv.id, cv.reference, cv.queue_id, cv.channel,
		       (extract(epoch FROM cv.queued_at) * 1000)::bigint, cv.priority
		  INTO conversation_id, reference, queue_id, channel, queued_ms, priority
		  FROM conversations cv WHERE cv.id = c_id;
	END IF;
	IF (SELECT cu.vulnerable FROM customers cu WHERE cu.id = sb_ingest.customer_id) THEN
		priority := least(100, priority + 10);
	END IF;

	INSERT INTO messages (conversation_id, direction, author_kind, body, metadata, source,
	                      external_id)
	VALUES (sb_ingest.conversation_id, 'in', 'customer', coalesce(p_body, ''),
	        coalesce(p_metadata, '{}'), p_source, p_external_id)
	ON CONFLICT (source, external_id) DO NOTHING
	RETURNING id, (extract(epoch FROM created_at) * 1000)::bigint INTO seq, at_ms;
	IF seq IS NULL THEN
		RAISE EXCEPTION 'sb_ingest: % % was stored concurrently', p_source, p_external_id
			USING ERRCODE = 'serialization_failure';
	END IF;

	IF opened <> '' THEN
		route := true;
		INSERT INTO conversation_events (conversation_id, kind, queue_id, detail)
		VALUES (sb_ingest.conversation_id, 'conversation.' || opened, sb_ingest.queue_id,
		        jsonb_build_object('channel', p_channel, 'source', p_source, 'message', seq,
		                           'match', match, 'candidates', to_jsonb(candidates))
		        || CASE WHEN follows IS NOT NULL
		                THEN jsonb_build_object('follows', follows) ELSE '{}' END);
	END IF;
	IF follows IS NOT NULL THEN
		UPDATE conversation_threads t SET conversation_id = sb_ingest.conversation_id
		 WHERE t.conversation_id = follows AND t.channel = p_channel;
	END IF;
	IF jsonb_typeof(p_thread_add) = 'array' THEN
		INSERT INTO conversation_threads (channel, key, conversation_id)
		SELECT DISTINCT p_channel, k, sb_ingest.conversation_id
		  FROM jsonb_array_elements_text(p_thread_add) k
		ON CONFLICT DO NOTHING;
	END IF;
END;
$$;

-- ---------------------------------------------------------------------------
-- The web chat's functions keep only what is the chat's own
-- ---------------------------------------------------------------------------

-- chat.start (0011's version, same answers): the queue, the customer and
-- the conversation are the neutral functions above; the chat session and
-- its 'chat.started' event stay here.
CREATE OR REPLACE FUNCTION sb_chat_start(p_queue text, p_name text, p_email text, p_mobile text,
	p_token bytea, p_client uuid, p_page_url text, p_page_title text, p_lifetime_s integer,
	p_served boolean,
	OUT conversation_id bigint, OUT reference text, OUT queue_id bigint,
	OUT queued_ms bigint, OUT match text, OUT repeated boolean, OUT unserved boolean)
LANGUAGE plpgsql AS $$
DECLARE
	q record;
	cust record;
	cv record;
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
	SELECT * INTO q FROM sb_queue_for_channel(p_queue, 'chat');
	IF q.queue_id IS NULL THEN
		RETURN;
	END IF;
	IF p_served IS FALSE THEN
		unserved := true;
		RETURN;
	END IF;
	SELECT * INTO cust FROM sb_chat_customer(p_name, p_email, p_mobile);
	match := cust.match;
	SELECT * INTO cv FROM sb_conversation_open(cust.customer_id, 'chat', q.queue_id, '');
	conversation_id := cv.conversation_id;
	reference := cv.reference;
	queue_id := q.queue_id;
	queued_ms := cv.queued_ms;
	INSERT INTO chat_sessions (conversation_id, token_sha256, start_client_id, customer_match,
	                           match_candidates, email, mobile, page_url, page_title, expires_at)
	VALUES (conversation_id, p_token, p_client, cust.match, cust.candidates, lower(p_email),
	        p_mobile, coalesce(p_page_url, ''), coalesce(p_page_title, ''),
	        now() + make_interval(secs => p_lifetime_s));
	INSERT INTO conversation_events (conversation_id, kind, queue_id, detail)
	VALUES (conversation_id, 'chat.started', q.queue_id,
	        jsonb_build_object('match', cust.match, 'candidates', to_jsonb(cust.candidates),
	                           'page', coalesce(p_page_url, '')));
END;
$$;

-- message.leave, limited (0012's version, same answers): the limits, the
-- 'chat.left_message' event and the acknowledgement are the chat's; the
-- customer, conversation and message are ingest's (sb_ingest, so its
-- 'conversation.new' event is written too).
CREATE OR REPLACE FUNCTION sb_chat_leave_limited(p_queue text, p_name text, p_email text,
	p_mobile text, p_text text, p_client uuid, p_addr text, p_max_client integer,
	p_max_dest integer,
	OUT conversation_id bigint, OUT reference text, OUT queue_id bigint,
	OUT queued_ms bigint, OUT repeated boolean, OUT refused text)
LANGUAGE plpgsql AS $$
DECLARE
	q record;
	i record;
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
	SELECT * INTO q FROM sb_queue_for_channel(p_queue, 'chat');
	IF q.queue_id IS NULL THEN
		RETURN;
	END IF;
	refused := sb_chat_request_allowed('leave', p_addr, ARRAY[lower(p_email), p_mobile], NULL,
	                                   p_max_client, p_max_dest);
	IF refused IS NOT NULL THEN
		RETURN;
	END IF;
	SELECT * INTO i FROM sb_ingest('chat', 'chat', 'leave:' || p_client::text, p_name,
	        jsonb_build_array(jsonb_build_object('kind', 'email', 'value', lower(p_email)),
	                          jsonb_build_object('kind', 'phone', 'value', p_mobile)),
	        NULL, NULL, NULL, NULL, false, q.queue_id::text, 'Message left: ' || q.name, p_text,
	        jsonb_build_object('kind', 'left_message', 'reply_by',
	                           CASE WHEN p_email IS NOT NULL THEN 'email' ELSE 'sms' END,
	                           'email', lower(p_email), 'mobile', p_mobile));
	conversation_id := i.conversation_id;
	reference := i.reference;
	queue_id := i.queue_id;
	queued_ms := i.queued_ms;
	INSERT INTO conversation_events (conversation_id, kind, queue_id, detail)
	VALUES (conversation_id, 'chat.left_message', q.queue_id,
	        jsonb_build_object('match', i.match, 'candidates', to_jsonb(i.candidates),
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
