-- 0002_router: what the router needs beyond the core model.
--
-- Routing state lives in Redis and is rebuilt from these tables after Redis
-- restarts empty: queue membership is conversations.status/queue_id,
-- assignments are conversations.assigned_staff_id, and route_version fences
-- decisions (a decision taken against a stale Redis carries a smaller
-- version and is not applied).

-- How long an offer waits for the advisor before it goes to the next one.
ALTER TABLE queue_channels
	ADD COLUMN offer_timeout_s integer NOT NULL DEFAULT 30
		CHECK (offer_timeout_s BETWEEN 5 AND 600);

-- epoch * 2^32 + counter of the last routing decision applied.
ALTER TABLE conversations
	ADD COLUMN route_version bigint NOT NULL DEFAULT 0
		CHECK (route_version >= 0);

COMMENT ON COLUMN conversations.queued_at IS
	'When the contact started waiting; kept across transfers and re-queues, '
	'so it keeps its place.';

-- Per channel: the default capacity of an advisor, and whether the channel
-- is live (its conversations go back to the queue when the advisor's desk
-- is gone past the grace period; email and SMS stay with the advisor).
CREATE TABLE channel_settings (
	channel          sb_channel PRIMARY KEY,
	default_capacity smallint   NOT NULL CHECK (default_capacity BETWEEN 0 AND 50),
	live             boolean    NOT NULL
);
INSERT INTO channel_settings (channel, default_capacity, live) VALUES
	('chat', 3, true),
	('email', 5, false),
	('sms', 5, false),
	('voice', 1, true),
	('visit', 1, true);

-- An advisor's own capacity on a channel, overriding the default.
CREATE TABLE staff_capacity (
	staff_id   bigint     NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
	channel    sb_channel NOT NULL,
	capacity   smallint   NOT NULL CHECK (capacity BETWEEN 0 AND 50),
	PRIMARY KEY (staff_id, channel)
);

-- Blending: while an advisor has work on busy_channel, they are offered
-- nothing on blocked_channel (a live call blocks new chats).
CREATE TABLE blending_rules (
	busy_channel    sb_channel NOT NULL,
	blocked_channel sb_channel NOT NULL,
	PRIMARY KEY (busy_channel, blocked_channel),
	CONSTRAINT blending_rules_distinct CHECK (busy_channel <> blocked_channel)
);
INSERT INTO blending_rules (busy_channel, blocked_channel) VALUES
	('voice', 'chat'),
	('voice', 'visit'),
	('visit', 'chat'),
	('visit', 'voice');

-- The routing epoch: bumped by every rebuild of the Redis state.
CREATE TABLE router_state (
	id    smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	epoch bigint   NOT NULL DEFAULT 0 CHECK (epoch >= 0)
);
INSERT INTO router_state (id, epoch) VALUES (1, 0);

-- The rebuild reads every conversation still in routing.
CREATE INDEX conversations_in_routing ON conversations (status, queue_id)
	WHERE status IN ('waiting', 'offered', 'assigned', 'wrap_up');

-- Routing events carry the version of the decision they record, so writing
-- one again (a retry after a lost connection) adds nothing.
ALTER TABLE conversation_events
	ADD COLUMN route_version bigint NULL CHECK (route_version >= 0);
CREATE UNIQUE INDEX conversation_events_route_once
	ON conversation_events (conversation_id, kind, route_version)
	WHERE route_version IS NOT NULL;
