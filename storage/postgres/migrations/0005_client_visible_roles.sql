-- 0005: visible_roles, the roles a client sees in the roles claim (exact
-- names, "prefix:*" patterns or "*"). NULL (every client registered
-- before this migration) means the default: employee and "<client id>:*".
ALTER TABLE clients ADD COLUMN visible_roles text[];
