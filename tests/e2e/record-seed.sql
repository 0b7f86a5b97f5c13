-- record-seed.sql: what tests/e2e/record.test.mjs reads. A customer with a long
-- history (1,200 past contacts on chat, email and SMS in both test queues, three
-- messages each) so the desk's timeline must page; run by tests/e2e/run after the
-- queues exist.
WITH c AS (
	INSERT INTO customers (display_name, vulnerable, reasonable_adjustments,
	                       preferred_language, preferred_channel)
	VALUES ('Hana Historic', true, 'Large print letters', 'cy', 'email')
	RETURNING id),
 i AS (
	INSERT INTO customer_identities (customer_id, kind, value, verified)
	SELECT c.id, x.kind, x.value, x.verified FROM c,
	 (VALUES ('email', 'hana@example.com', true),
	         ('phone', '+447700900456', false)) x(kind, value, verified)),
 v AS (
	INSERT INTO conversations (customer_id, channel, queue_id, status, subject,
	                           created_at, closed_at)
	SELECT c.id, (ARRAY['chat', 'email', 'sms'])[1 + n % 3]::sb_channel,
	       1 + n % 2, 'closed', 'Past contact ' || n,
	       now() - make_interval(hours => 1 + n),
	       now() - make_interval(hours => 1 + n) + interval '20 minutes'
	  FROM c, generate_series(1, 1200) n
	RETURNING id, subject, created_at)
INSERT INTO messages (conversation_id, direction, author_kind, body, source,
                      created_at)
SELECT v.id, x.direction, x.author, x.body || ' ' || substr(v.subject, 14),
       'seed', v.created_at + x.after
  FROM v, (VALUES ('in', 'customer', 'Past question', interval '1 minute'),
                  ('out', 'system', 'Past answer', interval '2 minutes'),
                  ('internal', 'system', 'Past note', interval '3 minutes'))
       x(direction, author, body, after);

-- Every past contact was wrapped up, with codes both queues have since retired
-- (inactive: never offered, still shown on the history) and a note holding
-- markup, which the desk must show as text.
INSERT INTO disposition_codes (queue_id, kind, code, label, active)
SELECT q, x.kind, x.code, x.label, false
  FROM (VALUES (1), (2)) qs(q),
       (VALUES ('reason', 'past-enquiry', 'Past enquiry'),
               ('outcome', 'answered', 'Answered in full')) x(kind, code, label);
INSERT INTO conversation_dispositions (conversation_id, queue_id, reason_id,
                                      outcome_id, note, created_at)
SELECT v.id, v.queue_id, r.id, o.id,
       'Told to call back <b>Monday</b> ' || substr(v.subject, 14), v.closed_at
  FROM conversations v
  JOIN customers c ON c.id = v.customer_id AND c.display_name = 'Hana Historic'
  JOIN disposition_codes r ON r.queue_id = v.queue_id AND r.code = 'past-enquiry'
  JOIN disposition_codes o ON o.queue_id = v.queue_id AND o.code = 'answered';

-- Someone else with a mobile of their own: a chat giving Hana's email and this
-- mobile matches two records (`ambiguous`).
WITH c AS (INSERT INTO customers (display_name) VALUES ('Hana Other') RETURNING id)
INSERT INTO customer_identities (customer_id, kind, value)
SELECT id, 'phone', '+447700900111' FROM c;
