-- 0030: delivery reports (DSNs, RFC 3464) recorded against the message
-- they answer (issue 15; docs/email.md, "Bounces").
--
-- Intake calls sb_email_bounce, instead of sb_email_record, for mail
-- the normaliser calls a delivery report. In one transaction it records the
-- mail once (kind 'bounce', the same cursor rule), finds the email outbox
-- row it answers, and on a permanent failure marks that row bounced and
-- the address bouncing on the customer record.
--
-- Anti-forgery: anyone can send us a mail that looks like a DSN. One
-- changes something only when it names a Message-ID we sent with (stored
-- in outbox.payload by the claim, 0028: 'sb.<row>.<a random UUID's
-- hex>@<domain>', without <>; nobody who did not see the message can
-- guess it) and a Final-Recipient that is the row's destination. Anything else is only
-- recorded. Original-Envelope-Id (RFC 3461 ENVID) is not used: the sender
-- sets none. VERP is not used either.
--
-- Nothing here clears a mark: a later successful send to the address
-- leaves bouncing_since as it is (an advisor will clear it; not built).

ALTER TABLE outbox
	ADD COLUMN bounced_at    timestamptz NULL,
	-- the DSN's permanent status code, e.g. '5.1.1'
	ADD COLUMN bounce_status text        NULL
		CHECK (bounce_status ~ '^5\.[0-9]{1,3}\.[0-9]{1,3}$'),
	-- its Diagnostic-Code, control characters as spaces, capped
	ADD COLUMN bounce_reason text        NULL CHECK (length(bounce_reason) <= 500),
	ADD CONSTRAINT outbox_bounce_pair CHECK ((bounced_at IS NULL) = (bounce_status IS NULL));

-- Delivery reports find the row they answer by the Message-ID it was sent
-- with.
CREATE INDEX outbox_email_message_id_idx ON outbox ((payload->>'message_id'))
	WHERE channel = 'email';

ALTER TABLE customer_identities
	ADD COLUMN bouncing_since timestamptz NULL,
	-- '<status>: <diagnostic>', capped
	ADD COLUMN bounce_reason  text        NULL CHECK (length(bounce_reason) <= 500),
	ADD CONSTRAINT customer_identities_bouncing_email CHECK
		(kind = 'email' OR (bouncing_since IS NULL AND bounce_reason IS NULL));

-- A delivery report's row names the outbox row it answers.
ALTER TABLE email_messages
	ADD COLUMN outbox_id bigint NULL REFERENCES outbox (id) ON DELETE SET NULL,
	ADD CONSTRAINT email_messages_outbox_bounce CHECK (kind = 'bounce' OR outbox_id IS NULL);
CREATE INDEX email_messages_outbox_idx ON email_messages (outbox_id)
	WHERE outbox_id IS NOT NULL;

-- A Final-Recipient as stored in outbox.destination: lower case, without
-- an 'rfc822;' type, spaces or <>.
CREATE FUNCTION sb_email_bounce_addr(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT nullif(lower(btrim(regexp_replace(p, '^\s*rfc822\s*;', '', 'i'), ' <>')), '');
$$;

-- Records the delivery report fetched as (p_mailbox, p_uidvalidity, p_uid),
-- after p_prev in the fetch, and acts on it. p_report: {"original_message_id":
-- the Message-ID of the returned message (with or without <>) or null,
-- "recipients": [{"final_recipient", "action", "status", "diagnostic_code"},
-- ...]}; anything else in it is ignored, and a malformed report is only
-- recorded. Answers {"last_uid": the cursor after, "matched": the outbox
-- row answered or null, "bouncing": [the addresses marked], "repeat":
-- whether this IMAP identity was recorded before}. A repeat changes
-- nothing and answers the row matched the first time, with no addresses.
--
-- A matched row (channel email, the Message-ID, a recipient that is its
-- destination) is linked whatever the report says; only a recipient with
-- Action 'failed' and a 5.x.x Status marks it bounced and its address
-- bouncing. 'delayed', 'delivered', 'relayed', 'expanded', and 'failed'
-- with a 4.x.x status (a server that gave up retrying, e.g. 4.4.7) are
-- recorded only. The first permanent report marks the row; the address is
-- marked by every one (bouncing_since kept, the reason the latest).
CREATE FUNCTION sb_email_bounce(p_mailbox text, p_uidvalidity bigint, p_uid bigint,
	p_prev bigint, p_rfc_message_id text, p_sha256 bytea, p_raw bytea, p_flags integer,
	p_report jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	rec bigint;
	cur bigint;
	mid text;
	recips jsonb;
	row_id bigint;
	dest text;
	code text;
	diag text;
	marked jsonb := '[]';
BEGIN
	INSERT INTO email_messages (mailbox, uidvalidity, uid, kind, rfc_message_id,
	                            raw_sha256, raw, parse_flags)
	VALUES (p_mailbox, p_uidvalidity, p_uid, 'bounce', p_rfc_message_id, p_sha256, p_raw,
	        coalesce(p_flags, 0))
	ON CONFLICT (mailbox, uidvalidity, uid) DO NOTHING
	RETURNING id INTO rec;
	cur := sb_email_advance(p_mailbox, p_uidvalidity, p_prev, p_uid);
	IF rec IS NULL THEN
		RETURN jsonb_build_object('last_uid', cur, 'matched',
		       (SELECT e.outbox_id FROM email_messages e
		         WHERE e.mailbox = p_mailbox AND e.uidvalidity = p_uidvalidity
		           AND e.uid = p_uid),
		       'bouncing', marked, 'repeat', true);
	END IF;

	IF jsonb_typeof(p_report) = 'object' THEN
		mid := nullif(btrim(p_report->>'original_message_id', ' <>'), '');
		recips := p_report->'recipients';
	END IF;
	IF mid IS NULL OR jsonb_typeof(recips) IS DISTINCT FROM 'array' THEN
		RETURN jsonb_build_object('last_uid', cur, 'matched', NULL, 'bouncing', marked,
		                          'repeat', false);
	END IF;

	SELECT o.id, lower(o.destination) INTO row_id, dest
	  FROM outbox o
	 WHERE o.channel = 'email' AND o.payload->>'message_id' = mid
	   AND EXISTS (SELECT 1 FROM jsonb_array_elements(recips) AS x
	                WHERE sb_email_bounce_addr(x->>'final_recipient') = lower(o.destination))
	 ORDER BY o.id LIMIT 1
	   FOR UPDATE OF o;
	IF row_id IS NULL THEN
		RETURN jsonb_build_object('last_uid', cur, 'matched', NULL, 'bouncing', marked,
		                          'repeat', false);
	END IF;
	UPDATE email_messages SET outbox_id = row_id WHERE id = rec;

	SELECT substring(x->>'status' FROM '^\s*(5\.[0-9]{1,3}\.[0-9]{1,3})(\s|$)'),
	       nullif(left(btrim(regexp_replace(x->>'diagnostic_code', '[[:cntrl:]]+', ' ', 'g')),
	                   500), '')
	  INTO code, diag
	  FROM jsonb_array_elements(recips) WITH ORDINALITY AS t(x, n)
	 WHERE sb_email_bounce_addr(x->>'final_recipient') = dest
	   AND lower(btrim(x->>'action')) = 'failed'
	   AND x->>'status' ~ '^\s*5\.[0-9]{1,3}\.[0-9]{1,3}(\s|$)'
	 ORDER BY n LIMIT 1;
	IF code IS NOT NULL THEN
		UPDATE outbox SET bounced_at = now(), bounce_status = code, bounce_reason = diag
		 WHERE id = row_id AND bounced_at IS NULL;
		WITH u AS (
			UPDATE customer_identities
			   SET bouncing_since = coalesce(bouncing_since, now()),
			       bounce_reason = left(code || coalesce(': ' || diag, ''), 500)
			 WHERE kind = 'email' AND value = dest
			RETURNING value)
		SELECT coalesce(jsonb_agg(value), '[]') INTO marked FROM u;
	END IF;
	RETURN jsonb_build_object('last_uid', cur, 'matched', row_id, 'bouncing', marked,
	                          'repeat', false);
END;
$$;
