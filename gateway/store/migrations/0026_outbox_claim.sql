-- 0026: claiming outbox rows (issue 15, "One outbox sender for every
-- channel"; docs/email.md, "The outbox: claim, send, retry").
--
-- Rows are written in the same transaction as the message they carry
-- (replies, acknowledgements, chat transcripts). Any instance's sender
-- claims due rows of its channel, sends them outside any transaction, and
-- records the outcome:
--
--   sb_outbox_claim    due rows, each with a lease: status 'sending',
--                      attempts + 1, next_attempt_at = the lease's end. A
--                      sender that dies mid-send leaves the row 'sending';
--                      once the lease ends it is claimed again and sent
--                      again: the carrier must recognise the repeat (email:
--                      the same Message-ID, stored in the payload before
--                      the first attempt). FOR UPDATE SKIP LOCKED: senders
--                      on several instances never claim the same row.
--                      A conversation's rows go in order: a row is not
--                      claimed while an earlier row of its conversation
--                      is still waiting or being sent.
--   sb_outbox_sent     sent: status 'sent', sent_at, the carrier's id.
--   sb_outbox_failed   not sent. Permanent (the carrier refused it: a 5xx),
--                      or too many attempts: 'failed', with the reason for
--                      the advisor. Otherwise back to 'pending' after a
--                      backoff: 30 s, doubled each attempt, at most an
--                      hour, with up to a tenth more at random (senders do
--                      not retry in step).
-- sb_outbox_sent and sb_outbox_failed act only on a row still 'sending'
-- under the attempt the caller claimed: a sender whose lease ran out (and
-- whose row was claimed again) cannot overwrite the newer attempt.

CREATE INDEX outbox_claim_idx ON outbox (channel, next_attempt_at, id)
	WHERE status IN ('pending', 'sending');

CREATE FUNCTION sb_outbox_claim(p_channel text, p_limit integer,
	p_lease interval DEFAULT '2 minutes')
RETURNS SETOF outbox
LANGUAGE sql AS $$
	WITH due AS (
		SELECT o.id FROM outbox o
		 WHERE o.channel = p_channel::sb_channel
		   AND o.status IN ('pending', 'sending')
		   AND o.next_attempt_at <= now()
		   AND (o.conversation_id IS NULL OR NOT EXISTS (
		        SELECT 1 FROM outbox e
		         WHERE e.conversation_id = o.conversation_id
		           AND e.channel = o.channel AND e.id < o.id
		           AND e.status IN ('pending', 'sending')))
		 ORDER BY o.next_attempt_at, o.id
		 LIMIT p_limit
		 FOR UPDATE OF o SKIP LOCKED)
	UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1,
	       next_attempt_at = now() + p_lease
	  FROM due WHERE o.id = due.id
	RETURNING o.*;
$$;

CREATE FUNCTION sb_outbox_sent(p_id bigint, p_attempt integer, p_provider_id text)
RETURNS boolean
LANGUAGE sql AS $$
	WITH u AS (
		UPDATE outbox SET status = 'sent', sent_at = now(), last_error = NULL,
		       provider_id = coalesce(p_provider_id, provider_id)
		 WHERE id = p_id AND status = 'sending' AND attempts = p_attempt
		RETURNING 1)
	SELECT EXISTS (SELECT 1 FROM u);
$$;

-- The delay before attempt n + 1, after n attempts (n >= 1).
CREATE FUNCTION sb_outbox_backoff(p_attempts integer) RETURNS interval
LANGUAGE sql VOLATILE AS $$
	SELECT make_interval(secs => least(3600, 30 * 2 ^ least(p_attempts - 1, 20))
	                             * (1 + random() / 10));
$$;

CREATE FUNCTION sb_outbox_failed(p_id bigint, p_attempt integer, p_error text,
	p_permanent boolean, p_max_attempts integer DEFAULT 12)
RETURNS text
LANGUAGE sql AS $$
	WITH u AS (
		UPDATE outbox o SET
		       status = CASE WHEN p_permanent OR o.attempts >= p_max_attempts
		                     THEN 'failed' ELSE 'pending' END,
		       next_attempt_at = CASE WHEN p_permanent OR o.attempts >= p_max_attempts
		                              THEN o.next_attempt_at
		                              ELSE now() + sb_outbox_backoff(o.attempts) END,
		       last_error = left(coalesce(p_error, 'failed'), 1000)
		 WHERE o.id = p_id AND o.status = 'sending' AND o.attempts = p_attempt
		RETURNING o.status)
	SELECT status FROM u;
$$;
