-- 0002: signing-key lifecycle (issue 4).

-- key_events records every signing-key operation: who, when, why. The audit
-- log takes it over once it exists. seq orders events.
CREATE TABLE key_events (
	seq    INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	at     INTEGER NOT NULL,
	kid    TEXT    NOT NULL,
	action TEXT    NOT NULL,
	actor  TEXT    NOT NULL,
	reason TEXT    NOT NULL
) STRICT;

CREATE INDEX key_events_kid ON key_events (kid, seq);

-- A client may ask for ID tokens signed with one algorithm
-- (id_token_signed_response_alg, OIDC Dynamic Client Registration §2);
-- '' = the deployment's default.
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT '';
