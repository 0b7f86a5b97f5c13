-- Switchboard schema 0019: how far the advisors have read a conversation,
-- on any channel (conversation.read, docs/desk-protocol.md).
--
-- Chat keeps its own mark (chat_sessions.advisor_read, which its resident
-- is told of); this one is the core's, for every channel. A row of its own
-- rather than a column of conversations: a read is frequent and must not
-- touch the conversation's row (its updated_at trigger, its routing
-- writes). One row per conversation, made on the first read; the mark
-- only moves forward.

CREATE TABLE conversation_reads (
	conversation_id bigint      PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
	-- The newest message (messages.id) an advisor was shown as read.
	advisor_read    bigint      NOT NULL DEFAULT 0 CHECK (advisor_read >= 0),
	updated_at      timestamptz NOT NULL DEFAULT now()
);
