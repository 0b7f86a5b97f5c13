-- webform-seed.sql: what tests/e2e/webform.test.mjs reads. A web-form conversation
-- (channel `web`) already assigned to the advisor `fern`, in a queue of its own, with
-- the form's answers in its first message's metadata (metadata.fields, as the form
-- channel stores them). Run by tests/e2e/run before the daemon starts, so routing's
-- rebuild puts it on fern's desk (desk.conversations): no channel submits through
-- ingest on main yet, and routing offers no `web` conversation yet.
--
-- The form channel's migration (0018) widens the sb_channel domain to `web`;
-- until it is merged, the same is done here.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_constraint
	               WHERE contypid = 'sb_channel'::regtype
	                 AND pg_get_constraintdef(oid) LIKE '%web%') THEN
		ALTER DOMAIN sb_channel DROP CONSTRAINT sb_channel_check;
		ALTER DOMAIN sb_channel ADD CONSTRAINT sb_channel_check
			CHECK (VALUE IN ('chat', 'email', 'sms', 'voice', 'visit', 'web'));
	END IF;
END $$;
INSERT INTO channel_settings (channel, default_capacity, live)
VALUES ('web', 5, false)
ON CONFLICT (channel) DO NOTHING;
INSERT INTO queues (id, slug, name) VALUES (7, 'street-scene', 'Street scene');
INSERT INTO queue_channels (queue_id, channel, answer_target_s, offer_timeout_s)
VALUES (7, 'web', 86400, 60);
INSERT INTO queue_members (staff_id, queue_id)
SELECT id, 7 FROM staff_users WHERE login = 'fern';
WITH c AS (
	INSERT INTO customers (display_name) VALUES ('Wendell Webb') RETURNING id),
 i AS (
	INSERT INTO customer_identities (customer_id, kind, value, verified)
	SELECT c.id, 'email', 'wendell@example.org', false FROM c),
 v AS (
	INSERT INTO conversations (customer_id, channel, queue_id, status,
	                           assigned_staff_id, subject)
	SELECT c.id, 'web', 7, 'assigned', s.id, 'Report a missed bin'
	  FROM c, staff_users s WHERE s.login = 'fern'
	RETURNING id),
 m AS (
	INSERT INTO messages (conversation_id, direction, author_kind, body, metadata,
	                      source, external_id)
	SELECT v.id, 'in', 'customer', 'Report a missed bin',
	       '{"form": "missed-bin", "fields": [
	          {"name": "street", "label": "Street", "value": "1 High Street"},
	          {"name": "bin", "label": "Which bin was missed", "value": "Green (garden waste)"},
	          {"name": "when", "label": "Collection day", "value": "Monday"},
	          {"name": "notes", "label": "Anything else", "value": ""}]}',
	       'form:missed-bin', 'e2e-webform-1'
	  FROM v
	RETURNING id, conversation_id)
-- The opening event as ingest writes it (sb_ingest): how the sender was matched.
INSERT INTO conversation_events (conversation_id, kind, queue_id, detail)
SELECT m.conversation_id, 'conversation.new', 7,
       jsonb_build_object('channel', 'web', 'source', 'form:missed-bin',
                          'message', m.id, 'match', 'new', 'candidates', '[]'::jsonb)
  FROM m;
