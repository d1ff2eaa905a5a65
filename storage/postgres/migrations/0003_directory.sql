-- 0003: directory administration (issue 5) — external IDs, service-account
-- roles, retired employee IDs, the audit trail.

-- external_id is the HR system's key for a person; NULL = none. NULLs are
-- distinct in a UNIQUE index, so only set values must differ.
ALTER TABLE employees ADD COLUMN external_id text;
CREATE UNIQUE INDEX employees_external_id ON employees (external_id);
CREATE INDEX employees_status ON employees (status);

-- service_roles: directory roles a client_credentials token of the client
-- holds; NULL = none (nil), '{}' = an empty list.
ALTER TABLE clients ADD COLUMN service_roles text[];

-- employee_id_history keeps every retired employee ID: it is never issued
-- again (CreateEmployee and UpdateEmployee consult it) and never signs in.
CREATE TABLE employee_id_history (
	employee_id text COLLATE "C" NOT NULL PRIMARY KEY,
	subject     text        NOT NULL REFERENCES employees (subject),
	entity      text        NOT NULL,
	retired_at  timestamptz NOT NULL,
	reason      text        NOT NULL
);

CREATE INDEX employee_id_history_subject ON employee_id_history (subject);

-- audit_events: who did what to whom, and why. seq orders events.
CREATE TABLE audit_events (
	seq    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id     text        NOT NULL UNIQUE,
	at     timestamptz NOT NULL,
	actor  text        NOT NULL,
	action text        NOT NULL,
	target text        NOT NULL,
	reason text        NOT NULL,
	detail text        NOT NULL
);

CREATE INDEX audit_events_target ON audit_events (target, seq);
