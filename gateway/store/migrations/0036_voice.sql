-- 0036: calls from the council's phone system (issue 16, "Voice events";
-- docs/voice.md): each call's events applied in order, the call on a
-- 'voice' conversation on the caller's record, screen pop, capacity while
-- a call is live, missed calls as callback work with a deadline.
--
-- voice_calls    one row per call (its id that survives transfers: Twilio's
--                ParentCallSid or CallSid, the CTI parent_call_id or call_id),
--                its state (new, ringing, answered, ended; never back), the
--                advisor who answered, the conversation it is on.
-- voice_legs     one row per leg: the last SequenceNumber (Twilio) or event
--                time (CTI) applied, and whether it ended: an older or
--                duplicate event, and anything after a leg's hangup, is not
--                applied (a terminal state is never re-opened).
-- voice_events   every event's idempotency key, once: a retry or a replay has
--                no second effect.
-- voice_callbacks a missed call's callback attempts: due, outcome, next try.
--
-- The conversation of a call is created at its first event, status 'open'
-- (not routed: the phone system rings the advisors). When an advisor
-- answers, the daemon hands it to the router as theirs (route_seize: it
-- counts against their voice capacity, and the blending rules keep chats
-- from them until the call and its wrap-up end); if their desk is not
-- signed in it stays 'open', theirs, unrouted. An inbound call that ends
-- unanswered waits in the callback queue with a deadline (due_at), routed
-- like any other conversation.

ALTER TABLE staff_users
	ADD COLUMN phone_extension text NULL UNIQUE
		CHECK (phone_extension ~ '^[A-Za-z0-9_.@+-]{1,64}$');

ALTER TABLE conversations ADD COLUMN due_at timestamptz NULL;

CREATE TABLE voice_calls (
	id              bigserial   PRIMARY KEY,
	call_key        text        NOT NULL UNIQUE CHECK (length(call_key) BETWEEN 3 AND 200),
	provider        text        NOT NULL CHECK (provider IN ('twilio', 'cti')),
	direction       text        NOT NULL CHECK (direction IN ('inbound', 'outbound')),
	caller          text        NULL CHECK (caller ~ '^\+[1-9][0-9]{6,14}$'),
	caller_raw      text        NOT NULL DEFAULT '' CHECK (length(caller_raw) <= 64),
	withheld        boolean     NOT NULL DEFAULT false,
	called          text        NOT NULL DEFAULT '' CHECK (length(called) <= 128),
	customer_id     bigint      NOT NULL REFERENCES customers (id),
	conversation_id bigint      NOT NULL REFERENCES conversations (id),
	state           text        NOT NULL DEFAULT 'new'
	                            CHECK (state IN ('new', 'ringing', 'answered', 'ended')),
	cause           text        NULL CHECK (length(cause) <= 40),
	extension       text        NULL CHECK (length(extension) <= 64),
	answered_by     bigint      NULL REFERENCES staff_users (id),
	phone_queue     text        NULL CHECK (length(phone_queue) <= 64),
	recording_url   text        NULL CHECK (length(recording_url) <= 1024),
	started_at      timestamptz NOT NULL,
	ringing_at      timestamptz NULL,
	answered_at     timestamptz NULL,
	ended_at        timestamptz NULL,
	duration_s      integer     NULL CHECK (duration_s >= 0),
	updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX voice_calls_conversation_idx ON voice_calls (conversation_id);

CREATE TABLE voice_legs (
	leg_key  text        PRIMARY KEY CHECK (length(leg_key) BETWEEN 3 AND 200),
	call_id  bigint      NOT NULL REFERENCES voice_calls (id) ON DELETE CASCADE,
	last_seq bigint      NOT NULL DEFAULT -1,
	last_at  timestamptz NULL,
	ended    boolean     NOT NULL DEFAULT false
);

CREATE TABLE voice_events (
	event_key   text        PRIMARY KEY CHECK (length(event_key) BETWEEN 3 AND 400),
	call_id     bigint      NULL REFERENCES voice_calls (id) ON DELETE CASCADE,
	kind        text        NOT NULL,
	applied     boolean     NOT NULL,
	received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE voice_callbacks (
	id              bigserial   PRIMARY KEY,
	conversation_id bigint      NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	call_id         bigint      NULL REFERENCES voice_calls (id) ON DELETE SET NULL,
	attempt         integer     NOT NULL CHECK (attempt >= 1),
	not_before      timestamptz NOT NULL,
	due_at          timestamptz NOT NULL,
	status          text        NOT NULL CHECK (status IN ('scheduled', 'queued', 'done')),
	outcome         text        NULL CHECK (outcome IN ('reached', 'no_answer', 'message_left')),
	outcome_by      bigint      NULL REFERENCES staff_users (id),
	outcome_at      timestamptz NULL,
	note            text        NULL CHECK (length(note) <= 2000),
	created_at      timestamptz NOT NULL DEFAULT now(),
	UNIQUE (conversation_id, attempt)
);
CREATE INDEX voice_callbacks_scheduled_idx ON voice_callbacks (not_before)
	WHERE status = 'scheduled';

-- A number as people read it: +447700900123 -> 07700 900123; others as given.
CREATE FUNCTION sb_voice_number(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p ~ '^\+447[0-9]{9}$' THEN '0' || substr(p, 4, 4) || ' ' || substr(p, 8)
	            WHEN p ~ '^\+44[0-9]{9,10}$' THEN '0' || substr(p, 4)
	            ELSE p END;
$$;

CREATE FUNCTION sb_voice_duration(p integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p IS NULL THEN NULL
	            WHEN p < 60 THEN p || ' s'
	            ELSE (p / 60) || ' min ' || (p % 60) || ' s' END;
$$;

-- Why a call ended, as people say it.
CREATE FUNCTION sb_voice_cause_text(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p WHEN 'normalClearing' THEN 'the caller hung up'
	              WHEN 'busy' THEN 'busy' WHEN 'cancel' THEN 'the caller hung up'
	              WHEN 'noAnswer' THEN 'no answer' WHEN 'congestion' THEN 'network busy'
	              WHEN 'notFound' THEN 'number not found' WHEN 'forwarded' THEN 'forwarded'
	              WHEN 'voicemail' THEN 'voicemail' WHEN 'failed' THEN 'the call failed'
	              ELSE 'no answer' END;
$$;

-- When a missed call must be called back by: callback_by_min (minutes
-- after midnight, London) today, or tomorrow once that has passed; else
-- callback_within_min minutes from now.
CREATE FUNCTION sb_voice_due(p jsonb) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN p ? 'callback_by_min' THEN
	         (SELECT CASE WHEN t > now() THEN t
	                      ELSE ((t AT TIME ZONE 'Europe/London') + interval '1 day')
	                           AT TIME ZONE 'Europe/London' END
	            FROM (SELECT (date_trunc('day', now() AT TIME ZONE 'Europe/London')
	                          + make_interval(mins => (p->>'callback_by_min')::integer))
	                         AT TIME ZONE 'Europe/London' AS t) x)
	       ELSE now() + make_interval(mins => coalesce((p->>'callback_within_min')::integer, 240))
	       END;
$$;

-- A system line on the call's conversation (its key: once per event).
CREATE FUNCTION sb_voice_line(p_conv bigint, p_key text, p_text text, p_meta jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	m messages;
BEGIN
	INSERT INTO messages (conversation_id, direction, author_kind, body, metadata, source,
	                      external_id)
	VALUES (p_conv, 'internal', 'system', p_text, jsonb_build_object('voice', p_meta),
	        'voice', p_key)
	ON CONFLICT (source, external_id) DO NOTHING
	RETURNING * INTO m;
	IF m.id IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN jsonb_build_object('seq', m.id, 'text', m.body,
	                          'at', (extract(epoch FROM m.created_at) * 1000)::bigint,
	                          'metadata', m.metadata);
END;
$$;

-- What the desk of the advisor a call rings shows (screen pop): the caller's
-- record, or that the number matches nobody (new caller) or is withheld,
-- and their open conversations. Cases are not built yet: an empty list.
CREATE FUNCTION sb_voice_pop(p_call voice_calls) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
		'call', p_call.id, 'conversation', p_call.conversation_id::text,
		'caller', p_call.caller, 'caller_display', CASE WHEN p_call.withheld THEN 'Withheld number'
		          ELSE coalesce(sb_voice_number(p_call.caller), nullif(p_call.caller_raw, ''),
		                        'Unknown number') END,
		'withheld', p_call.withheld, 'extension', p_call.extension,
		'phone_queue', p_call.phone_queue,
		'match', CASE WHEN p_call.withheld THEN 'withheld'
		              WHEN p_call.caller IS NULL THEN 'none'
		              WHEN EXISTS (SELECT 1 FROM conversations o
		                            WHERE o.customer_id = p_call.customer_id
		                              AND o.id <> p_call.conversation_id) THEN 'matched'
		              ELSE 'new' END,
		'customer', jsonb_build_object('id', cu.id, 'name', cu.display_name,
		            'vulnerable', cu.vulnerable,
		            'reasonable_adjustments', cu.reasonable_adjustments),
		'candidates', '[]'::jsonb,
		'open', coalesce((SELECT jsonb_agg(jsonb_build_object(
		            'conversation', o.id::text, 'reference', o.reference, 'channel', o.channel,
		            'subject', o.subject, 'status', o.status,
		            'at', (extract(epoch FROM o.created_at) * 1000)::bigint)
		            ORDER BY o.created_at DESC)
		          FROM (SELECT * FROM conversations o
		                 WHERE o.customer_id = p_call.customer_id
		                   AND o.id <> p_call.conversation_id AND o.status <> 'closed'
		                 ORDER BY o.created_at DESC LIMIT 10) o), '[]'::jsonb),
		'cases', '[]'::jsonb)
	  FROM customers cu WHERE cu.id = p_call.customer_id;
$$;

-- One call event (channels/voice/voice.c, from voice_event.h), applied.
-- p: provider, call_id, root_id, key, kind (newCall, ringing, answer,
-- hangup), direction, cause, caller (E.164 or null), caller_raw, withheld,
-- called, extension, phone_queue, recording_url, at_ms, sequence,
-- duration_s, queue (where answered calls are recorded), callback_queue,
-- callback_by_min or callback_within_min (sb_voice_due). Returns:
--   {"repeat": true}                     the event was applied before
--   {"call", "conversation", "customer", "state", "applied", "lines": [...],
--    "action": null | "pop" | "seize" | "end" | "callback" | "closed",
--    "staff" (rung, or who answered), "rang" (the advisor of the last
--    extension rung), "queue" (id), "pop" (for pop and seize), "since_ms",
--    "priority"}
CREATE FUNCTION sb_voice_event(p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	prov text := p->>'provider';
	ev_kind text := p->>'kind';
	ev_at timestamptz := to_timestamp((p->>'at_ms')::double precision / 1000);
	c voice_calls;
	l voice_legs;
	conv conversations;
	cust bigint;
	q_id bigint;
	cq_id bigint;
	staff bigint;
	sname text;
	took integer;
	action text;
	lines jsonb := '[]';
	line jsonb;
	did_apply boolean := true;
	who text;
	due timestamptz;
BEGIN
	INSERT INTO voice_events (event_key, kind, applied) VALUES (p->>'key', ev_kind, false)
	ON CONFLICT DO NOTHING;
	GET DIAGNOSTICS took = ROW_COUNT;
	IF took = 0 THEN
		RETURN jsonb_build_object('repeat', true);
	END IF;
	SELECT id INTO q_id FROM queues
	 WHERE slug = p->>'queue' OR id::text = p->>'queue' LIMIT 1;
	IF q_id IS NULL THEN
		RAISE EXCEPTION 'voice queue % does not exist', p->>'queue' USING ERRCODE = 'SB001';
	END IF;
	SELECT * INTO c FROM voice_calls WHERE call_key = prov || ':' || (p->>'root_id') FOR UPDATE;
	IF NOT FOUND THEN
		-- The caller's record: by number (one identity belongs to one
		-- customer); a withheld or unknown number matches nobody.
		IF p->>'caller' IS NOT NULL THEN
			SELECT customer_id INTO cust FROM customer_identities
			 WHERE kind = 'phone' AND value = p->>'caller';
		END IF;
		IF cust IS NULL THEN
			INSERT INTO customers DEFAULT VALUES RETURNING id INTO cust;
			IF p->>'caller' IS NOT NULL THEN
				INSERT INTO customer_identities (customer_id, kind, value)
				VALUES (cust, 'phone', p->>'caller');
			END IF;
		END IF;
		who := CASE WHEN (p->>'withheld')::boolean THEN 'a withheld number'
		            ELSE coalesce(sb_voice_number(p->>'caller'), nullif(p->>'caller_raw', ''),
		                          'an unknown number') END;
		INSERT INTO conversations (customer_id, channel, queue_id, status, subject)
		VALUES (cust, 'voice', q_id, 'open',
		        CASE WHEN p->>'direction' = 'outbound'
		             THEN 'Call to ' || coalesce(sb_voice_number(p->>'called'), 'a number')
		             ELSE 'Call from ' || who END)
		RETURNING * INTO conv;
		INSERT INTO voice_calls (call_key, provider, direction, caller, caller_raw, withheld,
		                         called, customer_id, conversation_id, started_at, phone_queue)
		VALUES (prov || ':' || (p->>'root_id'), prov, p->>'direction', p->>'caller',
		        coalesce(p->>'caller_raw', ''), coalesce((p->>'withheld')::boolean, false),
		        coalesce(p->>'called', ''), cust, conv.id, ev_at, p->>'phone_queue')
		RETURNING * INTO c;
		line := sb_voice_line(conv.id, 'call:' || c.id || ':start',
		        CASE WHEN c.direction = 'outbound' THEN 'Outgoing call to '
		             || coalesce(sb_voice_number(nullif(c.called, '')), 'a number')
		             ELSE 'Incoming call from ' || who END
		        || CASE WHEN c.phone_queue IS NOT NULL THEN ' (' || c.phone_queue || ')' ELSE '' END,
		        jsonb_build_object('event', 'start', 'call', c.id));
		lines := lines || coalesce(line, '[]'::jsonb);
	ELSE
		SELECT * INTO conv FROM conversations WHERE id = c.conversation_id;
	END IF;
	UPDATE voice_events SET call_id = c.id WHERE event_key = p->>'key';

	-- The leg: events in order, nothing after its end.
	INSERT INTO voice_legs (leg_key, call_id) VALUES (prov || ':' || (p->>'call_id'), c.id)
	ON CONFLICT DO NOTHING;
	SELECT * INTO l FROM voice_legs WHERE leg_key = prov || ':' || (p->>'call_id') FOR UPDATE;
	IF l.ended
	   OR (prov = 'twilio' AND (p->>'sequence')::bigint <= l.last_seq)
	   OR (prov = 'cti' AND l.last_at IS NOT NULL AND ev_at < l.last_at) THEN
		did_apply := false;
	ELSE
		UPDATE voice_legs SET last_seq = greatest(last_seq, coalesce((p->>'sequence')::bigint, -1)),
		       last_at = greatest(last_at, ev_at), ended = ev_kind = 'hangup'
		 WHERE leg_key = l.leg_key;
	END IF;
	UPDATE voice_events SET applied = did_apply WHERE event_key = p->>'key';
	IF NOT did_apply OR c.state = 'ended' THEN
		RETURN jsonb_build_object('call', c.id, 'conversation', c.conversation_id::text,
		        'customer', c.customer_id, 'state', c.state, 'applied', false,
		        'lines', lines);
	END IF;
	IF p->>'recording_url' IS NOT NULL THEN
		UPDATE voice_calls SET recording_url = p->>'recording_url' WHERE id = c.id;
		c.recording_url := p->>'recording_url';
	END IF;

	IF ev_kind = 'ringing' AND c.state IN ('new', 'ringing') THEN
		SELECT id INTO staff FROM staff_users
		 WHERE phone_extension = p->>'extension' AND NOT disabled;
		UPDATE voice_calls SET state = 'ringing', ringing_at = coalesce(ringing_at, ev_at),
		       extension = coalesce(p->>'extension', extension),
		       phone_queue = coalesce(p->>'phone_queue', phone_queue), updated_at = now()
		 WHERE id = c.id RETURNING * INTO c;
		IF staff IS NOT NULL THEN
			action := 'pop';
		END IF;
	ELSIF ev_kind = 'answer' AND c.state IN ('new', 'ringing') THEN
		-- Answered by an advisor: the extension of this event, or (CTI,
		-- one leg) the one that rang. An answer by the phone system
		-- itself (Twilio's call taken by its IVR) changes nothing.
		SELECT id, display_name INTO staff, sname FROM staff_users
		 WHERE phone_extension = coalesce(p->>'extension',
		                                  CASE WHEN prov = 'cti' THEN c.extension END)
		   AND NOT disabled;
		IF staff IS NOT NULL THEN
			UPDATE voice_calls SET state = 'answered', answered_at = ev_at, answered_by = staff,
			       extension = coalesce(p->>'extension', extension), updated_at = now()
			 WHERE id = c.id RETURNING * INTO c;
			UPDATE conversations SET assigned_staff_id = staff,
			       first_response_at = coalesce(first_response_at, now())
			 WHERE id = c.conversation_id;
			line := sb_voice_line(c.conversation_id, 'call:' || c.id || ':answered',
			        'Answered by ' || sname, jsonb_build_object('event', 'answer',
			        'call', c.id, 'staff', staff, 'extension', c.extension));
			lines := lines || coalesce(line, '[]'::jsonb);
			action := 'seize';
		END IF;
	ELSIF ev_kind = 'hangup' AND p->>'call_id' = p->>'root_id' THEN
		UPDATE voice_calls SET state = 'ended', ended_at = ev_at, cause = p->>'cause',
		       duration_s = coalesce((p->>'duration_s')::integer,
		                             CASE WHEN answered_at IS NOT NULL
		                                  THEN greatest(0, extract(epoch FROM ev_at - answered_at))::integer END),
		       updated_at = now()
		 WHERE id = c.id RETURNING * INTO c;
		SELECT * INTO conv FROM conversations WHERE id = c.conversation_id;
		IF c.answered_by IS NOT NULL THEN
			line := sb_voice_line(c.conversation_id, 'call:' || c.id || ':ended',
			        'Call ended after ' || coalesce(sb_voice_duration(c.duration_s), 'an unknown time')
			        || CASE WHEN c.recording_url IS NOT NULL THEN '. Recording: ' || c.recording_url ELSE '' END,
			        jsonb_build_object('event', 'hangup', 'call', c.id, 'cause', c.cause,
			                           'duration_s', c.duration_s, 'recording_url', c.recording_url));
			lines := lines || coalesce(line, '[]'::jsonb);
			IF conv.status = 'open' THEN
				-- Never routed (the advisor's desk was not signed in).
				UPDATE conversations SET status = 'closed' WHERE id = conv.id;
				action := 'closed';
			ELSE
				action := 'end';
			END IF;
		ELSIF c.direction = 'inbound' THEN
			-- Missed: no answer, abandoned in a queue, busy, voicemail.
			SELECT id INTO cq_id FROM queues
			 WHERE slug = p->>'callback_queue' OR id::text = p->>'callback_queue' LIMIT 1;
			due := sb_voice_due(p);
			line := sb_voice_line(c.conversation_id, 'call:' || c.id || ':missed',
			        CASE WHEN c.cause = 'voicemail' THEN 'Voicemail left'
			             ELSE 'Missed call (' || sb_voice_cause_text(c.cause) || ')' END
			        || CASE WHEN c.recording_url IS NOT NULL THEN '. Recording: ' || c.recording_url ELSE '' END
			        || CASE WHEN c.withheld OR c.caller IS NULL
			                THEN '. The number is withheld: no callback is possible.'
			                ELSE '. Call back by ' || to_char(due AT TIME ZONE 'Europe/London',
			                                                  'HH24:MI on FMDD Mon') || '.' END,
			        jsonb_build_object('event', 'missed', 'call', c.id, 'cause', c.cause,
			                           'recording_url', c.recording_url));
			lines := lines || coalesce(line, '[]'::jsonb);
			IF c.withheld OR c.caller IS NULL OR cq_id IS NULL THEN
				UPDATE conversations SET status = 'closed' WHERE id = conv.id;
				action := 'closed';
			ELSE
				UPDATE conversations SET status = 'waiting', queue_id = cq_id, queued_at = now(),
				       due_at = due, subject = CASE WHEN c.cause = 'voicemail'
				            THEN 'Voicemail from ' ELSE 'Missed call from ' END
				            || sb_voice_number(c.caller)
				 WHERE id = conv.id RETURNING * INTO conv;
				INSERT INTO voice_callbacks (conversation_id, call_id, attempt, not_before, due_at,
				                             status)
				VALUES (conv.id, c.id, 1, now(), due, 'queued');
				action := 'callback';
			END IF;
		ELSE
			line := sb_voice_line(c.conversation_id, 'call:' || c.id || ':unanswered',
			        'Not answered', jsonb_build_object('event', 'hangup', 'call', c.id,
			        'cause', c.cause));
			lines := lines || coalesce(line, '[]'::jsonb);
			UPDATE conversations SET status = 'closed' WHERE id = conv.id;
			action := 'closed';
		END IF;
	END IF;
	SELECT * INTO conv FROM conversations WHERE id = c.conversation_id;
	RETURN jsonb_strip_nulls(jsonb_build_object(
		'call', c.id, 'conversation', c.conversation_id::text, 'customer', c.customer_id,
		'state', c.state, 'applied', true, 'lines', lines, 'action', action,
		'staff', coalesce(staff, c.answered_by)::text, 'queue', conv.queue_id::text,
		'rang', (SELECT u.id FROM staff_users u WHERE u.phone_extension = c.extension)::text,
		'channel', 'voice', 'priority', conv.priority,
		'since_ms', (extract(epoch FROM coalesce(conv.queued_at, conv.created_at)) * 1000)::bigint,
		'pop', CASE WHEN action IN ('pop', 'seize') THEN sb_voice_pop(c) END));
END;
$$;

-- An advisor records a callback's outcome (voice.callback in the desk
-- protocol) on a conversation assigned to them ($2; '' for a supervisor).
-- p_retry_ms: when to try again (another attempt is scheduled, due
-- p_due_ms), or null. Returns {"ok", "line", "attempt"} or {"why"}.
CREATE FUNCTION sb_voice_callback_outcome(p_conv bigint, p_staff text, p_by bigint,
	p_outcome text, p_note text, p_retry_ms bigint, p_due_ms bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	conv conversations;
	cb voice_callbacks;
	line jsonb;
	sname text;
BEGIN
	SELECT * INTO conv FROM conversations WHERE id = p_conv FOR UPDATE;
	IF NOT FOUND OR conv.channel <> 'voice'
	   OR conv.status NOT IN ('assigned', 'wrap_up')
	   OR (p_staff <> '' AND conv.assigned_staff_id::text <> p_staff) THEN
		RETURN jsonb_build_object('why', 'forbidden');
	END IF;
	SELECT * INTO cb FROM voice_callbacks WHERE conversation_id = p_conv
	 ORDER BY attempt DESC LIMIT 1 FOR UPDATE;
	IF NOT FOUND OR cb.status = 'done' THEN
		RETURN jsonb_build_object('why', 'not_callback');
	END IF;
	SELECT display_name INTO sname FROM staff_users WHERE id = p_by;
	UPDATE voice_callbacks SET status = 'done', outcome = p_outcome, outcome_by = p_by,
	       outcome_at = now(), note = nullif(left(p_note, 2000), '')
	 WHERE id = cb.id;
	IF p_retry_ms IS NOT NULL AND p_outcome <> 'reached' THEN
		INSERT INTO voice_callbacks (conversation_id, call_id, attempt, not_before, due_at, status)
		VALUES (p_conv, cb.call_id, cb.attempt + 1, to_timestamp(p_retry_ms / 1000.0),
		        to_timestamp(greatest(p_due_ms, p_retry_ms) / 1000.0), 'scheduled');
	END IF;
	line := sb_voice_line(p_conv, 'callback:' || cb.id,
	        'Callback attempt ' || cb.attempt || ' by ' || coalesce(sname, 'an advisor') || ': '
	        || CASE p_outcome WHEN 'reached' THEN 'reached the resident'
	                          WHEN 'no_answer' THEN 'no answer'
	                          ELSE 'message left' END
	        || CASE WHEN nullif(p_note, '') IS NOT NULL THEN '. ' || left(p_note, 2000) ELSE '' END
	        || CASE WHEN p_retry_ms IS NOT NULL AND p_outcome <> 'reached'
	                THEN '. Next attempt from ' || to_char(to_timestamp(p_retry_ms / 1000.0)
	                     AT TIME ZONE 'Europe/London', 'HH24:MI on FMDD Mon') ELSE '' END,
	        jsonb_build_object('event', 'callback', 'attempt', cb.attempt, 'outcome', p_outcome,
	                           'retry_at', p_retry_ms));
	RETURN jsonb_build_object('ok', true, 'attempt', cb.attempt, 'line', line);
END;
$$;

-- Callbacks whose next attempt is due, once their conversation has been
-- wrapped up: waiting again in its queue (returned, for the router).
CREATE FUNCTION sb_voice_callbacks_due(p_limit integer)
RETURNS TABLE (conversation bigint, queue bigint, priority integer, since_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
	cb record;
BEGIN
	FOR cb IN SELECT v.* FROM voice_callbacks v JOIN conversations c ON c.id = v.conversation_id
	           WHERE v.status = 'scheduled' AND v.not_before <= now() AND c.status = 'closed'
	           ORDER BY v.not_before LIMIT p_limit FOR UPDATE OF v SKIP LOCKED LOOP
		UPDATE voice_callbacks SET status = 'queued' WHERE id = cb.id;
		UPDATE conversations SET status = 'waiting', assigned_staff_id = NULL,
		       queued_at = now(), due_at = cb.due_at
		 WHERE id = cb.conversation_id;
		PERFORM sb_voice_line(cb.conversation_id, 'callback:' || cb.id || ':queued',
		        'Callback attempt ' || cb.attempt || ' is due by '
		        || to_char(cb.due_at AT TIME ZONE 'Europe/London', 'HH24:MI on FMDD Mon'),
		        jsonb_build_object('event', 'callback_queued', 'attempt', cb.attempt));
		RETURN QUERY SELECT c.id, c.queue_id, c.priority,
		       (extract(epoch FROM c.queued_at) * 1000)::bigint
		  FROM conversations c WHERE c.id = cb.conversation_id;
	END LOOP;
END;
$$;
