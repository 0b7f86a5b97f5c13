-- 0024: email intake's rows (issue 15; docs/email.md, "What intake commits").
--
-- A mailbox's cursor, and every message taken from it: its IMAP identity
-- (mailbox, UIDVALIDITY, UID), its raw source and what the parser said,
-- committed in the same transaction as the message it became (the ingest
-- hook email.import) or, for mail that becomes no message (a bounce, a
-- duplicate found after a UIDVALIDITY change), on its own with the same
-- cursor rule (sb_email_record).
--
-- The cursor only moves along the chain of UIDs the channel fetched: a
-- row says which UID came before it in the channel's fetch (prev_uid), and
-- moves last_uid from prev_uid to its own UID only when last_uid is still
-- prev_uid. A message whose commit failed (and is tried again later) so
-- holds the cursor below it, even if later UIDs committed first: they are
-- fetched again and found stored (their hook runs for the repeat and moves
-- the cursor then). Nothing is skipped, and nothing is imported twice
-- (email_messages is unique on the IMAP identity, messages on (source,
-- external_id)).

CREATE TABLE email_mailboxes (
	name        text        PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
	uidvalidity bigint      NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),
	last_uid    bigint      NOT NULL DEFAULT 0 CHECK (last_uid BETWEEN 0 AND 4294967295),
	updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE email_messages (
	id             bigserial   PRIMARY KEY,
	mailbox        text        NOT NULL,
	uidvalidity    bigint      NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),
	uid            bigint      NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
	-- what it became: a message of a conversation, or only this row
	kind           text        NOT NULL CHECK (kind IN ('message', 'bounce', 'duplicate',
	                                                    'ignored')),
	message_id     bigint      NULL REFERENCES messages (id) ON DELETE SET NULL,
	rfc_message_id text        NULL CHECK (length(rfc_message_id) <= 998),
	raw_sha256     bytea       NOT NULL CHECK (length(raw_sha256) = 32),
	raw            bytea       NOT NULL,
	parse_flags    integer     NOT NULL DEFAULT 0,
	imported_at    timestamptz NOT NULL DEFAULT now(),
	UNIQUE (mailbox, uidvalidity, uid),
	-- only a message has one (and loses it if the message is erased)
	CHECK (kind = 'message' OR message_id IS NULL)
);
-- After a UIDVALIDITY change: the same mail seen before, by Message-ID and
-- the hash of its raw source (a Message-ID alone is reused by senders).
CREATE INDEX email_messages_seen_idx ON email_messages (mailbox, raw_sha256);
CREATE INDEX email_messages_message_idx ON email_messages (message_id)
	WHERE message_id IS NOT NULL;

-- Moves mailbox's cursor from p_prev to p_uid, if it is still at p_prev
-- and the UIDVALIDITY is the one the row was fetched under. Returns the
-- cursor after.
CREATE FUNCTION sb_email_advance(p_mailbox text, p_uidvalidity bigint, p_prev bigint,
	p_uid bigint) RETURNS bigint
LANGUAGE sql AS $$
	WITH u AS (
		UPDATE email_mailboxes m SET last_uid = p_uid, updated_at = now()
		 WHERE m.name = p_mailbox AND m.uidvalidity = p_uidvalidity
		   AND m.last_uid = p_prev AND p_uid > p_prev
		RETURNING m.last_uid)
	SELECT coalesce((SELECT last_uid FROM u),
	                (SELECT last_uid FROM email_mailboxes WHERE name = p_mailbox));
$$;

-- The email.import hook (gateway/core/ingest.h, "Hooks"): ingest stored
-- the message (or found it stored: a repeat); this stores its IMAP
-- identity and raw source once, and moves the cursor. p_data: mailbox,
-- uidvalidity, uid, prev_uid, raw (base64), sha256 (hex), message_id (the
-- Message-ID header, or null), flags (the parser's). Answers
-- {"last_uid": the cursor after}.
CREATE FUNCTION sb_email_imported(p_result jsonb, p_data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	mbox text := p_data->>'mailbox';
	uv bigint := (p_data->>'uidvalidity')::bigint;
	u bigint := (p_data->>'uid')::bigint;
	cur bigint;
BEGIN
	INSERT INTO email_messages (mailbox, uidvalidity, uid, kind, message_id,
	                            rfc_message_id, raw_sha256, raw, parse_flags)
	VALUES (mbox, uv, u, 'message', (p_result->>'seq')::bigint, p_data->>'message_id',
	        decode(p_data->>'sha256', 'hex'), decode(p_data->>'raw', 'base64'),
	        coalesce((p_data->>'flags')::integer, 0))
	ON CONFLICT (mailbox, uidvalidity, uid) DO NOTHING;
	cur := sb_email_advance(mbox, uv, (p_data->>'prev_uid')::bigint, u);
	RETURN jsonb_build_object('last_uid', cur);
END;
$$;
INSERT INTO ingest_hooks (name, fn) VALUES ('email.import', 'sb_email_imported');

-- Mail that becomes no message (a bounce, a duplicate after a UIDVALIDITY
-- change, mail ignored by rule), recorded with its raw source and the same
-- cursor rule, once. Returns the cursor after.
CREATE FUNCTION sb_email_record(p_mailbox text, p_uidvalidity bigint, p_uid bigint,
	p_prev bigint, p_kind text, p_rfc_message_id text, p_sha256 bytea, p_raw bytea,
	p_flags integer) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO email_messages (mailbox, uidvalidity, uid, kind, rfc_message_id,
	                            raw_sha256, raw, parse_flags)
	VALUES (p_mailbox, p_uidvalidity, p_uid, p_kind, p_rfc_message_id, p_sha256, p_raw,
	        coalesce(p_flags, 0))
	ON CONFLICT (mailbox, uidvalidity, uid) DO NOTHING;
	RETURN sb_email_advance(p_mailbox, p_uidvalidity, p_prev, p_uid);
END;
$$;

-- A mailbox as SELECT found it: its cursor (created at 0 the first time).
-- A UIDVALIDITY other than the stored one means the server renumbered the
-- folder: the old UIDs mean nothing, the cursor starts again at 0 under the
-- new one, and changed is true (the channel raises the operator alert and
-- checks each message against what it imported before: sb_email_seen).
CREATE FUNCTION sb_email_mailbox(p_mailbox text, p_uidvalidity bigint,
	OUT last_uid bigint, OUT changed boolean, OUT old_uidvalidity bigint)
LANGUAGE plpgsql AS $$
DECLARE
	m email_mailboxes;
BEGIN
	INSERT INTO email_mailboxes (name, uidvalidity) VALUES (p_mailbox, p_uidvalidity)
	ON CONFLICT (name) DO NOTHING;
	SELECT * INTO m FROM email_mailboxes WHERE name = p_mailbox FOR UPDATE;
	changed := m.uidvalidity <> p_uidvalidity;
	old_uidvalidity := m.uidvalidity;
	IF changed THEN
		UPDATE email_mailboxes SET uidvalidity = p_uidvalidity, last_uid = 0,
		       updated_at = now()
		 WHERE name = p_mailbox;
		last_uid := 0;
	ELSE
		last_uid := m.last_uid;
	END IF;
END;
$$;

-- Which of the raw sources (their SHA-256) this mailbox imported before,
-- under any UIDVALIDITY, with the same Message-ID (or none): the positions
-- (1-based) in the arrays. After a UIDVALIDITY change these are recorded
-- as duplicates, not imported again.
CREATE FUNCTION sb_email_seen(p_mailbox text, p_sha256 bytea[], p_rfc_message_id text[])
RETURNS SETOF integer
LANGUAGE sql STABLE AS $$
	SELECT x.n::integer
	  FROM unnest(p_sha256, p_rfc_message_id) WITH ORDINALITY AS x(sha, mid, n)
	 WHERE EXISTS (SELECT 1 FROM email_messages e
	                WHERE e.mailbox = p_mailbox AND e.raw_sha256 = x.sha
	                  AND e.rfc_message_id IS NOT DISTINCT FROM x.mid);
$$;
