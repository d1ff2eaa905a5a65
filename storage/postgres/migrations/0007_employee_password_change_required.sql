-- 0007: password_change_required, set when someone other than the
-- employee chose their password (onboarding with an initial password, an
-- HR/admin reset); the next sign-in asks for a new one before it
-- completes, and changing it clears the flag.
ALTER TABLE employees ADD COLUMN password_change_required boolean NOT NULL DEFAULT false;
