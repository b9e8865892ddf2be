-- Credential lifecycle (DESIGN.md "Credential lifecycle"): enabled state,
-- expiry, IP allowlist, rate limit, and the previous secret during a
-- rotation. Existing credentials stay as they were: enabled, no expiry,
-- any address, the default rate, no old secret.

ALTER TABLE credentials
    ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT TRUE,
    -- unix seconds from which the credential fails authentication
    ADD COLUMN expires_at BIGINT,
    -- canonical CIDRs ("10.0.0.0/8 2001:db8::/32") separated by single
    -- spaces; empty: any address
    ADD COLUMN allow_ips TEXT NOT NULL DEFAULT '',
    -- "600/m"; NULL: the configured default
    ADD COLUMN rate_limit TEXT,
    -- during a rotation: the previous secret's hashes and when they stop
    ADD COLUMN old_secret_sha256 BYTEA,
    ADD COLUMN old_secret_md5_sha256 BYTEA,
    ADD COLUMN old_secret_until BIGINT;
