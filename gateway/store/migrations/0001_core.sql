-- 0001_core.sql — Switchboard's core schema (PostgreSQL 15).
--
-- Council settings, staff, customers and their identities, queues with their
-- channels, members and opening hours, conversations with their messages,
-- attachments and routing events, the outbound message outbox and the
-- append-only audit log.
--
-- Applied by the daemon at start-up and by `switchboard migrate`, inside one
-- transaction, under an advisory lock; see docs/schema.md. The daemon sends
-- the whole file as one simple-protocol query: the function bodies below are
-- dollar-quoted and contain semicolons, so the file must never be split on ';'.
-- Never edit this file once it has been applied anywhere: add a new NNNN_name.sql.
--
-- Naming: our SQL functions and domains start with sb_. Every timestamp is
-- timestamptz; free-text columns are NOT NULL DEFAULT '' unless "unknown"
-- must be told apart from "empty".

-- ---------------------------------------------------------------------------
-- Shared helpers
-- ---------------------------------------------------------------------------

-- The channels a contact can arrive on or leave by. A domain, so adding a
-- channel later is one ALTER DOMAIN in a new migration.
CREATE DOMAIN sb_channel AS text
	CHECK (VALUE IN ('chat', 'email', 'sms', 'voice', 'visit'));

-- BEFORE UPDATE: stamp updated_at unless the statement set it explicitly.
CREATE FUNCTION sb_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
		NEW.updated_at := now();
	END IF;
	RETURN NEW;
END;
$$;

-- ---------------------------------------------------------------------------
-- Council (single tenant for now: exactly one row, id = 1)
-- ---------------------------------------------------------------------------

CREATE TABLE councils (
	id          smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	slug        text        NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
	name        text        NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 200),
	-- IANA zone name; opening hours and closure days are read in this zone.
	timezone    text        NOT NULL DEFAULT 'Europe/London',
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Reject a time zone PostgreSQL does not know (the cast raises 22023).
CREATE FUNCTION sb_councils_check_timezone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM now() AT TIME ZONE NEW.timezone;
	RETURN NEW;
END;
$$;

CREATE TRIGGER councils_check_timezone BEFORE INSERT OR UPDATE OF timezone ON councils
	FOR EACH ROW EXECUTE FUNCTION sb_councils_check_timezone();
CREATE TRIGGER councils_touch BEFORE UPDATE ON councils
	FOR EACH ROW EXECUTE FUNCTION sb_touch_updated_at();

-- ---------------------------------------------------------------------------
-- Staff (created by `switchboard user add`, Argon2id hashes; never seeded)
-- The C code depends on exactly these columns.
-- ---------------------------------------------------------------------------

CREATE TABLE staff_users (
	id            bigserial   PRIMARY KEY,
	login         text        NOT NULL UNIQUE CHECK (length(login) BETWEEN 1 AND 128),
	display_name  text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
	password_hash text        NOT NULL,
	role          text        NOT NULL CHECK (role IN ('advisor', 'supervisor', 'feedback_officer', 'admin')),
	disabled      boolean     NOT NULL DEFAULT false,
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER staff_users_touch BEFORE UPDATE ON staff_users
	FOR EACH ROW EXECUTE FUNCTION sb_touch_updated_at();

-- ---------------------------------------------------------------------------
-- Customers and identities
-- ---------------------------------------------------------------------------

CREATE TABLE customers (
	id                     bigserial   PRIMARY KEY,
	-- '' until the customer tells us (an SMS from an unknown number).
	display_name           text        NOT NULL DEFAULT '' CHECK (length(display_name) <= 200),
	vulnerable             boolean     NOT NULL DEFAULT false,
	reasonable_adjustments text        NOT NULL DEFAULT '' CHECK (length(reasonable_adjustments) <= 4000),
	-- BCP 47 tag: 'en', 'cy' (Welsh), 'bfi' (British Sign Language), 'pl', 'pt-BR'.
	preferred_language     text        NOT NULL DEFAULT 'en'
	                                   CHECK (preferred_language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$'),
	preferred_channel      sb_channel  NULL,   -- NULL: no preference stated
	created_at             timestamptz NOT NULL DEFAULT now(),
	updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER customers_touch BEFORE UPDATE ON customers
	FOR EACH ROW EXECUTE FUNCTION sb_touch_updated_at();

-- How a contact is tied to a customer. One (kind, value) belongs to exactly
-- one customer: ingest looks it up, and creates customer + identity if absent.
CREATE TABLE customer_identities (
	id          bigserial   PRIMARY KEY,
	customer_id bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
	kind        text        NOT NULL CHECK (kind IN ('email', 'phone', 'chat', 'uprn')),
	value       text        NOT NULL CHECK (length(value) BETWEEN 1 AND 320),
	verified    boolean     NOT NULL DEFAULT false,
	created_at  timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT customer_identities_kind_value_key UNIQUE (kind, value),
	-- E.164: '+' then 7 to 15 digits, no spaces.
	CONSTRAINT customer_identities_phone_e164 CHECK
		(kind <> 'phone' OR value ~ '^\+[1-9][0-9]{6,14}$'),
	-- Stored lower-cased (insert lower($1)) so lookups are exact matches.
	CONSTRAINT customer_identities_email_lower CHECK
		(kind <> 'email' OR (value = lower(value) AND value ~ '^[^@[:space:]]+@[^@[:space:]]+$')),
	-- Unique Property Reference Number: 1 to 12 digits.
	CONSTRAINT customer_identities_uprn_digits CHECK
		(kind <> 'uprn' OR value ~ '^[1-9][0-9]{0,11}$'),
	-- The widget's visitor token: printable ASCII, no spaces.
	CONSTRAINT customer_identities_chat_token CHECK
		(kind <> 'chat' OR value ~ '^[!-~]{1,200}$')
);

CREATE INDEX customer_identities_customer_idx ON customer_identities (customer_id);

-- ---------------------------------------------------------------------------
-- Queues
-- ---------------------------------------------------------------------------

CREATE TABLE queues (
	id                    bigserial   PRIMARY KEY,
	slug                  text        NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
	name                  text        NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 200),
	description           text        NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
	-- Higher is served first when an advisor is free for several queues.
	priority              integer     NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100),
	-- Waiting longer than overflow_after_s also offers the contact to
	-- overflow_queue_id's members. Both set or both NULL.
	overflow_queue_id     bigint      NULL REFERENCES queues (id),
	overflow_after_s      integer     NULL CHECK (overflow_after_s > 0),
	-- Shown/spoken to residents when the queue is closed.
	out_of_hours_message  text        NOT NULL DEFAULT '' CHECK (length(out_of_hours_message) <= 2000),
	-- An inactive queue takes no new contacts; queues are never deleted.
	active                boolean     NOT NULL DEFAULT true,
	created_at            timestamptz NOT NULL DEFAULT now(),
	updated_at            timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT queues_overflow_pair CHECK
		((overflow_queue_id IS NULL) = (overflow_after_s IS NULL)),
	CONSTRAINT queues_overflow_not_self CHECK (overflow_queue_id <> id)
);

CREATE TRIGGER queues_touch BEFORE UPDATE ON queues
	FOR EACH ROW EXECUTE FUNCTION sb_touch_updated_at();

-- The channels a queue accepts (a row per channel) and how each is served.
CREATE TABLE queue_channels (
	queue_id          bigint      NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
	channel           sb_channel  NOT NULL,
	-- Service level: service_level_pct % of contacts answered within answer_target_s.
	answer_target_s   integer     NOT NULL CHECK (answer_target_s > 0),
	service_level_pct smallint    NOT NULL DEFAULT 80 CHECK (service_level_pct BETWEEN 1 AND 100),
	-- push: the router offers contacts to advisors; pull: advisors pick from the list.
	routing_mode      text        NOT NULL DEFAULT 'push' CHECK (routing_mode IN ('push', 'pull')),
	-- Outside opening hours (queue_hours, closure_days):
	--   queue          accept and hold until the queue opens (email, SMS)
	--   leave_message  offer to leave a message, held until the queue opens (chat)
	--   closed         refuse with queues.out_of_hours_message (voice, visit)
	--   overflow       route to queues.overflow_queue_id now (emergency lines)
	out_of_hours      text        NOT NULL DEFAULT 'queue'
	                              CHECK (out_of_hours IN ('queue', 'leave_message', 'closed', 'overflow')),
	created_at        timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (queue_id, channel)
);

CREATE TABLE queue_members (
	staff_id    bigint      NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
	queue_id    bigint      NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
	-- 1 (can cover) .. 10 (specialist); the router prefers higher.
	proficiency smallint    NOT NULL DEFAULT 5 CHECK (proficiency BETWEEN 1 AND 10),
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (staff_id, queue_id)
);

CREATE INDEX queue_members_queue_idx ON queue_members (queue_id);

-- Weekly opening intervals in the council's local time (councils.timezone).
-- A queue is open when now falls in one of its intervals and the day is not a
-- closure day. No row for a weekday: closed all day. Overnight opening is two
-- rows (22:00–24:00 and 00:00–06:00 the next day).
CREATE TABLE queue_hours (
	id         bigserial   PRIMARY KEY,
	queue_id   bigint      NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
	weekday    smallint    NOT NULL CHECK (weekday BETWEEN 1 AND 7),  -- ISO: 1 Monday .. 7 Sunday
	opens_at   time        NOT NULL,
	closes_at  time        NOT NULL,                                   -- exclusive; '24:00' allowed
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT queue_hours_interval CHECK (closes_at > opens_at),
	CONSTRAINT queue_hours_queue_weekday_opens_key UNIQUE (queue_id, weekday, opens_at)
);

-- Reject overlapping intervals on the same queue and weekday. The queue row is
-- locked so two concurrent edits cannot both pass. A row with the same
-- (queue, weekday, opens_at) is left to the unique constraint, so that
-- INSERT ... ON CONFLICT DO NOTHING stays idempotent.
CREATE FUNCTION sb_queue_hours_no_overlap() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM queues WHERE id = NEW.queue_id FOR NO KEY UPDATE;
	IF EXISTS (SELECT 1 FROM queue_hours h
	           WHERE h.queue_id = NEW.queue_id
	             AND h.weekday = NEW.weekday
	             AND h.id <> NEW.id
	             AND h.opens_at <> NEW.opens_at
	             AND h.opens_at < NEW.closes_at
	             AND NEW.opens_at < h.closes_at) THEN
		RAISE EXCEPTION 'queue_hours: % on weekday % overlaps another interval of queue %',
			NEW.opens_at || '-' || NEW.closes_at, NEW.weekday, NEW.queue_id
			USING ERRCODE = 'exclusion_violation';
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER queue_hours_no_overlap BEFORE INSERT OR UPDATE ON queue_hours
	FOR EACH ROW EXECUTE FUNCTION sb_queue_hours_no_overlap();

-- Whole days on which queues are closed: bank holidays, closure days.
-- queue_id NULL: every queue. At most one row per (queue_id, day), NULL included.
CREATE TABLE closure_days (
	id         bigserial   PRIMARY KEY,
	queue_id   bigint      NULL REFERENCES queues (id) ON DELETE CASCADE,
	day        date        NOT NULL,
	kind       text        NOT NULL DEFAULT 'closure' CHECK (kind IN ('bank_holiday', 'closure')),
	name       text        NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 200),
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT closure_days_queue_day_key UNIQUE NULLS NOT DISTINCT (queue_id, day)
);

CREATE INDEX closure_days_day_idx ON closure_days (day);

-- ---------------------------------------------------------------------------
-- Conversations
-- ---------------------------------------------------------------------------

-- Human reference numbers: 'SB' + number + Luhn check digit, e.g. SB10000008.
-- The check digit catches a mistyped or misheard digit on the phone.
CREATE SEQUENCE conversation_reference_seq START WITH 1000000;

CREATE FUNCTION sb_conversation_reference() RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	n   text    := nextval('conversation_reference_seq')::text;
	total integer := 0;
	d   integer;
	dbl boolean := true;
BEGIN
	FOR i IN REVERSE length(n)..1 LOOP
		d := substr(n, i, 1)::integer;
		IF dbl THEN
			d := d * 2;
			IF d > 9 THEN
				d := d - 9;
			END IF;
		END IF;
		total := total + d;
		dbl := NOT dbl;
	END LOOP;
	RETURN 'SB' || n || ((10 - total % 10) % 10)::text;
END;
$$;

CREATE TABLE conversations (
	id                bigserial   PRIMARY KEY,
	customer_id       bigint      NOT NULL REFERENCES customers (id),
	channel           sb_channel  NOT NULL,
	-- NULL only before routing or for staff-initiated contacts.
	queue_id          bigint      NULL REFERENCES queues (id),
	status            text        NOT NULL DEFAULT 'open'
	                              CHECK (status IN ('open', 'waiting', 'offered', 'assigned',
	                                                'wrap_up', 'closed', 'awaiting_customer')),
	assigned_staff_id bigint      NULL REFERENCES staff_users (id),
	subject           text        NOT NULL DEFAULT '' CHECK (length(subject) <= 998),
	reference         text        NOT NULL UNIQUE DEFAULT sb_conversation_reference()
	                              CHECK (reference ~ '^[A-Z][A-Z0-9-]{2,31}$'),
	priority          integer     NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 100),
	created_at        timestamptz NOT NULL DEFAULT now(),
	queued_at         timestamptz NULL,   -- last time it entered a queue (FIFO order)
	first_response_at timestamptz NULL,   -- first staff message out; set by the C code
	closed_at         timestamptz NULL,   -- maintained by trigger from status
	updated_at        timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT conversations_assigned_has_staff CHECK
		(status NOT IN ('assigned', 'wrap_up') OR assigned_staff_id IS NOT NULL),
	CONSTRAINT conversations_queued_has_queue CHECK
		(status NOT IN ('waiting', 'offered') OR queue_id IS NOT NULL),
	CONSTRAINT conversations_closed_at CHECK
		((status = 'closed') = (closed_at IS NOT NULL))
);

ALTER SEQUENCE conversation_reference_seq OWNED BY conversations.reference;

-- closed_at follows status: set on closing (unless given), cleared on reopening.
CREATE FUNCTION sb_conversations_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.status = 'closed' THEN
		IF NEW.closed_at IS NULL THEN
			NEW.closed_at := now();
		END IF;
	ELSE
		NEW.closed_at := NULL;
	END IF;
	IF TG_OP = 'UPDATE' AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
		NEW.updated_at := now();
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER conversations_touch BEFORE INSERT OR UPDATE ON conversations
	FOR EACH ROW EXECUTE FUNCTION sb_conversations_touch();

-- A customer's history, newest first.
CREATE INDEX conversations_customer_idx ON conversations (customer_id, created_at DESC, id DESC);
-- Live work by queue and status in arrival order (router rebuild, wallboard).
CREATE INDEX conversations_queue_live_idx ON conversations (queue_id, status, queued_at)
	WHERE status <> 'closed';
-- An advisor's current work.
CREATE INDEX conversations_staff_live_idx ON conversations (assigned_staff_id)
	WHERE status <> 'closed' AND assigned_staff_id IS NOT NULL;
-- Figures by day.
CREATE INDEX conversations_created_idx ON conversations (created_at);
CREATE INDEX conversations_closed_idx ON conversations (closed_at) WHERE closed_at IS NOT NULL;

-- Routing and history events, appended by the router and the desk
-- ('created', 'queued', 'offered', 'offer_declined', 'offer_expired',
-- 'accepted', 'transferred', 'overflowed', 'wrap_up', 'closed', 'reopened', ...).
CREATE TABLE conversation_events (
	id              bigserial   PRIMARY KEY,
	conversation_id bigint      NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	at              timestamptz NOT NULL DEFAULT now(),
	kind            text        NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
	staff_id        bigint      NULL REFERENCES staff_users (id),
	queue_id        bigint      NULL REFERENCES queues (id),
	detail          jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object')
);

CREATE INDEX conversation_events_conversation_idx ON conversation_events (conversation_id, id);
CREATE INDEX conversation_events_kind_at_idx ON conversation_events (kind, at);

-- ---------------------------------------------------------------------------
-- Messages and attachments
-- The C code (and its benchmark) depends on exactly these message columns.
-- ---------------------------------------------------------------------------

CREATE TABLE messages (
	id              bigserial   PRIMARY KEY,
	conversation_id bigint      NOT NULL REFERENCES conversations (id),
	direction       text        NOT NULL CHECK (direction IN ('in', 'out', 'internal')),
	author_kind     text        NOT NULL CHECK (author_kind IN ('customer', 'staff', 'system')),
	author_staff_id bigint      NULL REFERENCES staff_users (id),
	body            text        NOT NULL DEFAULT '',
	metadata        jsonb       NOT NULL DEFAULT '{}',
	-- Where it came from: 'chat', 'imap:<mailbox>', 'notify', 'twilio', 'desk', ...
	source          text        NOT NULL,
	-- The source's own id (client message id, UIDVALIDITY:UID, provider id);
	-- NULL when the source has none. (source, external_id) de-duplicates ingest.
	external_id     text        NULL,
	created_at      timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT messages_source_external_id_key UNIQUE (source, external_id),
	CONSTRAINT messages_source_format CHECK (length(source) BETWEEN 1 AND 200),
	CONSTRAINT messages_external_id_format CHECK
		(external_id IS NULL OR length(external_id) BETWEEN 1 AND 1000),
	CONSTRAINT messages_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
	-- A staff message names its author; nobody else's does.
	CONSTRAINT messages_staff_author CHECK
		((author_kind = 'staff') = (author_staff_id IS NOT NULL)),
	-- Customers only write inbound; staff never do.
	CONSTRAINT messages_direction_author CHECK
		((direction = 'in' OR author_kind <> 'customer') AND (direction <> 'in' OR author_kind <> 'staff'))
);

CREATE INDEX messages_conversation_idx ON messages (conversation_id, id);

CREATE TABLE attachments (
	id           bigserial   PRIMARY KEY,
	message_id   bigint      NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	-- Display name only, never a path: no '/', '\' or control characters.
	filename     text        NOT NULL CHECK (length(filename) BETWEEN 1 AND 255
	                                         AND filename !~ '[/\\[:cntrl:]]'),
	-- 'type/subtype' lower-cased, parameters stripped.
	content_type text        NOT NULL DEFAULT 'application/octet-stream'
	                         CHECK (content_type ~ '^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$'),
	disposition  text        NOT NULL DEFAULT 'attachment' CHECK (disposition IN ('attachment', 'inline')),
	content_id   text        NULL CHECK (length(content_id) BETWEEN 1 AND 998),  -- email cid:
	size_bytes   bigint      NOT NULL CHECK (size_bytes >= 0),
	sha256       bytea       NOT NULL CHECK (octet_length(sha256) = 32),
	-- Exactly one of: the bytes here, or a key into external object storage.
	content      bytea       NULL,
	storage_key  text        NULL CHECK (length(storage_key) BETWEEN 1 AND 1024),
	scan_status  text        NOT NULL DEFAULT 'unscanned'
	                         CHECK (scan_status IN ('unscanned', 'clean', 'infected', 'error')),
	created_at   timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT attachments_one_store CHECK (num_nonnulls(content, storage_key) = 1),
	CONSTRAINT attachments_size_matches CHECK (content IS NULL OR octet_length(content) = size_bytes)
);

-- Most attachments (PDF, JPEG, DOCX) are compressed already: store out of line
-- without trying to compress them again.
ALTER TABLE attachments ALTER COLUMN content SET STORAGE EXTERNAL;

CREATE INDEX attachments_message_idx ON attachments (message_id);
CREATE INDEX attachments_sha256_idx ON attachments (sha256);

-- ---------------------------------------------------------------------------
-- Outbox: everything outbound, written in the same transaction as the reply,
-- sent at least once by a retrying sender that claims rows with
-- FOR UPDATE SKIP LOCKED.
--   pending   waiting for next_attempt_at (also after a temporary failure,
--             with attempts + 1 and last_error)
--   sending   claimed; next_attempt_at is the claim's lease expiry, after
--             which another sender may reclaim it
--   sent      accepted by the provider (sent_at, provider_id)
--   failed    permanently refused (hard bounce, invalid number); not retried
--   dead      retries exhausted; needs a person
-- ---------------------------------------------------------------------------

CREATE TABLE outbox (
	id              bigserial   PRIMARY KEY,
	conversation_id bigint      NULL REFERENCES conversations (id) ON DELETE CASCADE,
	message_id      bigint      NULL REFERENCES messages (id) ON DELETE CASCADE,
	channel         sb_channel  NOT NULL,
	-- Email address, E.164 number or chat session id, per channel.
	destination     text        NOT NULL CHECK (length(destination) BETWEEN 1 AND 1000),
	payload         jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
	status          text        NOT NULL DEFAULT 'pending'
	                            CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dead')),
	attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	last_error      text        NULL,
	provider_id     text        NULL CHECK (length(provider_id) BETWEEN 1 AND 1000),
	-- Optional: makes enqueueing idempotent (e.g. 'autoreply:<message id>').
	dedupe_key      text        NULL UNIQUE CHECK (length(dedupe_key) BETWEEN 1 AND 500),
	created_at      timestamptz NOT NULL DEFAULT now(),
	sent_at         timestamptz NULL,
	CONSTRAINT outbox_sent_at CHECK (status <> 'sent' OR sent_at IS NOT NULL)
);

-- Rows a sender may claim: pending and due, or sending with an expired lease.
CREATE INDEX outbox_ready_idx ON outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_conversation_idx ON outbox (conversation_id) WHERE conversation_id IS NOT NULL;
CREATE INDEX outbox_message_idx ON outbox (message_id) WHERE message_id IS NOT NULL;
-- Delivery receipts find their row by the provider's id.
CREATE INDEX outbox_provider_idx ON outbox (channel, provider_id) WHERE provider_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- Audit log: append-only. UPDATE, DELETE and TRUNCATE raise.
-- ---------------------------------------------------------------------------

CREATE TABLE audit_log (
	id             bigserial   PRIMARY KEY,
	at             timestamptz NOT NULL DEFAULT now(),
	actor_staff_id bigint      NULL REFERENCES staff_users (id),
	-- Who, as text even when actor_staff_id is set: a login, 'system',
	-- 'cli', 'customer:<id>'.
	actor          text        NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
	-- Dotted verb: 'staff.login', 'conversation.transfer', 'customer.view'.
	action         text        NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$'
	                                           AND length(action) <= 100),
	object_kind    text        NULL CHECK (length(object_kind) BETWEEN 1 AND 100),
	object_id      text        NULL CHECK (length(object_id) BETWEEN 1 AND 200),
	detail         jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
	ip             inet        NULL
);

CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_object_idx ON audit_log (object_kind, object_id, at) WHERE object_kind IS NOT NULL;
CREATE INDEX audit_log_actor_idx ON audit_log (actor_staff_id, at) WHERE actor_staff_id IS NOT NULL;

CREATE FUNCTION sb_audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION sb_audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION sb_audit_log_append_only();
