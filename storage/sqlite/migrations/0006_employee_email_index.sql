-- 0006: look employees up by e-mail address without regard to case: SCIM
-- filters (emails eq) and the email_verified claim, which is true only
-- for an address no other non-departed employee has.
CREATE INDEX employees_email ON employees (lower(email));
