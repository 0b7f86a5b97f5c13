-- 0035: the SMS channel (issue 16; docs/sms.md): texts in through GOV.UK
-- Notify's and Twilio's webhooks, texts out through the outbox, delivery
-- receipts, and the STOP/START consent of each number.
--
-- Consent: an inbound STOP (STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) or
-- START (UNSTOP), alone in the text, marks the number's identity on the
-- customer record opted out (sms_opted_out_at, the keyword) or in again,
-- and is kept in sms_consent_events (the record's history of it). Nothing
-- non-essential is sent to an opted-out number: a desk reply queued for
-- one is recorded failed with the reason, which the desk shows.
--
-- Receipts: each provider callback is stored once in sms_receipts (its
-- provider, the message's provider id, the status): a replay or a retry is
-- a repeat with no second effect. The outbox row's receipt moves only
-- forwards (sb_sms_rank): a late 'sent' never overwrites 'delivered', and
-- the first final state (delivered or failed) stays. A receipt may arrive
-- before the send was recorded (Twilio calls back within milliseconds):
-- it waits in sms_receipts and is applied by sb_sms_sent.

ALTER TABLE customer_identities
	ADD COLUMN sms_opted_out_at timestamptz NULL,
	ADD COLUMN sms_opt_keyword text NULL,
	ADD CONSTRAINT customer_identities_sms_opt CHECK
		(kind = 'phone' OR (sms_opted_out_at IS NULL AND sms_opt_keyword IS NULL));

CREATE TABLE sms_consent_events (
	id          bigserial   PRIMARY KEY,
	phone       text        NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
	customer_id bigint      NULL REFERENCES customers (id) ON DELETE CASCADE,
	opted_out   boolean     NOT NULL,
	keyword     text        NOT NULL CHECK (length(keyword) BETWEEN 1 AND 20),
	message_id  bigint      NULL REFERENCES messages (id) ON DELETE SET NULL,
	created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_consent_events_customer_idx ON sms_consent_events (customer_id);

ALTER TABLE outbox
	ADD COLUMN receipt text NULL CHECK (receipt IN ('queued', 'sending', 'sent',
	           'delivered', 'read', 'failed')),
	ADD COLUMN receipt_detail text NULL CHECK (length(receipt_detail) <= 200),
	ADD COLUMN receipt_at timestamptz NULL;

CREATE TABLE sms_receipts (
	provider    text        NOT NULL CHECK (provider IN ('notify', 'twilio')),
	provider_id text        NOT NULL CHECK (length(provider_id) BETWEEN 1 AND 100),
	status      text        NOT NULL CHECK (length(status) BETWEEN 1 AND 40),
	detail      text        NULL CHECK (length(detail) <= 200),
	received_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (provider, provider_id, status)
);

-- A provider's status as ours: (receipt, rank); NULL for one we ignore
-- (an inbound message's own statuses).
CREATE FUNCTION sb_sms_receipt(p_status text, OUT receipt text, OUT rank integer)
LANGUAGE sql IMMUTABLE AS $$
	SELECT r.receipt, r.rank FROM (VALUES
		('accepted', 'queued', 1), ('scheduled', 'queued', 1), ('queued', 'queued', 1),
		('sending', 'sending', 2), ('created', 'sending', 2), ('pending', 'sending', 2),
		('sent', 'sent', 3),
		('delivered', 'delivered', 5), ('partially_delivered', 'delivered', 5),
		('read', 'read', 6),
		('undelivered', 'failed', 5), ('failed', 'failed', 5), ('canceled', 'failed', 5),
		('permanent-failure', 'failed', 5), ('temporary-failure', 'failed', 5),
		('technical-failure', 'failed', 5)) r(status, receipt, rank)
	 WHERE r.status = p_status;
$$;

CREATE FUNCTION sb_sms_rank(p_receipt text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p_receipt WHEN 'queued' THEN 1 WHEN 'sending' THEN 2 WHEN 'sent' THEN 3
	       WHEN 'delivered' THEN 5 WHEN 'failed' THEN 5 WHEN 'read' THEN 6 ELSE 0 END;
$$;

-- Applies receipt (with its detail) to outbox row p_id when it moves the
-- row forwards: a final state is never replaced, but 'read' after
-- 'delivered'. Returns true when it changed the row.
CREATE FUNCTION sb_sms_apply(p_id bigint, p_status text, p_detail text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	r record;
	n integer;
BEGIN
	SELECT * INTO r FROM sb_sms_receipt(p_status);
	IF r.receipt IS NULL THEN
		RETURN false;
	END IF;
	UPDATE outbox SET receipt = r.receipt, receipt_detail = left(p_detail, 200),
	       receipt_at = now()
	 WHERE id = p_id
	   AND sb_sms_rank(receipt) < r.rank
	   AND NOT (coalesce(receipt, '') = 'failed' AND r.receipt = 'read');
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n > 0;
END;
$$;

-- A batch of receipts (arrays, one element each): stored once, applied to
-- their outbox rows. Notify's carry our reference ("sb-<outbox id>") and
-- its id; Twilio's the MessageSid we recorded at sending. Columns: n (the
-- 1-based position), repeat (stored before: no effect), changed (the row's
-- receipt moved), conversation, message, receipt, detail, destination.
CREATE FUNCTION sb_sms_receipts(p_provider text[], p_provider_id text[],
	p_reference text[], p_status text[], p_detail text[])
RETURNS TABLE (n integer, repeat boolean, changed boolean, conversation bigint,
	message bigint, receipt text, detail text, destination text)
LANGUAGE plpgsql AS $$
DECLARE
	i integer;
	o outbox;
	took integer;
BEGIN
	FOR i IN 1 .. coalesce(array_length(p_provider, 1), 0) LOOP
		n := i;
		conversation := NULL; message := NULL; receipt := NULL; detail := NULL;
		destination := NULL; changed := false;
		INSERT INTO sms_receipts (provider, provider_id, status, detail)
		VALUES (p_provider[i], p_provider_id[i], p_status[i], left(p_detail[i], 200))
		ON CONFLICT DO NOTHING;
		GET DIAGNOSTICS took = ROW_COUNT;
		repeat := took = 0;
		o := NULL;
		IF NOT repeat THEN
			SELECT * INTO o FROM outbox x
			 WHERE x.channel = 'sms'
			   AND (x.provider_id = p_provider_id[i]
			        OR x.id = CASE WHEN p_reference[i] ~ '^sb-[0-9]{1,18}$'
			                       THEN substr(p_reference[i], 4)::bigint END)
			 ORDER BY x.id LIMIT 1;
			IF o.id IS NOT NULL THEN
				changed := sb_sms_apply(o.id, p_status[i], p_detail[i]);
				SELECT x.receipt, x.receipt_detail INTO receipt, detail
				  FROM outbox x WHERE x.id = o.id;
				conversation := o.conversation_id;
				message := o.message_id;
				destination := o.destination;
			END IF;
		END IF;
		RETURN NEXT;
	END LOOP;
END;
$$;

-- The provider took outbox row p_id (claimed under attempt p_attempt):
-- sb_outbox_sent, and the receipts that came before it was recorded.
-- Returns sb_outbox_sent's answer.
CREATE FUNCTION sb_sms_sent(p_id bigint, p_attempt integer, p_provider text,
	p_provider_id text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	ok boolean;
	r record;
BEGIN
	ok := sb_outbox_sent(p_id, p_attempt, p_provider_id);
	IF ok THEN
		PERFORM sb_sms_apply(p_id, 'accepted', NULL);
		FOR r IN SELECT s.status, s.detail FROM sms_receipts s
		          WHERE s.provider = p_provider AND s.provider_id = p_provider_id
		          ORDER BY s.received_at LOOP
			PERFORM sb_sms_apply(p_id, r.status, r.detail);
		END LOOP;
	END IF;
	RETURN ok;
END;
$$;

-- The consent keywords (providers.md, "Opt-out"): the whole text, any case,
-- surrounding white space and a final full stop aside. 'stop', 'start' or
-- NULL.
CREATE FUNCTION sb_sms_keyword(p_text text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN k IN ('STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT') THEN 'stop'
	            WHEN k IN ('START', 'UNSTOP') THEN 'start' END
	  FROM (SELECT upper(regexp_replace(coalesce(p_text, ''), '^\s+|[\s.!]+$', '', 'g')) AS k) x;
$$;

-- The sms.inbound hook (gateway/core/ingest.h, "Hooks"): a text was
-- stored. p_data: phone (E.164 or null), text. A keyword (sb_sms_keyword) records the consent
-- change once (a repeat records nothing). Answers {"opted_out": bool}, the
-- number's state after.
CREATE FUNCTION sb_sms_inbound(p_result jsonb, p_data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	phone text := p_data->>'phone';
	kw text := sb_sms_keyword(p_data->>'text');
	cust bigint := (p_result->>'customer_id')::bigint;
	out_at timestamptz;
BEGIN
	IF phone IS NULL THEN
		RETURN jsonb_build_object('opted_out', false);
	END IF;
	IF kw IS NOT NULL AND NOT coalesce((p_result->>'repeated')::boolean, false) THEN
		UPDATE customer_identities
		   SET sms_opted_out_at = CASE WHEN kw = 'stop' THEN coalesce(sms_opted_out_at, now()) END,
		       sms_opt_keyword = CASE WHEN kw = 'stop' THEN upper(btrim(p_data->>'text')) END
		 WHERE kind = 'phone' AND value = phone;
		INSERT INTO sms_consent_events (phone, customer_id, opted_out, keyword, message_id)
		VALUES (phone, cust, kw = 'stop', left(upper(btrim(coalesce(p_data->>'text', kw))), 20),
		        (p_result->>'seq')::bigint);
	END IF;
	SELECT sms_opted_out_at INTO out_at FROM customer_identities
	 WHERE kind = 'phone' AND value = phone;
	RETURN jsonb_build_object('opted_out', out_at IS NOT NULL);
END;
$$;
INSERT INTO ingest_hooks (name, fn) VALUES ('sms.inbound', 'sb_sms_inbound');

-- Where a desk reply on conversation p_conv goes by text:
-- {"phone", "sender"} or {"why"}. An SMS conversation: the number of the
-- resident's newest text, by the sender it came to. A message left in the
-- web chat asking for a reply by text: the mobile given with it (the
-- default sender: "sender" absent). Refused for an opted-out number.
CREATE FUNCTION sb_sms_reply_target(p_conv bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	c conversations;
	first_msg messages;
	last_in messages;
	phone text;
	snd text;
	opted timestamptz;
BEGIN
	SELECT * INTO c FROM conversations WHERE id = p_conv;
	IF NOT FOUND THEN
		RETURN jsonb_build_object('why', 'no such conversation');
	END IF;
	SELECT * INTO first_msg FROM messages m WHERE m.conversation_id = p_conv
	 ORDER BY m.id LIMIT 1;
	IF first_msg.metadata->>'kind' = 'left_message' THEN
		IF first_msg.metadata->>'reply_by' IS DISTINCT FROM 'sms' THEN
			RETURN jsonb_build_object('why', 'the resident asked for a reply by email');
		END IF;
		phone := first_msg.metadata->>'mobile';
	ELSIF c.channel = 'sms' THEN
		SELECT * INTO last_in FROM messages m
		 WHERE m.conversation_id = p_conv AND m.direction = 'in' AND m.metadata ? 'sms'
		 ORDER BY m.id DESC LIMIT 1;
		IF NOT FOUND THEN
			RETURN jsonb_build_object('why', 'no text from the resident to answer');
		END IF;
		phone := last_in.metadata->'sms'->>'from';
		snd := last_in.metadata->'sms'->>'sender';
	ELSE
		RETURN jsonb_build_object('why', 'not an SMS conversation');
	END IF;
	IF phone IS NULL OR phone !~ '^\+[1-9][0-9]{6,14}$' THEN
		RETURN jsonb_build_object('why', 'the resident''s number is withheld or not a mobile number');
	END IF;
	SELECT i.sms_opted_out_at INTO opted FROM customer_identities i
	 WHERE i.kind = 'phone' AND i.value = phone;
	-- However many advisors answer, one number gets at most 20 texts an
	-- hour from the desk: a mistaken or abused account cannot flood a
	-- resident's phone.
	IF (SELECT count(*) FROM outbox o
	     WHERE o.channel = 'sms' AND o.destination = phone
	       AND o.created_at > now() - interval '1 hour' AND o.status <> 'failed') >= 20 THEN
		RETURN jsonb_build_object('why', '20 texts have gone to this number in the last hour,'
		       ' the most allowed: wait, or call the resident', 'phone', phone);
	END IF;
	IF opted IS NOT NULL THEN
		RETURN jsonb_build_object('why', 'the resident opted out of texts (they sent STOP on '
		       || to_char(opted AT TIME ZONE 'Europe/London', 'FMDD Mon YYYY') || ')',
		       'phone', phone);
	END IF;
	RETURN jsonb_strip_nulls(jsonb_build_object('phone', phone, 'sender', snd));
END;
$$;

CREATE INDEX outbox_sms_destination_idx ON outbox (destination, created_at)
	WHERE channel = 'sms';

CREATE FUNCTION sb_sms_reply_queue() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	t jsonb;
BEGIN
	IF (SELECT channel FROM conversations WHERE id = NEW.conversation_id) <> 'sms'
	   AND NOT EXISTS (SELECT 1 FROM (SELECT m.metadata FROM messages m
	                                   WHERE m.conversation_id = NEW.conversation_id
	                                   ORDER BY m.id LIMIT 1) f
	                    WHERE f.metadata->>'kind' = 'left_message'
	                      AND f.metadata->>'reply_by' = 'sms') THEN
		RETURN NULL;
	END IF;
	t := sb_sms_reply_target(NEW.conversation_id);
	INSERT INTO outbox (conversation_id, message_id, channel, destination, payload, status,
	                    last_error, dedupe_key)
	VALUES (NEW.conversation_id, NEW.id, 'sms', coalesce(t->>'phone', 'nobody'),
	        jsonb_strip_nulls(jsonb_build_object('kind', 'sms.reply', 'text', NEW.body,
	                                             'sender', t->>'sender')),
	        CASE WHEN t ? 'why' THEN 'failed' ELSE 'pending' END,
	        CASE WHEN t ? 'why' THEN 'not sent: ' || (t->>'why') END,
	        'sms.reply:' || NEW.id)
	ON CONFLICT (dedupe_key) DO NOTHING;
	RETURN NULL;
END;
$$;

CREATE TRIGGER messages_sms_reply AFTER INSERT ON messages FOR EACH ROW
	WHEN (NEW.direction = 'out' AND NEW.author_kind = 'staff')
	EXECUTE FUNCTION sb_sms_reply_queue();
