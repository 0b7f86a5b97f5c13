-- 0025: the limits on email acknowledgements (issue 15; docs/email.md,
-- "Acknowledgements: when one may be sent").
--
-- An acknowledgement answers whoever the From address names, and anyone
-- can write any address there: unlimited, it would let strangers make the
-- council mail third parties (backscatter, a spam and phishing relay), and
-- two systems answering each other would loop. The parser's RFC 3834
-- rules (email_mime_no_autoreply) drop what declares itself automatic;
-- these limits hold whatever the headers say, across every instance:
--
--   * once per address per mailbox in a window (7 days by default);
--   * at most a number per mailbox per hour, and per destination domain
--     per hour (a flood of forged senders, or of one domain's addresses).
--
-- sb_email_ack_allowed takes the decision and records the acknowledgement
-- in the same statement, under a lock per mailbox: two instances asking
-- at once get one yes. The caller writes the outbox row
-- in the same transaction, so a refusal or a rollback leaves no trace.

CREATE TABLE email_acks (
	id      bigserial   PRIMARY KEY,
	mailbox text        NOT NULL CHECK (length(mailbox) BETWEEN 1 AND 63),
	address text        NOT NULL CHECK (address = lower(address) AND length(address) <= 320),
	domain  text        NOT NULL CHECK (domain = lower(domain) AND length(domain) <= 255),
	sent_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_acks_address_idx ON email_acks (mailbox, address, sent_at);
CREATE INDEX email_acks_mailbox_idx ON email_acks (mailbox, sent_at);
CREATE INDEX email_acks_domain_idx ON email_acks (mailbox, domain, sent_at);

-- NULL when mailbox may acknowledge address now (and it is recorded), else
-- why not: 'recent' (acknowledged within p_window), 'mailbox_rate' (p_per_hour
-- this hour already), 'domain_rate' (p_per_domain_hour to its domain this
-- hour), 'bad_address'.
CREATE FUNCTION sb_email_ack_allowed(p_mailbox text, p_address text,
	p_window interval DEFAULT '7 days', p_per_hour integer DEFAULT 200,
	p_per_domain_hour integer DEFAULT 20) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	addr text := lower(p_address);
	dom text := lower(split_part(p_address, '@', 2));
BEGIN
	IF addr !~ '^[^@[:space:]]+@[^@[:space:]]+$' OR length(addr) > 320 THEN
		RETURN 'bad_address';
	END IF;
	-- One decision at a time per mailbox, across instances: the counts
	-- below then see every acknowledgement decided before.
	PERFORM pg_advisory_xact_lock(hashtext('sb_email_ack:' || p_mailbox));
	IF EXISTS (SELECT 1 FROM email_acks a
	            WHERE a.mailbox = p_mailbox AND a.address = addr
	              AND a.sent_at > now() - p_window) THEN
		RETURN 'recent';
	END IF;
	IF (SELECT count(*) FROM email_acks a
	     WHERE a.mailbox = p_mailbox AND a.sent_at > now() - interval '1 hour')
	   >= p_per_hour THEN
		RETURN 'mailbox_rate';
	END IF;
	IF (SELECT count(*) FROM email_acks a
	     WHERE a.mailbox = p_mailbox AND a.domain = dom
	       AND a.sent_at > now() - interval '1 hour') >= p_per_domain_hour THEN
		RETURN 'domain_rate';
	END IF;
	INSERT INTO email_acks (mailbox, address, domain) VALUES (p_mailbox, addr, dom);
	RETURN NULL;
END;
$$;

-- Old rows: nothing older than the longest window is needed.
CREATE FUNCTION sb_email_acks_prune(p_keep interval DEFAULT '30 days') RETURNS bigint
LANGUAGE sql AS $$
	WITH d AS (DELETE FROM email_acks WHERE sent_at < now() - p_keep RETURNING 1)
	SELECT count(*) FROM d;
$$;
