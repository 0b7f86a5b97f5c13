-- 0004_staff_status: every routing status change of an advisor, for
-- reporting (time available, away, in wrap-up; missed-offer auto-away)
-- and for checking routing afterwards: with conversation_events, ordered
-- by route_version, it replays who could have been offered what, when.

CREATE TABLE staff_status_events (
	id            bigserial   PRIMARY KEY,
	staff_id      bigint      NOT NULL REFERENCES staff_users (id),
	at            timestamptz NOT NULL DEFAULT now(),
	status        text        NOT NULL
		CHECK (status IN ('available', 'busy', 'away', 'wrap_up', 'offline')),
	reason        text        NOT NULL DEFAULT ''
		CHECK (length(reason) <= 64),
	-- epoch * 2^32 + counter, in the same sequence as the routing
	-- decisions of conversation_events.route_version.
	route_version bigint      NOT NULL CHECK (route_version >= 0),
	instance      text        NOT NULL DEFAULT ''
);

-- Writing one again (a retry after a lost connection) adds nothing.
CREATE UNIQUE INDEX staff_status_events_once
	ON staff_status_events (staff_id, route_version);
CREATE INDEX staff_status_events_staff_at
	ON staff_status_events (staff_id, at);
