-- 0003_staff_sessions: staff login sessions and failed-login throttling.
--
-- Used by gateway/session.c. A session is found by the SHA-256 of its
-- bearer token: the token itself is handed to the browser once and never
-- stored, so a copy of this table does not let anyone in. A session ends at
-- expires_at (absolute timeout), when last_seen_at is older than the idle
-- timeout (checked by the C code, which knows the configured value), or when
-- revoked_at is set (logout, or every session of a user revoked at once).
--
-- login_attempts records each password check (ok = false until it
-- succeeds), so failures can be counted per login and per client address in
-- a sliding window before any password is hashed. Logins that do not exist
-- are recorded too, so throttling does not tell them apart. Old rows are
-- removed by gw_session_prune.

CREATE TABLE staff_sessions (
	id           bigserial   PRIMARY KEY,
	-- SHA-256 of the token as the client sends it (base64url text).
	token_hash   bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
	staff_id     bigint      NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
	created_at   timestamptz NOT NULL DEFAULT now(),
	-- Updated at most about once a minute, not on every request.
	last_seen_at timestamptz NOT NULL DEFAULT now(),
	expires_at   timestamptz NOT NULL,
	revoked_at   timestamptz NULL,
	ip           inet        NULL,
	user_agent   text        NOT NULL DEFAULT '' CHECK (length(user_agent) <= 256)
);

-- Revoking every session of a user.
CREATE INDEX staff_sessions_staff_live_idx ON staff_sessions (staff_id)
	WHERE revoked_at IS NULL;
-- Pruning ended sessions.
CREATE INDEX staff_sessions_expires_idx ON staff_sessions (expires_at);

CREATE TABLE login_attempts (
	id    bigserial   PRIMARY KEY,
	login text        NOT NULL CHECK (length(login) BETWEEN 1 AND 128),
	ip    inet        NULL,
	at    timestamptz NOT NULL DEFAULT now(),
	ok    boolean     NOT NULL DEFAULT false
);

-- Failures of one login in the window, and its last success.
CREATE INDEX login_attempts_login_at_idx ON login_attempts (login, at);
CREATE INDEX login_attempts_login_ok_idx ON login_attempts (login, id) WHERE ok;
-- Failures from one address in the window.
CREATE INDEX login_attempts_ip_at_idx ON login_attempts (ip, at) WHERE ip IS NOT NULL;
-- Pruning.
CREATE INDEX login_attempts_at_idx ON login_attempts (at);
