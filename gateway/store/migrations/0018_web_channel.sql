-- Switchboard schema 0018: the web-form channel, `web` (issue 14 item 9;
-- channels/form/, docs/integrations.md).
--
-- A council's forms platform posts each submission to
-- POST /hooks/forms/{form}; it becomes a conversation on the channel `web`
-- in the queue the form is configured with. The channel is a value of the
-- sb_channel domain, so every table that names a channel (queue_channels,
-- channel_settings, staff_capacity, blending_rules, conversations,
-- messages, conversation_threads, outbox) takes it with this one change.

ALTER DOMAIN sb_channel DROP CONSTRAINT sb_channel_check;
ALTER DOMAIN sb_channel ADD CONSTRAINT sb_channel_check
	CHECK (VALUE IN ('chat', 'email', 'sms', 'voice', 'visit', 'web'));

-- An advisor works several form submissions at once, as with email; a form
-- is not live: its conversation stays with the advisor when their desk is
-- gone past the grace period (the person is not waiting on a socket). A
-- queue takes forms when it has a queue_channels row for `web`; an advisor's
-- own capacity, when it differs, is a staff_capacity row. No blending rule:
-- forms block nothing and nothing blocks them.
INSERT INTO channel_settings (channel, default_capacity, live)
VALUES ('web', 5, false)
ON CONFLICT (channel) DO NOTHING;
