-- 0002: signing-key lifecycle (issue 4).

-- key_events records every signing-key operation: who, when, why. The audit
-- log takes it over once it exists. seq orders events; an identity column
-- never hands a number out twice (a rolled-back insert leaves a hole, which
-- is fine: seq orders, it does not count).
CREATE TABLE key_events (
	seq    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at     timestamptz NOT NULL,
	kid    text        NOT NULL,
	action text        NOT NULL,
	actor  text        NOT NULL,
	reason text        NOT NULL
);

CREATE INDEX key_events_kid ON key_events (kid, seq);

-- A client may ask for ID tokens signed with one algorithm
-- (id_token_signed_response_alg, OIDC Dynamic Client Registration §2);
-- '' = the deployment's default.
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg text NOT NULL DEFAULT '';
