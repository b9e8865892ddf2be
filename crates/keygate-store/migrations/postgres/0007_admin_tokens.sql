-- Admin API tokens for the management API (issue 14): stored only as the
-- SHA-256 of the token; `prefix` is the part shown to tell them apart
-- (kgat_ and four random characters). A token acts as its admin, so it goes
-- with the admin (ON DELETE CASCADE) and is refused while the admin is
-- disabled.
CREATE TABLE admin_tokens (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    admin_id BIGINT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    token_sha256 BYTEA NOT NULL UNIQUE,
    prefix TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX admin_tokens_admin ON admin_tokens (admin_id);
