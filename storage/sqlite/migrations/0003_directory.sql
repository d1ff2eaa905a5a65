-- 0003: directory administration (issue 5) — external IDs, service-account
-- roles, retired employee IDs, the audit trail.

-- external_id is the HR system's key for a person; NULL = none. NULLs are
-- distinct in a UNIQUE index, so only set values must differ.
ALTER TABLE employees ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX employees_external_id ON employees (external_id);
CREATE INDEX employees_status ON employees (status);

-- service_roles: directory roles a client_credentials token of the client
-- holds (JSON list, "null" = none).
ALTER TABLE clients ADD COLUMN service_roles TEXT NOT NULL DEFAULT 'null';

-- employee_id_history keeps every retired employee ID: it is never issued
-- again (CreateEmployee and UpdateEmployee consult it) and never signs in.
CREATE TABLE employee_id_history (
	employee_id TEXT    NOT NULL PRIMARY KEY,
	subject     TEXT    NOT NULL REFERENCES employees (subject),
	entity      TEXT    NOT NULL,
	retired_at  INTEGER NOT NULL,
	reason      TEXT    NOT NULL
) STRICT;

CREATE INDEX employee_id_history_subject ON employee_id_history (subject);

-- audit_events: who did what to whom, and why. seq orders events.
CREATE TABLE audit_events (
	seq    INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	id     TEXT    NOT NULL UNIQUE,
	at     INTEGER NOT NULL,
	actor  TEXT    NOT NULL,
	action TEXT    NOT NULL,
	target TEXT    NOT NULL,
	reason TEXT    NOT NULL,
	detail TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_events_target ON audit_events (target, seq);
