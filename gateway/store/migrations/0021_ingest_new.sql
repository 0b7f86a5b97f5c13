-- 0021: new contacts in sets (issue 14, ingest's cost).
--
-- sb_ingest (0016) runs once per message, one after the other in the
-- writer's one backend: a new contact is about 0.45 ms of that backend's
-- CPU, most of it PL/pgSQL's per-statement overhead, not the rows. A web
-- form's submissions (and any contact that names no conversation, thread
-- key or reference) are almost all new conversations of senders who share
-- nothing with the rest of their batch; sb_ingest_new writes those with one
-- INSERT per table for the whole batch, about a fifth of the cost, and
-- hands every other row to sb_ingest, in order, after them.
--
-- A row is taken by the set-based path when all of these hold; else it goes
-- to sb_ingest unchanged (same answers either way):
--   * its (source, external_id) is not stored and appears once in the
--     batch (a repeat is sb_ingest's: it knows how to answer one);
--   * none of its identities is another row's in the batch (sb_ingest gives
--     later rows the customer an earlier row made);
--   * at most one customer holds its identities (ambiguous: sb_ingest);
--   * its queue takes its channel (a refusal, with its reason: sb_ingest).
-- Such a row gets a new customer holding its identities (match 'new'), or
-- the one customer who holds them ('matched', nothing added to them), or a
-- new customer with no identity ('none'); a new conversation waiting in its
-- queue; its message; and the 'conversation.new' event, exactly as
-- sb_ingest writes them.
--
-- Another instance committing the same (source, external_id) meanwhile:
-- the message's insert finds it (ON CONFLICT) and the function raises
-- serialization_failure, so nothing of the batch is left; the writer tries
-- the rows again alone (db_commit.h) and the retry is sb_ingest's repeat.
--
-- Parameters and result: as INGEST_ROWS passes them to sb_ingest (the
-- position n first), so ingest.c shares its answers. p_conv, p_tfind,
-- p_tadd, p_ref and p_open must be NULL/empty/false for every row (ingest.c
-- sends only such rows here); a row that has them is sent to sb_ingest.
CREATE FUNCTION sb_ingest_new(p_channel text[], p_source text[], p_ext text[], p_name text[],
	p_ids jsonb[], p_conv bigint[], p_tfind jsonb[], p_tadd jsonb[], p_ref text[],
	p_open boolean[], p_queue text[], p_subject text[], p_body text[], p_meta jsonb[])
RETURNS TABLE (n bigint, conversation_id bigint, reference text, seq bigint, at_ms bigint,
	customer_id bigint, match text, candidates bigint[], opened text, repeated boolean,
	route boolean, queue_id bigint, channel text, queued_ms bigint, priority integer,
	stored_body text, stored_metadata jsonb, refused text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	total integer := coalesce(cardinality(p_ext), 0);
	fast bigint[];   -- positions the set-based path takes
	known bigint[];  -- the one customer holding a fast row's identities, or NULL
	qid bigint[];    -- its queue
	wrote integer;
	i integer;
BEGIN
	-- 1. Which rows are simple, read before anything is written.
	WITH r AS MATERIALIZED (
		SELECT x.n, x.channel, x.source, x.ext, x.conv, x.tfind, x.tadd, x.ref, x.open,
		       x.queue,
		       CASE WHEN jsonb_typeof(x.ids) = 'array' THEN x.ids ELSE '[]' END AS ids,
		       count(*) OVER (PARTITION BY x.source, x.ext) AS same_ext
		  FROM unnest(p_channel, p_source, p_ext, p_ids, p_conv, p_tfind, p_tadd, p_ref,
		              p_open, p_queue)
		       WITH ORDINALITY AS x(channel, source, ext, ids, conv, tfind, tadd, ref, open,
		                            queue, n)),
	     idv AS MATERIALIZED (
		SELECT r.n, e->>'kind' AS kind, e->>'value' AS value,
		       count(*) OVER (PARTITION BY e->>'kind', e->>'value') AS uses
		  FROM r, jsonb_array_elements(r.ids) e
		 WHERE e->>'value' IS NOT NULL),
	     per AS (
		-- Whether a row shares an identity with another, and who holds
		-- its identities (one index lookup each: LATERAL, LIMIT).
		SELECT v.n, bool_or(v.uses > 1) AS shares,
		       array_agg(DISTINCT h.customer_id)
		           FILTER (WHERE h.customer_id IS NOT NULL) AS holders
		  FROM idv v
		  LEFT JOIN LATERAL (SELECT ci.customer_id FROM customer_identities ci
		                      WHERE ci.kind = v.kind AND ci.value = v.value LIMIT 1) h
		    ON true
		 GROUP BY v.n),
	     qs AS (
		SELECT DISTINCT ON (r.queue, r.channel) r.queue, r.channel, q.id
		  FROM r JOIN queues q ON q.active AND (q.slug = r.queue OR q.id::text = r.queue)
		  JOIN queue_channels qc ON qc.queue_id = q.id AND qc.channel = r.channel
		 ORDER BY r.queue, r.channel, q.id),
	     c AS (
		SELECT r.n, r.same_ext, r.conv, r.tfind, r.tadd, r.ref, r.open, qs.id AS queue_id,
		       coalesce(per.shares, false) AS shares,
		       coalesce(per.holders, '{}') AS holders,
		       EXISTS (SELECT 1 FROM messages m
		                WHERE m.source = r.source AND m.external_id = r.ext) AS stored
		  FROM r LEFT JOIN per ON per.n = r.n
		  LEFT JOIN qs ON qs.queue = r.queue AND qs.channel = r.channel)
	SELECT array_agg(c.n ORDER BY c.n), array_agg(c.holders[1] ORDER BY c.n),
	       array_agg(c.queue_id ORDER BY c.n)
	  INTO fast, known, qid
	  FROM c
	 WHERE c.same_ext = 1 AND NOT c.stored AND NOT c.shares
	   AND cardinality(c.holders) <= 1 AND c.queue_id IS NOT NULL
	   AND c.conv IS NULL AND c.ref IS NULL AND NOT coalesce(c.open, false)
	   AND coalesce(jsonb_typeof(c.tfind) <> 'array' OR jsonb_array_length(c.tfind) = 0, true)
	   AND coalesce(jsonb_typeof(c.tadd) <> 'array' OR jsonb_array_length(c.tadd) = 0, true);
	fast := coalesce(fast, '{}');

	-- 2. The simple rows: one INSERT per table for all of them.
	IF cardinality(fast) > 0 THEN
		RETURN QUERY
		WITH f AS MATERIALIZED (
			SELECT k.n, k.cust AS holder, k.q, x.ch, x.src, x.ext, x.name,
			       CASE WHEN jsonb_typeof(x.ids) = 'array' THEN x.ids ELSE '[]' END AS ids,
			       x.subject, coalesce(x.body, '') AS body, coalesce(x.meta, '{}') AS meta,
			       CASE WHEN k.cust IS NULL THEN nextval('customers_id_seq') END AS new_cust,
			       nextval('conversations_id_seq') AS conv
			  FROM unnest(fast, known, qid) AS k(n, cust, q)
			  JOIN unnest(p_channel, p_source, p_ext, p_name, p_ids, p_subject, p_body, p_meta)
			       WITH ORDINALITY AS x(ch, src, ext, name, ids, subject, body, meta, n)
			    ON x.n = k.n),
		     f2 AS (
			SELECT f.*, coalesce(f.holder, f.new_cust) AS cust,
			       CASE WHEN f.holder IS NOT NULL THEN 'matched'
			            WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(f.ids) e
			                          WHERE e->>'value' IS NOT NULL) THEN 'new'
			            ELSE 'none' END AS how
			  FROM f),
		     cu AS (
			INSERT INTO customers (id, display_name)
			SELECT f2.new_cust, coalesce(f2.name, '') FROM f2 WHERE f2.new_cust IS NOT NULL
			RETURNING id),
		     ci AS (
			INSERT INTO customer_identities (customer_id, kind, value)
			SELECT DISTINCT f2.cust, e->>'kind', e->>'value'
			  FROM f2, jsonb_array_elements(f2.ids) e
			 WHERE f2.how = 'new' AND e->>'value' IS NOT NULL
			ON CONFLICT DO NOTHING
			RETURNING 1),
		     cv AS (
			INSERT INTO conversations AS v (id, customer_id, channel, queue_id, status,
			                                queued_at, subject)
			SELECT f2.conv, f2.cust, f2.ch::sb_channel, f2.q, 'waiting', now(),
			       coalesce(f2.subject, '')
			  FROM f2
			RETURNING v.id, v.reference, (extract(epoch FROM v.queued_at) * 1000)::bigint AS qms,
			          v.priority),
		     m AS (
			INSERT INTO messages AS x (conversation_id, direction, author_kind, body,
			                           metadata, source, external_id)
			SELECT f2.conv, 'in', 'customer', f2.body, f2.meta, f2.src, f2.ext
			  FROM f2 ORDER BY f2.n
			ON CONFLICT (source, external_id) DO NOTHING
			RETURNING x.id, x.conversation_id,
			          (extract(epoch FROM x.created_at) * 1000)::bigint AS ms),
		     ev AS (
			INSERT INTO conversation_events (conversation_id, kind, queue_id, detail)
			SELECT f2.conv, 'conversation.new', f2.q,
			       jsonb_build_object('channel', f2.ch, 'source', f2.src, 'message', m.id,
			                          'match', f2.how, 'candidates', '[]'::jsonb)
			  FROM f2 JOIN m ON m.conversation_id = f2.conv
			RETURNING 1)
		SELECT f2.n, f2.conv, cv.reference, m.id, m.ms, f2.cust, f2.how, '{}'::bigint[],
		       'new'::text, false, true, f2.q, f2.ch, cv.qms,
		       least(100, cv.priority + CASE WHEN cuv.vulnerable THEN 10 ELSE 0 END),
		       NULL::text, NULL::jsonb, NULL::text
		  FROM f2 JOIN cv ON cv.id = f2.conv
		  JOIN m ON m.conversation_id = f2.conv
		  LEFT JOIN customers cuv ON cuv.id = f2.holder;
		-- A message another instance committed meanwhile was not inserted
		-- (ON CONFLICT), so its row is missing here: undo it all.
		GET DIAGNOSTICS wrote = ROW_COUNT;
		IF wrote <> cardinality(fast) THEN
			RAISE EXCEPTION 'sb_ingest_new: a message of the batch was stored concurrently'
				USING ERRCODE = 'serialization_failure';
		END IF;
	END IF;

	-- 3. Every other row, in order, one sb_ingest each (they see the rows
	--    written above).
	FOR i IN 1 .. total LOOP
		CONTINUE WHEN i = ANY (fast);
		RETURN QUERY
		SELECT i::bigint, s.* FROM sb_ingest(p_channel[i], p_source[i], p_ext[i], p_name[i], p_ids[i],
		                              p_conv[i], p_tfind[i], p_tadd[i], p_ref[i],
		                              coalesce(p_open[i], false), p_queue[i], p_subject[i],
		                              p_body[i], p_meta[i]) s;
	END LOOP;
END;
$$;
