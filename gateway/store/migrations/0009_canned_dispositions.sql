-- 0009_canned_dispositions: canned responses for the desk's composer, and
-- wrap-up dispositions (reason and outcome codes per queue, and the
-- disposition stored when an advisor wraps a conversation up). See
-- docs/api.md and docs/routing-protocol.md (conversation.wrap_up).

-- A canned response: body text with placeholders ({resident.name}, ...)
-- that the desk expands before the advisor sends it (docs/desk.md).
-- queue_id NULL: offered on every queue. Never deleted: deactivated.
CREATE TABLE canned_responses (
	id          bigserial   PRIMARY KEY,
	title       text        NOT NULL CHECK (btrim(title) <> '' AND length(title) <= 200),
	body        text        NOT NULL CHECK (btrim(body) <> '' AND length(body) <= 4000),
	-- Typed after '/' at the start of the composer.
	shortcut    text        NULL CHECK (shortcut ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
	queue_id    bigint      NULL REFERENCES queues (id) ON DELETE CASCADE,
	active      boolean     NOT NULL DEFAULT true,
	created_by  bigint      NULL REFERENCES staff_users (id),
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_by  bigint      NULL REFERENCES staff_users (id),
	updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One active response per shortcut: the desk finds it by shortcut alone.
CREATE UNIQUE INDEX canned_responses_shortcut_key ON canned_responses (shortcut)
	WHERE active AND shortcut IS NOT NULL;
CREATE INDEX canned_responses_queue_idx ON canned_responses (queue_id);

-- Wrap-up codes of a queue: why the resident got in touch (reason) and how
-- it ended (outcome). Never deleted (stored dispositions point at them):
-- deactivated.
CREATE TABLE disposition_codes (
	id          bigserial   PRIMARY KEY,
	queue_id    bigint      NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
	kind        text        NOT NULL CHECK (kind IN ('reason', 'outcome')),
	code        text        NOT NULL CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
	label       text        NOT NULL CHECK (btrim(label) <> '' AND length(label) <= 200),
	active      boolean     NOT NULL DEFAULT true,
	position    integer     NOT NULL DEFAULT 0,
	updated_by  bigint      NULL REFERENCES staff_users (id),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT disposition_codes_key UNIQUE (queue_id, kind, code)
);

-- How a conversation was wrapped up: one per conversation (a second
-- wrap-up, say after a failed release, replaces it).
CREATE TABLE conversation_dispositions (
	conversation_id bigint      PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
	queue_id        bigint      NULL REFERENCES queues (id),
	reason_id       bigint      NULL REFERENCES disposition_codes (id),
	outcome_id      bigint      NULL REFERENCES disposition_codes (id),
	note            text        NOT NULL DEFAULT '' CHECK (length(note) <= 4000),
	staff_id        bigint      NULL REFERENCES staff_users (id),
	created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX conversation_dispositions_queue_idx ON conversation_dispositions (queue_id, created_at);
