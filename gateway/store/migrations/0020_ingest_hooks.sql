-- Switchboard schema 0020: a channel's own rows in ingest's transaction
-- (issue 14 item 7; gateway/core/ingest.h, "Hooks").
--
-- A channel sometimes writes rows of its own with an inbound message, and
-- they must commit or fail with it: a left web chat message has its
-- limits, its 'chat.left_message' event and its acknowledgement email.
-- A hook is an SQL function the channel names (ingest_msg.hook), called by
-- sb_ingest_hooked after sb_ingest took the message:
--
--   fn(p_result jsonb, p_data jsonb) RETURNS jsonb
--
-- p_result is sb_ingest's result as a JSON object (its column names);
-- p_data the channel's (ingest_msg.hook_data); what it returns is handed
-- back to the channel (ingest_result.hook). A hook may refuse the message:
-- RAISE with SQLSTATE 'SB001' and a short code as its message; everything
-- the message wrote is then undone (a subtransaction) and the channel is
-- told INGEST_REFUSED with that code. A hook is called for a repeat too
-- (p_result's repeated is true): it decides what a repeat means to it.
--
-- Hooks are registered by name in ingest_hooks, so the name a channel
-- gives is never used as SQL.

CREATE TABLE ingest_hooks (
	name text    PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_.]{0,62}$'),
	fn   regproc NOT NULL
);

-- sb_ingest (0016), then the hook named p_hook (NULL: none), in one
-- subtransaction when there is a hook. Columns: sb_ingest's, and hook (the
-- hook's answer). refused is also 'unknown_hook', or a hook's own code.
CREATE FUNCTION sb_ingest_hooked(p_hook text, p_hook_data jsonb, p_channel text,
	p_source text, p_external_id text, p_name text, p_identities jsonb,
	p_conversation bigint, p_thread_find jsonb, p_thread_add jsonb, p_reference text,
	p_open_on_channel boolean, p_queue text, p_subject text, p_body text,
	p_metadata jsonb,
	OUT conversation_id bigint, OUT reference text, OUT seq bigint, OUT at_ms bigint,
	OUT customer_id bigint, OUT match text, OUT candidates bigint[], OUT opened text,
	OUT repeated boolean, OUT route boolean, OUT queue_id bigint, OUT channel text,
	OUT queued_ms bigint, OUT priority integer, OUT stored_body text,
	OUT stored_metadata jsonb, OUT refused text, OUT hook jsonb)
LANGUAGE plpgsql AS $$
DECLARE
	i record;
	fn regproc;
BEGIN
	IF p_hook IS NULL THEN
		SELECT * INTO i FROM sb_ingest(p_channel, p_source, p_external_id, p_name,
		        p_identities, p_conversation, p_thread_find, p_thread_add, p_reference,
		        p_open_on_channel, p_queue, p_subject, p_body, p_metadata);
	ELSE
		SELECT h.fn INTO fn FROM ingest_hooks h WHERE h.name = p_hook;
		IF fn IS NULL THEN
			refused := 'unknown_hook';
			RETURN;
		END IF;
		BEGIN
			SELECT * INTO i FROM sb_ingest(p_channel, p_source, p_external_id, p_name,
			        p_identities, p_conversation, p_thread_find, p_thread_add,
			        p_reference, p_open_on_channel, p_queue, p_subject, p_body,
			        p_metadata);
			IF i.refused IS NULL THEN
				EXECUTE format('SELECT %s($1, $2)', fn) INTO hook
				  USING to_jsonb(i), coalesce(p_hook_data, '{}'::jsonb);
			END IF;
		EXCEPTION WHEN SQLSTATE 'SB001' THEN
			refused := left(SQLERRM, 64);
			hook := NULL;
			RETURN;
		END;
	END IF;
	conversation_id := i.conversation_id;
	reference := i.reference;
	seq := i.seq;
	at_ms := i.at_ms;
	customer_id := i.customer_id;
	match := i.match;
	candidates := i.candidates;
	opened := i.opened;
	repeated := i.repeated;
	route := i.route;
	queue_id := i.queue_id;
	channel := i.channel;
	queued_ms := i.queued_ms;
	priority := i.priority;
	stored_body := i.stored_body;
	stored_metadata := i.stored_metadata;
	refused := i.refused;
END;
$$;

-- ---------------------------------------------------------------------------
-- The web chat's hooks
-- ---------------------------------------------------------------------------

-- message.leave (was sb_chat_leave_limited, 0016, which stays for older
-- binaries): ingest stores the customer, conversation and message; this
-- adds what is the chat's: the limits (refused 'client' or 'destination',
-- nothing stored), the subject, the 'chat.left_message' event and the
-- acknowledgement email (never the resident's text). A repeat adds
-- nothing. p_data: email, mobile (normalised, or null), addr (the
-- client's address), max_client, max_dest.
CREATE FUNCTION sb_chat_left(p_result jsonb, p_data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	conv bigint := (p_result->>'conversation_id')::bigint;
	ref text := p_result->>'reference';
	q_id bigint := (p_result->>'queue_id')::bigint;
	email text := p_data->>'email';
	mobile text := p_data->>'mobile';
	qname text;
	why text;
BEGIN
	IF (p_result->>'repeated')::boolean THEN
		RETURN '{}';
	END IF;
	why := sb_chat_request_allowed('leave', p_data->>'addr', ARRAY[email, mobile], NULL,
	                               (p_data->>'max_client')::integer,
	                               (p_data->>'max_dest')::integer);
	IF why IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SB001', MESSAGE = why;
	END IF;
	SELECT q.name INTO qname FROM queues q WHERE q.id = q_id;
	UPDATE conversations cv SET subject = 'Message left: ' || qname WHERE cv.id = conv;
	INSERT INTO conversation_events (conversation_id, kind, queue_id, detail)
	VALUES (conv, 'chat.left_message', q_id,
	        jsonb_build_object('match', p_result->>'match',
	                           'candidates', coalesce(p_result->'candidates', '[]'),
	                           'email', email, 'mobile', mobile));
	IF email IS NOT NULL THEN
		INSERT INTO outbox (conversation_id, channel, destination, payload, dedupe_key)
		VALUES (conv, 'email', email,
		        jsonb_build_object('kind', 'chat.left_message.ack',
		          'subject', 'We have your message – reference ' || ref,
		          'text', sb_chat_left_ack_text(ref, qname),
		          'reference', ref),
		        'chat.left_message.ack:' || conv);
	END IF;
	RETURN '{}';
END;
$$;

INSERT INTO ingest_hooks (name, fn) VALUES ('chat.leave', 'sb_chat_left');

-- ---------------------------------------------------------------------------
-- A contact with no message yet
-- ---------------------------------------------------------------------------

-- sb_ingest (0016), the same but for p_body NULL: a contact that opens or
-- finds its conversation before anyone has said anything (a web chat
-- started, a call ringing). Steps 2 and 3 are as for a message; no message
-- is inserted (seq and at_ms NULL) and the conversation event's message is
-- null. Such a contact has no (source, external_id) row to be found again
-- by: the channel gives its contact's own id as a thread key to find and
-- to add, so a repeat finds the conversation (opened ''). Every caller
-- before this one passed a body (ingest.c passes '' for none).
CREATE OR REPLACE FUNCTION sb_ingest(p_channel text, p_source text, p_external_id text, p_name text,
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

	-- 1. A repeat: the stored message and nothing else (a contact with no
	-- message is found again by its thread key, in 2).
	IF p_body IS NOT NULL THEN
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

	IF p_body IS NOT NULL THEN
	INSERT INTO messages (conversation_id, direction, author_kind, body, metadata, source,
	                      external_id)
	VALUES (sb_ingest.conversation_id, 'in', 'customer', p_body,
	        coalesce(p_metadata, '{}'), p_source, p_external_id)
	ON CONFLICT (source, external_id) DO NOTHING
	RETURNING id, (extract(epoch FROM created_at) * 1000)::bigint INTO seq, at_ms;
	IF seq IS NULL THEN
		RAISE EXCEPTION 'sb_ingest: % % was stored concurrently', p_source, p_external_id
			USING ERRCODE = 'serialization_failure';
	END IF;
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

-- chat.start (was sb_chat_start, 0016, which stays for older binaries):
-- ingest finds or opens the conversation with no message (its thread key
-- 'start:<client id>' finds the same start again) and resolves the
-- customer; this writes what is the chat's: the session with its token
-- hash, page and contact details, and the 'chat.started' event. The same
-- start again gets a new token on its live session (answer: repeated, and
-- the match the session was started with). Refused, nothing written:
-- 'unserved' (p_data served false: nobody serves the queue now) and
-- 'ended' (the start's chat is over: its conversation was found ended).
-- p_data: token (SHA-256, hex), client, email, mobile, url, title,
-- lifetime (seconds), served (true, false or null: unknown).
CREATE FUNCTION sb_chat_started(p_result jsonb, p_data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	conv bigint := (p_result->>'conversation_id')::bigint;
	opened text := p_result->>'opened';
	m text;
BEGIN
	IF opened = '' THEN
		UPDATE chat_sessions s SET token_sha256 = decode(p_data->>'token', 'hex')
		 WHERE s.conversation_id = conv AND s.ended_at IS NULL
		RETURNING s.customer_match INTO m;
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'SB001', MESSAGE = 'ended';
		END IF;
		RETURN jsonb_build_object('repeated', true, 'match', m);
	END IF;
	IF opened <> 'new' THEN
		RAISE EXCEPTION USING ERRCODE = 'SB001', MESSAGE = 'ended';
	END IF;
	IF p_data->>'served' = 'false' THEN
		RAISE EXCEPTION USING ERRCODE = 'SB001', MESSAGE = 'unserved';
	END IF;
	INSERT INTO chat_sessions (conversation_id, token_sha256, start_client_id, customer_match,
	                           match_candidates, email, mobile, page_url, page_title, expires_at)
	VALUES (conv, decode(p_data->>'token', 'hex'), (p_data->>'client')::uuid,
	        p_result->>'match',
	        ARRAY(SELECT x::bigint FROM jsonb_array_elements_text(
	                coalesce(p_result->'candidates', '[]')) x),
	        p_data->>'email', p_data->>'mobile', coalesce(p_data->>'url', ''),
	        coalesce(p_data->>'title', ''),
	        now() + make_interval(secs => (p_data->>'lifetime')::integer));
	INSERT INTO conversation_events (conversation_id, kind, queue_id, detail)
	VALUES (conv, 'chat.started', (p_result->>'queue_id')::bigint,
	        jsonb_build_object('match', p_result->>'match',
	                           'candidates', coalesce(p_result->'candidates', '[]'),
	                           'page', coalesce(p_data->>'url', '')));
	RETURN jsonb_build_object('repeated', false, 'match', p_result->>'match');
END;
$$;

INSERT INTO ingest_hooks (name, fn) VALUES ('chat.start', 'sb_chat_started');
