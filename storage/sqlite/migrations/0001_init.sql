-- 0001: the whole walking-skeleton schema.
-- Times are INTEGER unix microseconds, UTC. Lists are JSON text ("null" keeps
-- a nil slice apart from an empty one). Codes are stored canonical.

CREATE TABLE entities (
	code       TEXT    NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	id_rule    TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE departments (
	id         TEXT    NOT NULL PRIMARY KEY,
	entity     TEXT    NOT NULL REFERENCES entities (code),
	code       TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	parent_id  TEXT    REFERENCES departments (id),
	created_at INTEGER NOT NULL,
	UNIQUE (entity, code)
) STRICT;

CREATE INDEX departments_parent ON departments (parent_id);

CREATE TABLE employees (
	subject       TEXT    NOT NULL PRIMARY KEY,
	employee_id   TEXT    NOT NULL UNIQUE,
	entity        TEXT    NOT NULL REFERENCES entities (code),
	department_id TEXT    REFERENCES departments (id),
	name          TEXT    NOT NULL,
	email         TEXT    NOT NULL,
	title         TEXT    NOT NULL,
	status        TEXT    NOT NULL,
	password_hash TEXT    NOT NULL,
	totp_secret   BLOB,
	version       INTEGER NOT NULL,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX employees_department ON employees (department_id);

-- sequences hands out employee-ID numbers; value is the last number used.
CREATE TABLE sequences (
	key   TEXT    NOT NULL PRIMARY KEY,
	value INTEGER NOT NULL
) STRICT;

CREATE TABLE role_grants (
	subject       TEXT    NOT NULL REFERENCES employees (subject) ON DELETE CASCADE,
	role          TEXT    NOT NULL,
	department_id TEXT    NOT NULL, -- '' = the whole directory
	created_at    INTEGER NOT NULL,
	PRIMARY KEY (subject, role, department_id)
) STRICT;

CREATE TABLE clients (
	id                        TEXT    NOT NULL PRIMARY KEY,
	name                      TEXT    NOT NULL,
	secret_hash               BLOB,
	public                    INTEGER NOT NULL,
	redirect_uris             TEXT    NOT NULL,
	post_logout_redirect_uris TEXT    NOT NULL,
	grant_types               TEXT    NOT NULL,
	scopes                    TEXT    NOT NULL,
	access_token_format       TEXT    NOT NULL,
	require_mfa               INTEGER NOT NULL,
	allowed_departments       TEXT    NOT NULL,
	allowed_roles             TEXT    NOT NULL,
	backchannel_logout_uri    TEXT    NOT NULL,
	access_token_ttl          INTEGER NOT NULL, -- nanoseconds
	id_token_ttl              INTEGER NOT NULL,
	refresh_token_ttl         INTEGER NOT NULL,
	created_at                INTEGER NOT NULL
) STRICT;

CREATE TABLE signing_keys (
	id           TEXT    NOT NULL PRIMARY KEY,
	algorithm    TEXT    NOT NULL,
	state        TEXT    NOT NULL,
	private_key  BLOB,
	public_key   BLOB,
	created_at   INTEGER NOT NULL,
	activates_at INTEGER NOT NULL,
	retires_at   INTEGER NOT NULL,
	version      INTEGER NOT NULL
) STRICT;

CREATE TABLE refresh_tokens (
	id         TEXT    NOT NULL PRIMARY KEY,
	family_id  TEXT    NOT NULL,
	client_id  TEXT    NOT NULL,
	subject    TEXT    NOT NULL,
	scopes     TEXT    NOT NULL,
	audience   TEXT    NOT NULL,
	auth_time  INTEGER NOT NULL,
	amr        TEXT    NOT NULL,
	acr        TEXT    NOT NULL,
	session_id TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	spent      INTEGER NOT NULL,
	revoked    INTEGER NOT NULL
) STRICT;

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE settings (
	key   TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;

-- Ephemeral state. Every row carries expires_at; reads ignore expired rows
-- and Store.Sweep deletes them.

-- An auth request carries its one code: code_hash is SHA-256 of the code
-- (the code itself is a bearer secret and is never stored).
CREATE TABLE auth_requests (
	id                    TEXT    NOT NULL PRIMARY KEY,
	client_id             TEXT    NOT NULL,
	redirect_uri          TEXT    NOT NULL,
	scopes                TEXT    NOT NULL,
	state                 TEXT    NOT NULL,
	nonce                 TEXT    NOT NULL,
	response_type         TEXT    NOT NULL,
	response_mode         TEXT    NOT NULL,
	code_challenge        TEXT    NOT NULL,
	code_challenge_method TEXT    NOT NULL,
	prompt                TEXT    NOT NULL,
	max_age               INTEGER, -- nanoseconds; NULL = not requested
	ui_locales            TEXT    NOT NULL,
	login_hint            TEXT    NOT NULL,
	acr_values            TEXT    NOT NULL,
	hint_subject          TEXT    NOT NULL,
	created_at            INTEGER NOT NULL,
	expires_at            INTEGER NOT NULL,
	done                  INTEGER NOT NULL,
	subject               TEXT    NOT NULL,
	auth_time             INTEGER NOT NULL,
	amr                   TEXT    NOT NULL,
	acr                   TEXT    NOT NULL,
	session_id            TEXT    NOT NULL,
	code_hash             BLOB    UNIQUE,
	code_expires_at       INTEGER,
	code_used             INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX auth_requests_expires ON auth_requests (expires_at);

CREATE TABLE sessions (
	id         TEXT    NOT NULL PRIMARY KEY,
	subject    TEXT    NOT NULL,
	auth_time  INTEGER NOT NULL,
	amr        TEXT    NOT NULL,
	acr        TEXT    NOT NULL,
	client_ids TEXT    NOT NULL,
	user_agent TEXT    NOT NULL,
	remote_ip  TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_subject ON sessions (subject);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE access_tokens (
	id             TEXT    NOT NULL PRIMARY KEY,
	client_id      TEXT    NOT NULL,
	subject        TEXT    NOT NULL,
	scopes         TEXT    NOT NULL,
	audience       TEXT    NOT NULL,
	refresh_family TEXT    NOT NULL,
	session_id     TEXT    NOT NULL,
	created_at     INTEGER NOT NULL,
	expires_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX access_tokens_family ON access_tokens (refresh_family);
CREATE INDEX access_tokens_subject ON access_tokens (subject);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

-- hits is a fixed-window counter per key (rate limiting).
CREATE TABLE hits (
	key        TEXT    NOT NULL PRIMARY KEY,
	count      INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

-- totp_steps remembers the last TOTP time step each subject used.
CREATE TABLE totp_steps (
	subject    TEXT    NOT NULL PRIMARY KEY,
	step       INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
