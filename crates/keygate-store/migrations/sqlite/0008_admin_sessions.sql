-- Admin UI sessions (issue 14), shared by every instance on the database so
-- a restart logs nobody out and no load balancer needs sticky sessions.
-- Only the SHA-256 of the session token (the cookie's value) is stored; the
-- CSRF token is derived from the session token, so it is not stored either.
-- `last_seen_at` is written at most once a minute. `flash` is the one-time
-- notice for the next page; `secret_sealed` is a new credential secret
-- waiting to be shown once, encrypted with a key derived from the session
-- token (which this database does not hold), and `secret_at` when it was
-- put there (it is dropped after ten minutes). A session goes with its
-- admin (ON DELETE CASCADE).
CREATE TABLE admin_sessions (
    token_sha256 BLOB PRIMARY KEY,
    admin_id BIGINT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    flash TEXT,
    secret_sealed BLOB,
    secret_at BIGINT
);
CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id);
