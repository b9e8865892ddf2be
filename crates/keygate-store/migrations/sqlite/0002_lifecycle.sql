-- Credential lifecycle (DESIGN.md "Credential lifecycle"): enabled state,
-- expiry, IP allowlist, rate limit, and the previous secret during a
-- rotation. Existing credentials stay as they were: enabled, no expiry,
-- any address, the default rate, no old secret.

-- 1 enabled, 0 disabled.
ALTER TABLE credentials ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
-- unix seconds from which the credential fails authentication
ALTER TABLE credentials ADD COLUMN expires_at INTEGER;
-- canonical CIDRs ("10.0.0.0/8 2001:db8::/32") separated by single spaces;
-- empty: any address
ALTER TABLE credentials ADD COLUMN allow_ips TEXT NOT NULL DEFAULT '';
-- "600/m"; NULL: the configured default
ALTER TABLE credentials ADD COLUMN rate_limit TEXT;
-- during a rotation: the previous secret's hashes and when they stop
ALTER TABLE credentials ADD COLUMN old_secret_sha256 BLOB;
ALTER TABLE credentials ADD COLUMN old_secret_md5_sha256 BLOB;
ALTER TABLE credentials ADD COLUMN old_secret_until INTEGER;
