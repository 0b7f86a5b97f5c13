-- demo-seed.sql — demo data for "Demo District Council".
--
-- Run after the migrations (the daemon applies them at start-up, or
-- `switchboard migrate`):
--     psql -v ON_ERROR_STOP=1 -f config/demo-seed.sql <conninfo>
-- Idempotent: every insert is ON CONFLICT DO NOTHING (or guarded by NOT
-- EXISTS where there is no natural key), so running it again changes nothing
-- and never overwrites edits made since. Staff are NOT seeded: create them with
-- `switchboard user add` (Argon2id hashes).
-- Demo phone numbers are in Ofcom's drama range (07700 900xxx); demo email
-- addresses use example.com / example.org; demo UPRNs start 9999.

BEGIN;

-- Council ----------------------------------------------------------------------

INSERT INTO councils (id, slug, name, timezone)
VALUES (1, 'demo', 'Demo District Council', 'Europe/London')
ON CONFLICT DO NOTHING;

-- Queues -----------------------------------------------------------------------

INSERT INTO queues (slug, name, description, priority, out_of_hours_message) VALUES
	('council-tax', 'Council Tax',
	 'Bills, payments, discounts, Council Tax Reduction and moving home.', 50,
	 'Our Council Tax team is available Monday to Friday, 8:30am to 5pm. You can pay or report a change online at any time.'),
	('waste-recycling', 'Waste and Recycling',
	 'Missed bins, bulky waste, new containers and garden waste.', 40,
	 'Our Waste and Recycling team is available Monday to Friday, 8:30am to 5pm. You can report a missed bin online at any time.'),
	('housing-repairs', 'Housing Repairs',
	 'Repairs to council homes. Emergency repairs out of hours: call 0300 555 0000.', 70,
	 'Our repairs team is available Monday to Friday, 8:30am to 5pm. For an emergency repair (no heating, flooding, unsafe electrics) call 0300 555 0000 at any time.'),
	('complaints', 'Complaints and Compliments',
	 'Tell us when we got it wrong, or right.', 30,
	 'Our feedback team is available Monday to Friday, 8:30am to 5pm. You can leave a message and we will reply within two working days.'),
	('foi', 'Freedom of Information',
	 'Freedom of Information and Environmental Information requests.', 20,
	 'Requests are logged on receipt; we respond within 20 working days.')
ON CONFLICT DO NOTHING;

-- Channels accepted, answer targets (seconds), routing mode, out-of-hours behaviour.
INSERT INTO queue_channels (queue_id, channel, answer_target_s, service_level_pct, routing_mode, out_of_hours)
SELECT q.id, v.channel, v.answer_target_s, v.service_level_pct, v.routing_mode, v.out_of_hours
FROM (VALUES
	('council-tax',     'chat',   60,     80, 'push', 'leave_message'),
	('council-tax',     'voice',  120,    80, 'push', 'closed'),
	('council-tax',     'email',  172800, 90, 'pull', 'queue'),
	('council-tax',     'sms',    86400,  90, 'pull', 'queue'),
	('waste-recycling', 'chat',   60,     80, 'push', 'leave_message'),
	('waste-recycling', 'voice',  120,    80, 'push', 'closed'),
	('waste-recycling', 'email',  172800, 90, 'pull', 'queue'),
	('waste-recycling', 'sms',    86400,  90, 'pull', 'queue'),
	('waste-recycling', 'web',    86400,  90, 'push', 'queue'),
	('housing-repairs', 'chat',   45,     80, 'push', 'leave_message'),
	('housing-repairs', 'voice',  60,     80, 'push', 'closed'),
	('housing-repairs', 'email',  86400,  90, 'push', 'queue'),
	('housing-repairs', 'sms',    43200,  90, 'push', 'queue'),
	('housing-repairs', 'visit',  900,    80, 'push', 'closed'),
	('complaints',      'chat',   120,    80, 'push', 'leave_message'),
	('complaints',      'voice',  180,    80, 'push', 'closed'),
	('complaints',      'email',  172800, 95, 'pull', 'queue'),
	('complaints',      'visit',  900,    80, 'push', 'closed'),
	('foi',             'email',  172800, 95, 'pull', 'queue')
) AS v (slug, channel, answer_target_s, service_level_pct, routing_mode, out_of_hours)
JOIN queues q ON q.slug = v.slug
ON CONFLICT DO NOTHING;

-- Opening hours: Monday to Friday, 08:30–17:00 council time (Europe/London).
INSERT INTO queue_hours (queue_id, weekday, opens_at, closes_at)
SELECT q.id, d.weekday, time '08:30', time '17:00'
FROM queues q
CROSS JOIN generate_series(1, 5) AS d (weekday)
WHERE q.slug IN ('council-tax', 'waste-recycling', 'housing-repairs', 'complaints', 'foi')
ON CONFLICT DO NOTHING;

-- England and Wales bank holidays (gov.uk), for every queue (queue_id NULL).
INSERT INTO closure_days (queue_id, day, kind, name) VALUES
	(NULL, date '2026-01-01', 'bank_holiday', 'New Year''s Day'),
	(NULL, date '2026-04-03', 'bank_holiday', 'Good Friday'),
	(NULL, date '2026-04-06', 'bank_holiday', 'Easter Monday'),
	(NULL, date '2026-05-04', 'bank_holiday', 'Early May bank holiday'),
	(NULL, date '2026-05-25', 'bank_holiday', 'Spring bank holiday'),
	(NULL, date '2026-08-31', 'bank_holiday', 'Summer bank holiday'),
	(NULL, date '2026-12-25', 'bank_holiday', 'Christmas Day'),
	(NULL, date '2026-12-28', 'bank_holiday', 'Boxing Day (substitute day)'),
	(NULL, date '2027-01-01', 'bank_holiday', 'New Year''s Day'),
	(NULL, date '2027-03-26', 'bank_holiday', 'Good Friday'),
	(NULL, date '2027-03-29', 'bank_holiday', 'Easter Monday'),
	(NULL, date '2027-05-03', 'bank_holiday', 'Early May bank holiday'),
	(NULL, date '2027-05-31', 'bank_holiday', 'Spring bank holiday'),
	(NULL, date '2027-08-30', 'bank_holiday', 'Summer bank holiday'),
	(NULL, date '2027-12-27', 'bank_holiday', 'Christmas Day (substitute day)'),
	(NULL, date '2027-12-28', 'bank_holiday', 'Boxing Day (substitute day)')
ON CONFLICT DO NOTHING;

-- Demo customers ---------------------------------------------------------------
-- Customers have no natural key: each is created only if its email identity is
-- not there yet, and its identities are added with ON CONFLICT DO NOTHING.

WITH c AS (
	INSERT INTO customers (display_name, preferred_language, preferred_channel)
	SELECT 'Sam Taylor', 'en', 'chat'
	WHERE NOT EXISTS (SELECT 1 FROM customer_identities
	                  WHERE kind = 'email' AND value = 'sam.taylor@example.com')
	RETURNING id
)
INSERT INTO customer_identities (customer_id, kind, value, verified)
SELECT c.id, v.kind, v.value, v.verified
FROM c CROSS JOIN (VALUES
	('email', 'sam.taylor@example.com', true),
	('phone', '+447700900123',          true),
	('uprn',  '999900000001',           false)
) AS v (kind, value, verified)
ON CONFLICT DO NOTHING;

WITH c AS (
	INSERT INTO customers (display_name, vulnerable, reasonable_adjustments,
	                       preferred_language, preferred_channel)
	SELECT 'Rhiannon Evans', true,
	       'Uses a screen reader. Prefers written contact; allow extra time on calls. Welsh-speaking.',
	       'cy', 'email'
	WHERE NOT EXISTS (SELECT 1 FROM customer_identities
	                  WHERE kind = 'email' AND value = 'rhiannon.evans@example.org')
	RETURNING id
)
INSERT INTO customer_identities (customer_id, kind, value, verified)
SELECT c.id, v.kind, v.value, v.verified
FROM c CROSS JOIN (VALUES
	('email', 'rhiannon.evans@example.org', true),
	('phone', '+447700900456',              false)
) AS v (kind, value, verified)
ON CONFLICT DO NOTHING;

-- Canned responses ---------------------------------------------------------------
-- Placeholders ({resident.first_name}, {advisor.name}, {reference}, ...) are
-- expanded by the desk before the advisor sends (docs/desk.md). Created only if
-- a response with that title and scope is not there yet.

INSERT INTO canned_responses (title, body, shortcut, queue_id)
SELECT v.title, v.body, v.shortcut, q.id
FROM (VALUES
	('Greeting', 'Hello {resident.first_name}, my name is {advisor.first_name} and I work for {council.name}. How can I help you today?', 'hello', NULL),
	('Reference number', 'Your reference for this conversation is {reference}. Please quote it if you contact us again about this.', 'ref', NULL),
	('Anything else', 'Is there anything else I can help you with today, {resident.first_name}?', 'else', NULL),
	('Goodbye', 'Thank you for contacting {council.name}, {resident.first_name}. Goodbye.', 'bye', NULL),
	('Council Tax: account number', 'To find your Council Tax account, could you tell me your account number? It is 8 digits and is at the top of your bill.', 'ctax-acct', 'council-tax'),
	('Waste: missed bin reported', 'I have reported your missed collection. The crew will return within two working days. Your reference is {reference}.', 'missed-bin', 'waste-recycling'),
	('Repairs: emergency', 'If this is an emergency (no heating, flooding or unsafe electrics), please call 0300 555 0000 now: it is answered at any time.', 'emergency', 'housing-repairs')
) AS v (title, body, shortcut, slug)
LEFT JOIN queues q ON q.slug = v.slug
WHERE (v.slug IS NULL OR q.id IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM canned_responses c
                  WHERE c.title = v.title AND c.queue_id IS NOT DISTINCT FROM q.id);

-- Wrap-up codes: reasons (why they got in touch) and outcomes, per queue.
INSERT INTO disposition_codes (queue_id, kind, code, label, position)
SELECT q.id, v.kind, v.code, v.label, v.position
FROM (VALUES
	('council-tax', 'reason', 'bill-query', 'Question about a bill', 10),
	('council-tax', 'reason', 'payment', 'Payment or instalments', 20),
	('council-tax', 'reason', 'discount', 'Discount or Council Tax Reduction', 30),
	('council-tax', 'reason', 'moving', 'Moving home', 40),
	('council-tax', 'reason', 'other', 'Something else', 90),
	('council-tax', 'outcome', 'resolved', 'Resolved during the contact', 10),
	('council-tax', 'outcome', 'follow-up', 'Follow-up needed by the team', 20),
	('council-tax', 'outcome', 'referred', 'Referred to another service', 30),
	('council-tax', 'outcome', 'no-action', 'No action needed', 40),
	('waste-recycling', 'reason', 'missed-bin', 'Missed collection', 10),
	('waste-recycling', 'reason', 'bulky-waste', 'Bulky waste collection', 20),
	('waste-recycling', 'reason', 'new-container', 'New or replacement container', 30),
	('waste-recycling', 'reason', 'garden-waste', 'Garden waste subscription', 40),
	('waste-recycling', 'reason', 'other', 'Something else', 90),
	('waste-recycling', 'outcome', 'resolved', 'Resolved during the contact', 10),
	('waste-recycling', 'outcome', 'request-raised', 'Request raised', 20),
	('waste-recycling', 'outcome', 'info-given', 'Information given', 30),
	('housing-repairs', 'reason', 'new-repair', 'New repair', 10),
	('housing-repairs', 'reason', 'repair-progress', 'Progress of a repair', 20),
	('housing-repairs', 'reason', 'emergency', 'Emergency repair', 30),
	('housing-repairs', 'reason', 'damp-mould', 'Damp and mould', 40),
	('housing-repairs', 'outcome', 'job-raised', 'Repair job raised', 10),
	('housing-repairs', 'outcome', 'appointment', 'Appointment booked', 20),
	('housing-repairs', 'outcome', 'escalated', 'Escalated to a surveyor', 30),
	('housing-repairs', 'outcome', 'info-given', 'Information given', 40),
	('complaints', 'reason', 'complaint', 'Complaint', 10),
	('complaints', 'reason', 'compliment', 'Compliment', 20),
	('complaints', 'reason', 'comment', 'Comment or suggestion', 30),
	('complaints', 'outcome', 'logged', 'Logged for the feedback team', 10),
	('complaints', 'outcome', 'resolved', 'Resolved at first contact', 20),
	('complaints', 'outcome', 'signposted', 'Signposted elsewhere', 30)
) AS v (slug, kind, code, label, position)
JOIN queues q ON q.slug = v.slug
ON CONFLICT DO NOTHING;

COMMIT;
