-- 0023: sb_ingest_set undoes a batch that lost a race for a new sender's
-- identity (issue 14, ingest on several writers).
--
-- sb_ingest_set (0022) checks, before it writes, that no identity of a
-- simple row is held by a customer yet, and then inserts each new
-- customer's identities with ON CONFLICT DO NOTHING. When another
-- transaction (another instance, or since this change another of the
-- daemon's ingest writers) commits the same identity between the check and
-- the insert, the insert waited for it and then skipped the row: the new
-- customer was left without the identity, a second record for the same
-- resident that nothing links to the first. Messages and thread keys had
-- this check already; now identities have it too: the batch fails with
-- serialization_failure, the writer sends its rows again one by one, and
-- sb_ingest then matches the customer that won.
--
-- sb_customer_resolve (0016), which sb_ingest calls for every other row,
-- had the same gap and gets the same check: a new customer whose
-- identities are not all inserted undoes the statement with
-- serialization_failure (a batch of the writer is then tried again one
-- message at a time, and the retry matches the customer that won).

CREATE OR REPLACE FUNCTION sb_ingest_set(p_channel text[], p_source text[], p_ext text[], p_name text[],
	p_ids jsonb[], p_conv bigint[], p_tfind jsonb[], p_tadd jsonb[], p_ref text[],
	p_open boolean[], p_queue text[], p_subject text[], p_body text[], p_meta jsonb[],
	p_hook text[], p_hdata jsonb[])
RETURNS TABLE (n bigint, conversation_id bigint, reference text, seq bigint, at_ms bigint,
	customer_id bigint, match text, candidates bigint[], opened text, repeated boolean,
	route boolean, queue_id bigint, channel text, queued_ms bigint, priority integer,
	stored_body text, stored_metadata jsonb, refused text, hook jsonb)
LANGUAGE plpgsql
-- Its statements are planned once a session, not each call: a custom plan
-- of these statements costs more than running them for a batch of ten
-- (2.5 times the call, measured in psql). The plans stay right whatever the
-- arrays hold: every lookup is by key (LATERAL, LIMIT).
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
	total integer := coalesce(cardinality(p_ext), 0);
	fast bigint[];   -- positions the set-based path takes
	known bigint[];  -- the one customer holding a fast row's identities, or NULL
	qid bigint[];    -- its queue
	res jsonb;       -- the fast rows' results, [{n, sb_ingest's columns, hook, data}]
	answers jsonb := '{}';  -- n -> what the row's set hook answered
	want_m integer;  -- messages the fast rows insert
	got_m integer;
	want_t integer;  -- thread keys they record
	got_t integer;
	want_i integer;  -- identities they record
	got_i integer;
	h record;
	said jsonb;
	i integer;
BEGIN
	-- 1. Which rows are simple, read before anything is written.
	WITH r AS MATERIALIZED (
		SELECT x.n, x.channel, x.source, x.ext, x.conv, x.ref, x.open, x.queue, x.body,
		       x.hook,
		       CASE WHEN jsonb_typeof(x.ids) = 'array' THEN x.ids ELSE '[]' END AS ids,
		       CASE WHEN jsonb_typeof(x.tfind) = 'array' THEN x.tfind ELSE '[]' END
		         || CASE WHEN jsonb_typeof(x.tadd) = 'array' THEN x.tadd ELSE '[]' END
		         AS keys,
		       count(*) OVER (PARTITION BY x.source, x.ext) AS same_ext
		  FROM unnest(p_channel, p_source, p_ext, p_ids, p_conv, p_tfind, p_tadd, p_ref,
		              p_open, p_queue, p_body, p_hook)
		       WITH ORDINALITY AS x(channel, source, ext, ids, conv, tfind, tadd, ref, open,
		                            queue, body, hook, n)),
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
	     kv AS (
		-- A row's thread keys: whether one is recorded already, or is
		-- another row's too (a key found and added by one row counts once).
		SELECT k.n, bool_or(k.rows > 1 OR t.conversation_id IS NOT NULL) AS taken
		  FROM (SELECT d.n, d.channel, d.key,
		               count(*) OVER (PARTITION BY d.channel, d.key) AS rows
		          FROM (SELECT DISTINCT r.n, r.channel, e AS key
		                  FROM r, jsonb_array_elements_text(r.keys) e) d) k
		  LEFT JOIN LATERAL (SELECT t.conversation_id FROM conversation_threads t
		                      WHERE t.channel = k.channel::sb_channel AND t.key = k.key
		                      LIMIT 1) t ON true
		 GROUP BY k.n),
	     qs AS (
		SELECT DISTINCT ON (r.queue, r.channel) r.queue, r.channel, q.id
		  FROM r JOIN queues q ON q.active AND (q.slug = r.queue OR q.id::text = r.queue)
		  JOIN queue_channels qc ON qc.queue_id = q.id AND qc.channel = r.channel
		 ORDER BY r.queue, r.channel, q.id),
	     c AS (
		SELECT r.n, r.same_ext, r.conv, r.ref, r.open, r.hook, qs.id AS queue_id,
		       coalesce(per.shares, false) AS shares,
		       coalesce(per.holders, '{}') AS holders,
		       coalesce(kv.taken, false) AS taken,
		       r.body IS NOT NULL AND EXISTS (SELECT 1 FROM messages m
		                WHERE m.source = r.source AND m.external_id = r.ext) AS stored
		  FROM r LEFT JOIN per ON per.n = r.n
		  LEFT JOIN kv ON kv.n = r.n
		  LEFT JOIN qs ON qs.queue = r.queue AND qs.channel = r.channel)
	SELECT array_agg(c.n ORDER BY c.n), array_agg(c.holders[1] ORDER BY c.n),
	       array_agg(c.queue_id ORDER BY c.n)
	  INTO fast, known, qid
	  FROM c
	 WHERE c.same_ext = 1 AND NOT c.stored AND NOT c.shares AND NOT c.taken
	   AND cardinality(c.holders) <= 1 AND c.queue_id IS NOT NULL
	   AND c.conv IS NULL AND c.ref IS NULL AND NOT coalesce(c.open, false)
	   AND (c.hook IS NULL
	        OR EXISTS (SELECT 1 FROM ingest_hooks ih
	                    WHERE ih.name = c.hook AND ih.set_fn IS NOT NULL));
	fast := coalesce(fast, '{}');

	-- 2. The simple rows: one INSERT per table for all of them.
	IF cardinality(fast) > 0 THEN
		WITH f AS MATERIALIZED (
			SELECT k.n, k.cust AS holder, k.q, x.ch, x.src, x.ext, x.name,
			       CASE WHEN jsonb_typeof(x.ids) = 'array' THEN x.ids ELSE '[]' END AS ids,
			       CASE WHEN jsonb_typeof(x.tadd) = 'array' THEN x.tadd ELSE '[]' END AS tadd,
			       x.subject, x.body, coalesce(x.meta, '{}') AS meta, x.hook, x.hdata,
			       CASE WHEN k.cust IS NULL THEN nextval('customers_id_seq') END AS new_cust,
			       nextval('conversations_id_seq') AS conv
			  FROM unnest(fast, known, qid) AS k(n, cust, q)
			  JOIN unnest(p_channel, p_source, p_ext, p_name, p_ids, p_tadd, p_subject,
			              p_body, p_meta, p_hook, p_hdata)
			       WITH ORDINALITY AS x(ch, src, ext, name, ids, tadd, subject, body, meta,
			                            hook, hdata, n)
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
			  FROM f2 WHERE f2.body IS NOT NULL ORDER BY f2.n
			ON CONFLICT (source, external_id) DO NOTHING
			RETURNING x.id, x.conversation_id,
			          (extract(epoch FROM x.created_at) * 1000)::bigint AS ms),
		     th AS (
			INSERT INTO conversation_threads (channel, key, conversation_id)
			SELECT DISTINCT f2.ch::sb_channel, k, f2.conv
			  FROM f2, jsonb_array_elements_text(f2.tadd) k
			ON CONFLICT DO NOTHING
			RETURNING 1),
		     ev AS (
			INSERT INTO conversation_events (conversation_id, kind, queue_id, detail)
			SELECT f2.conv, 'conversation.new', f2.q,
			       jsonb_build_object('channel', f2.ch, 'source', f2.src, 'message', m.id,
			                          'match', f2.how, 'candidates', '[]'::jsonb)
			  FROM f2 LEFT JOIN m ON m.conversation_id = f2.conv
			RETURNING 1)
		SELECT coalesce(jsonb_agg(jsonb_build_object(
		               'n', f2.n, 'conversation_id', f2.conv, 'reference', cv.reference,
		               'seq', m.id, 'at_ms', m.ms, 'customer_id', f2.cust, 'match', f2.how,
		               'candidates', '[]'::jsonb, 'opened', 'new', 'repeated', false,
		               'route', true, 'queue_id', f2.q, 'channel', f2.ch,
		               'queued_ms', cv.qms,
		               'priority', least(100, cv.priority
		                                      + CASE WHEN cuv.vulnerable THEN 10 ELSE 0 END),
		               'stored_body', NULL, 'stored_metadata', NULL, 'refused', NULL,
		               'hook_name', f2.hook, 'data', coalesce(f2.hdata, '{}'::jsonb))
		             ORDER BY f2.n), '[]'),
		       count(*) FILTER (WHERE f2.body IS NOT NULL),
		       count(m.id),
		       (SELECT count(*) FROM (SELECT DISTINCT f3.conv, k
		                                FROM f2 f3, jsonb_array_elements_text(f3.tadd) k) d),
		       (SELECT count(*) FROM th),
		       (SELECT count(*) FROM (SELECT DISTINCT f3.cust, e->>'kind', e->>'value'
		                                FROM f2 f3, jsonb_array_elements(f3.ids) e
		                               WHERE f3.how = 'new' AND e->>'value' IS NOT NULL) d),
		       (SELECT count(*) FROM ci)
		  INTO res, want_m, got_m, want_t, got_t, want_i, got_i
		  FROM f2 JOIN cv ON cv.id = f2.conv
		  LEFT JOIN m ON m.conversation_id = f2.conv
		  LEFT JOIN customers cuv ON cuv.id = f2.holder;
		-- A message, thread key or identity another transaction committed
		-- meanwhile was not inserted (ON CONFLICT): undo it all.
		IF got_m <> want_m OR got_t <> want_t OR got_i <> want_i THEN
			RAISE EXCEPTION 'sb_ingest_set: a message, thread key or identity of the batch was stored concurrently'
				USING ERRCODE = 'serialization_failure';
		END IF;

		-- 3. Each hook's set form, once for its rows.
		FOR h IN SELECT ih.name, ih.set_fn FROM ingest_hooks ih
		          WHERE ih.name IN (SELECT DISTINCT e->>'hook_name'
		                              FROM jsonb_array_elements(res) e) LOOP
			EXECUTE format('SELECT coalesce(jsonb_object_agg(a.n::text, a.hook), ''{}'')'
			               ' FROM %s($1) a', h.set_fn)
			   INTO STRICT said
			  USING (SELECT jsonb_agg(e - 'hook_name') FROM jsonb_array_elements(res) e
			          WHERE e->>'hook_name' = h.name);
			answers := answers || said;
		END LOOP;

		RETURN QUERY
		SELECT x.n, x.conversation_id, x.reference, x.seq, x.at_ms, x.customer_id, x.match,
		       '{}'::bigint[], x.opened, x.repeated, x.route, x.queue_id, x.channel,
		       x.queued_ms, x.priority, NULL::text, NULL::jsonb, NULL::text,
		       answers -> x.n::text
		  FROM jsonb_to_recordset(res) AS x(n bigint, conversation_id bigint, reference text,
		       seq bigint, at_ms bigint, customer_id bigint, match text, opened text,
		       repeated boolean, route boolean, queue_id bigint, channel text,
		       queued_ms bigint, priority integer);
	END IF;

	-- 4. Every other row, in order, one sb_ingest_hooked each (they see the
	--    rows written above).
	FOR i IN 1 .. total LOOP
		CONTINUE WHEN i = ANY (fast);
		RETURN QUERY
		SELECT i::bigint, s.* FROM sb_ingest_hooked(p_hook[i], p_hdata[i], p_channel[i],
		                              p_source[i], p_ext[i], p_name[i], p_ids[i], p_conv[i],
		                              p_tfind[i], p_tadd[i], p_ref[i],
		                              coalesce(p_open[i], false), p_queue[i], p_subject[i],
		                              p_body[i], p_meta[i]) s;
	END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION sb_customer_resolve(p_name text, p_identities jsonb,
	OUT customer_id bigint, OUT match text, OUT candidates bigint[])
LANGUAGE plpgsql AS $$
DECLARE
	ids jsonb := CASE WHEN jsonb_typeof(p_identities) = 'array'
	                  THEN p_identities ELSE '[]'::jsonb END;
	n integer;
	want integer;
	got integer;
BEGIN
	SELECT count(*), count(DISTINCT (x->>'kind', x->>'value')) INTO n, want
	  FROM jsonb_array_elements(ids) x
	 WHERE x->>'value' IS NOT NULL;
	candidates := sb_identity_customers(ids);
	IF cardinality(candidates) = 1 THEN
		match := 'matched';
		customer_id := candidates[1];
		candidates := '{}';
		RETURN;
	END IF;
	IF cardinality(candidates) > 1 THEN
		match := 'ambiguous';
	ELSIF n = 0 THEN
		match := 'none';
	ELSE
		match := 'new';
	END IF;
	INSERT INTO customers (display_name) VALUES (coalesce(p_name, ''))
	RETURNING id INTO customer_id;
	IF match = 'new' THEN
		INSERT INTO customer_identities (customer_id, kind, value)
		SELECT DISTINCT sb_customer_resolve.customer_id, x->>'kind', x->>'value'
		  FROM jsonb_array_elements(ids) x WHERE x->>'value' IS NOT NULL
		ON CONFLICT DO NOTHING;
		GET DIAGNOSTICS got = ROW_COUNT;
		-- Another transaction committed one of them meanwhile: undo, so
		-- the retry matches its customer instead of making a second.
		IF got <> want THEN
			RAISE EXCEPTION 'sb_customer_resolve: an identity was stored concurrently'
				USING ERRCODE = 'serialization_failure';
		END IF;
	END IF;
END;
$$;
