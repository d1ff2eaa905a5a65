-- 0004: bind each pending sign-in to the browser that started it.
-- browser_binding is the hex SHA-256 of a cookie value the provider set at
-- /authorize; '' (rows created before this migration) binds to no browser,
-- so such a request can no longer be completed: the employee starts again.
ALTER TABLE auth_requests ADD COLUMN browser_binding TEXT NOT NULL DEFAULT '';
