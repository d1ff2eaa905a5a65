-- 0001: the whole walking-skeleton schema, written for PostgreSQL.
-- Times are timestamptz (microseconds, written in UTC); a time that may be
-- "not set" is nullable and NULL means unset. Lists are text[]: NULL keeps a
-- nil slice apart from an empty one. Durations are bigint nanoseconds. Codes
-- are stored canonical (upper case, trimmed) and collate as "C": they sort
-- and compare byte-wise, as in every other backend, whatever the database's
-- locale, and prefix searches can use their indexes.

CREATE TABLE entities (
	code       text COLLATE "C" NOT NULL PRIMARY KEY,
	name       text        NOT NULL,
	id_rule    text        NOT NULL,
	created_at timestamptz NOT NULL
);

CREATE TABLE departments (
	id         text        NOT NULL PRIMARY KEY,
	entity     text COLLATE "C" NOT NULL REFERENCES entities (code),
	code       text COLLATE "C" NOT NULL,
	name       text        NOT NULL,
	parent_id  text        REFERENCES departments (id),
	created_at timestamptz NOT NULL,
	UNIQUE (entity, code)
);

CREATE INDEX departments_parent ON departments (parent_id);

CREATE TABLE employees (
	subject       text        NOT NULL PRIMARY KEY,
	employee_id   text COLLATE "C" NOT NULL,
	entity        text COLLATE "C" NOT NULL REFERENCES entities (code),
	department_id text        REFERENCES departments (id),
	name          text        NOT NULL,
	email         text        NOT NULL,
	title         text        NOT NULL,
	status        text        NOT NULL,
	password_hash text        NOT NULL,
	totp_secret   bytea,      -- NULL: not enrolled
	version       bigint      NOT NULL,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	-- Named: CreateEmployee's ON CONFLICT steps over generated IDs that
	-- this constraint says are taken.
	CONSTRAINT employees_employee_id_key UNIQUE (employee_id)
);

CREATE INDEX employees_department ON employees (department_id);
CREATE INDEX employees_entity ON employees (entity);

-- sequences hands out employee-ID numbers; value is the last number used.
CREATE TABLE sequences (
	key   text   NOT NULL PRIMARY KEY,
	value bigint NOT NULL
);

CREATE TABLE role_grants (
	subject       text        NOT NULL REFERENCES employees (subject) ON DELETE CASCADE,
	role          text        NOT NULL,
	department_id text        NOT NULL, -- '' = the whole directory
	created_at    timestamptz NOT NULL,
	PRIMARY KEY (subject, role, department_id)
);

CREATE TABLE clients (
	id                        text        NOT NULL PRIMARY KEY,
	name                      text        NOT NULL,
	secret_hash               bytea,
	public                    boolean     NOT NULL,
	redirect_uris             text[],
	post_logout_redirect_uris text[],
	grant_types               text[],
	scopes                    text[],
	access_token_format       text        NOT NULL,
	require_mfa               boolean     NOT NULL,
	allowed_departments       text[],
	allowed_roles             text[],
	backchannel_logout_uri    text        NOT NULL,
	access_token_ttl          bigint      NOT NULL, -- nanoseconds; 0 = server default
	id_token_ttl              bigint      NOT NULL,
	refresh_token_ttl         bigint      NOT NULL,
	created_at                timestamptz NOT NULL
);

CREATE TABLE signing_keys (
	id           text        NOT NULL PRIMARY KEY,
	algorithm    text        NOT NULL,
	state        text        NOT NULL,
	private_key  bytea,
	public_key   bytea,
	created_at   timestamptz NOT NULL,
	activates_at timestamptz,
	retires_at   timestamptz, -- NULL until retired
	version      bigint      NOT NULL
);

CREATE TABLE refresh_tokens (
	id         text        NOT NULL PRIMARY KEY,
	family_id  text        NOT NULL,
	client_id  text        NOT NULL,
	subject    text        NOT NULL,
	scopes     text[],
	audience   text[],
	auth_time  timestamptz,
	amr        text[],
	acr        text        NOT NULL,
	session_id text        NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	spent      boolean     NOT NULL,
	revoked    boolean     NOT NULL
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE settings (
	key   text NOT NULL PRIMARY KEY,
	value text NOT NULL
);

-- Ephemeral state. Every row carries expires_at; reads ignore expired rows
-- and Store.Sweep deletes them.

-- An auth request carries its one code: code_hash is SHA-256 of the code
-- (the code itself is a bearer secret and is never stored).
CREATE TABLE auth_requests (
	id                    text        NOT NULL PRIMARY KEY,
	client_id             text        NOT NULL,
	redirect_uri          text        NOT NULL,
	scopes                text[],
	state                 text        NOT NULL,
	nonce                 text        NOT NULL,
	response_type         text        NOT NULL,
	response_mode         text        NOT NULL,
	code_challenge        text        NOT NULL,
	code_challenge_method text        NOT NULL,
	prompt                text[],
	max_age               bigint, -- nanoseconds; NULL = not requested
	ui_locales            text[],
	login_hint            text        NOT NULL,
	acr_values            text[],
	hint_subject          text        NOT NULL,
	created_at            timestamptz NOT NULL,
	expires_at            timestamptz NOT NULL,
	done                  boolean     NOT NULL,
	subject               text        NOT NULL,
	auth_time             timestamptz,
	amr                   text[],
	acr                   text        NOT NULL,
	session_id            text        NOT NULL,
	code_hash             bytea       UNIQUE,
	code_expires_at       timestamptz,
	code_used             boolean     NOT NULL DEFAULT false
);

CREATE INDEX auth_requests_expires ON auth_requests (expires_at);

CREATE TABLE sessions (
	id         text        NOT NULL PRIMARY KEY,
	subject    text        NOT NULL,
	auth_time  timestamptz,
	amr        text[],
	acr        text        NOT NULL,
	client_ids text[],
	user_agent text        NOT NULL,
	remote_ip  text        NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);

CREATE INDEX sessions_subject ON sessions (subject);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE access_tokens (
	id             text        NOT NULL PRIMARY KEY,
	client_id      text        NOT NULL,
	subject        text        NOT NULL,
	scopes         text[],
	audience       text[],
	refresh_family text        NOT NULL, -- '' = not from a refresh family
	session_id     text        NOT NULL,
	created_at     timestamptz NOT NULL,
	expires_at     timestamptz NOT NULL
);

-- Partial: the many tokens with no family are never looked up by family.
CREATE INDEX access_tokens_family ON access_tokens (refresh_family) WHERE refresh_family <> '';
CREATE INDEX access_tokens_subject ON access_tokens (subject);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

-- hits is a fixed-window counter per key (rate limiting).
CREATE TABLE hits (
	key        text        NOT NULL PRIMARY KEY,
	count      bigint      NOT NULL,
	expires_at timestamptz NOT NULL
);

CREATE INDEX hits_expires ON hits (expires_at);

-- totp_steps remembers the last TOTP time step each subject used.
CREATE TABLE totp_steps (
	subject    text        NOT NULL PRIMARY KEY,
	step       bigint      NOT NULL,
	expires_at timestamptz NOT NULL
);

CREATE INDEX totp_steps_expires ON totp_steps (expires_at);
