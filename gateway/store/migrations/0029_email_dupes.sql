-- 0029: mail that intake imported before under another IMAP identity
-- (issue 15; docs/email.md, "What intake commits").
--
-- sb_email_seen (0024) finds any earlier import with the same raw source
-- and Message-ID, including the same IMAP identity: a refetch after a
-- crash would then look like a duplicate and skip ingest's repeat (which
-- hands a waiting conversation to the router again). The channel asks
-- this one for every batch instead: only mail stored under another
-- (UIDVALIDITY, UID) counts, which is a UIDVALIDITY change (the server
-- renumbered the folder, even across a restart half-way through the
-- rescan) or the same mail copied into the folder again. p_items: a JSON
-- array of {"uid", "sha256" (hex), "message_id" (or null)}. Returns the
-- UIDs that are duplicates.
CREATE FUNCTION sb_email_dupes(p_mailbox text, p_uidvalidity bigint, p_items jsonb)
RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
	SELECT (x->>'uid')::bigint
	  FROM jsonb_array_elements(p_items) AS x
	 WHERE EXISTS (SELECT 1 FROM email_messages e
	                WHERE e.mailbox = p_mailbox
	                  AND e.raw_sha256 = decode(x->>'sha256', 'hex')
	                  AND e.rfc_message_id IS NOT DISTINCT FROM x->>'message_id'
	                  AND NOT (e.uidvalidity = p_uidvalidity
	                           AND e.uid = (x->>'uid')::bigint));
$$;

-- Replies to what we sent thread back (threading's second rule): every
-- email outbox row's Message-ID becomes a thread key of its conversation
-- when the claim stores it, before the first attempt, so that an answer
-- to an acknowledgement or an advisor's reply whose subject lost the
-- reference (In-Reply-To or References only) finds the conversation.
CREATE OR REPLACE FUNCTION sb_outbox_claim_email(p_limit integer, p_lease interval,
	p_domain text)
RETURNS SETOF outbox
LANGUAGE plpgsql AS $$
DECLARE
	ids bigint[];
BEGIN
	SELECT array_agg(c.id) INTO ids FROM sb_outbox_claim('email', p_limit, p_lease) c;
	IF ids IS NULL THEN
		RETURN;
	END IF;
	UPDATE outbox o
	   SET payload = o.payload || jsonb_build_object('message_id',
	           'sb.' || o.id || '.' || replace(gen_random_uuid()::text, '-', '') || '@' ||
	           p_domain)
	 WHERE o.id = ANY (ids) AND NOT (o.payload ? 'message_id');
	INSERT INTO conversation_threads (channel, key, conversation_id)
	SELECT 'email', 'msgid:' || (o.payload->>'message_id'), o.conversation_id
	  FROM outbox o
	 WHERE o.id = ANY (ids) AND o.conversation_id IS NOT NULL
	ON CONFLICT DO NOTHING;
	RETURN QUERY SELECT * FROM outbox o WHERE o.id = ANY (ids) ORDER BY o.id;
END;
$$;

-- \Seen (or the move) is stored only after COMMIT, and a crash between
-- the two leaves a committed mail unmarked on the server, below the
-- cursor, where no sweep fetches it again. Intake records which mail it
-- has marked, and marks the rest of the current UIDVALIDITY when a
-- session starts (sb_email_unmarked): every imported mail is marked in
-- the end, none is imported twice.
ALTER TABLE email_messages ADD COLUMN marked boolean NOT NULL DEFAULT false;
UPDATE email_messages SET marked = true;
CREATE INDEX email_messages_unmarked_idx ON email_messages (mailbox, uidvalidity, uid)
	WHERE NOT marked;

CREATE FUNCTION sb_email_marked(p_mailbox text, p_uidvalidity bigint, p_uids jsonb)
RETURNS integer
LANGUAGE sql AS $$
	WITH u AS (
		UPDATE email_messages SET marked = true
		 WHERE mailbox = p_mailbox AND uidvalidity = p_uidvalidity AND NOT marked
		   AND uid IN (SELECT jsonb_array_elements_text(p_uids)::bigint)
		RETURNING 1)
	SELECT count(*)::integer FROM u;
$$;

-- The committed mail of this UIDVALIDITY not yet marked, lowest first.
CREATE FUNCTION sb_email_unmarked(p_mailbox text, p_uidvalidity bigint, p_limit integer)
RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
	SELECT uid FROM email_messages
	 WHERE mailbox = p_mailbox AND uidvalidity = p_uidvalidity AND NOT marked
	 ORDER BY uid LIMIT p_limit;
$$;
