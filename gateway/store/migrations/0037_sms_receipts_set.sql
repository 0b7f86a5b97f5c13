-- 0037: a batch of SMS receipts in set-based statements (issue 16,
-- "Benchmark"; docs/sms.md). sb_sms_receipts (0035) ran five statements per
-- receipt; the webhook benchmark found the group-commit writer's backend
-- spending most of its time there. The same rules, for the whole batch at
-- once: each receipt stored once (a repeat, also within the batch, has no
-- effect), each outbox row moved only forwards, to the furthest of the
-- batch's receipts for it (the first final state stays; 'read' after
-- 'delivered', never after 'failed').
--
-- outbox's fillfactor leaves room on each page, so that a receipt's update
-- (no indexed column changes) stays on its page (a HOT update) instead of
-- rewriting every index.

ALTER TABLE outbox SET (fillfactor = 85);

CREATE OR REPLACE FUNCTION sb_sms_receipts(p_provider text[], p_provider_id text[],
	p_reference text[], p_status text[], p_detail text[])
RETURNS TABLE (n integer, repeat boolean, changed boolean, conversation bigint,
	message bigint, receipt text, detail text, destination text)
LANGUAGE sql AS $$
	WITH r AS (
		SELECT u.n::integer AS n, u.prov, u.pid, u.ref, u.st, left(u.det, 200) AS det,
		       x.receipt AS rc, x.rank AS rk
		  FROM unnest(p_provider, p_provider_id, p_reference, p_status, p_detail)
		       WITH ORDINALITY AS u(prov, pid, ref, st, det, n)
		  LEFT JOIN LATERAL sb_sms_receipt(u.st) x ON true),
	ins AS (
		INSERT INTO sms_receipts (provider, provider_id, status, detail)
		SELECT DISTINCT ON (prov, pid, st) prov, pid, st, det FROM r
		 ORDER BY prov, pid, st, n
		ON CONFLICT DO NOTHING
		RETURNING provider, provider_id, status),
	fresh AS (
		SELECT DISTINCT ON (r.prov, r.pid, r.st) r.*
		  FROM r JOIN ins ON ins.provider = r.prov AND ins.provider_id = r.pid
		                 AND ins.status = r.st
		 ORDER BY r.prov, r.pid, r.st, r.n),
	target AS (
		SELECT f.*, o.id AS oid, o.conversation_id AS conv, o.message_id AS msg,
		       o.destination AS dest
		  FROM fresh f
		  LEFT JOIN LATERAL (
		       SELECT x.id, x.conversation_id, x.message_id, x.destination FROM outbox x
		        WHERE x.channel = 'sms'
		          AND (x.provider_id = f.pid
		               OR x.id = CASE WHEN f.ref ~ '^sb-[0-9]{1,18}$'
		                              THEN substr(f.ref, 4)::bigint END)
		        ORDER BY x.id LIMIT 1) o ON true),
	best AS (
		SELECT DISTINCT ON (t.oid) t.* FROM target t
		 WHERE t.oid IS NOT NULL AND t.rc IS NOT NULL
		 ORDER BY t.oid, t.rk DESC, t.n),
	upd AS (
		UPDATE outbox o SET receipt = b.rc, receipt_detail = b.det, receipt_at = now()
		  FROM best b
		 WHERE o.id = b.oid
		   AND sb_sms_rank(o.receipt) < b.rk
		   AND NOT (coalesce(o.receipt, '') = 'failed' AND b.rc = 'read')
		RETURNING b.n, o.receipt, o.receipt_detail)
	SELECT r.n, t.n IS NULL, u.n IS NOT NULL, t.conv, t.msg, u.receipt, u.receipt_detail,
	       t.dest
	  FROM r LEFT JOIN target t ON t.n = r.n LEFT JOIN upd u ON u.n = r.n
	 ORDER BY r.n;
$$;
