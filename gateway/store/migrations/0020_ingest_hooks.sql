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
