-- Change log (incremental snapshots): every write to a table a snapshot
-- reads records which admin, role or credential it touched, at the
-- revision its transaction bumped to, so a running server can re-read only
-- those (Store::snapshot_delta) instead of everything. Triggers write it,
-- so no write path can forget to; writes outside begin_write (last-access
-- times, list keys) touch no logged column and log nothing.
--
-- `key` is the admin's or role's id as text, or the credential's
-- identifier (what a snapshot knows a deleted credential by). One row per
-- (revision, kind, key): a write touching a credential and its role links
-- logs it once. `at` (unix seconds) is what pruning goes by.
CREATE TABLE snapshot_changes (
    revision INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('admin', 'role', 'credential')),
    key TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (revision, kind, key)
);
CREATE INDEX snapshot_changes_at ON snapshot_changes (at);

-- The lowest revision the log is complete after: a delta from an older
-- revision needs a full read. The log starts now; pruning raises it.
ALTER TABLE revision ADD COLUMN changes_from INTEGER NOT NULL DEFAULT 0;
UPDATE revision SET changes_from = value;

-- Each trigger inserts through `WHERE NOT EXISTS` rather than a conflict
-- clause, which SQLite would let the firing statement's own override.

-- admins: what a snapshot reads is the username and the enabled state.
CREATE TRIGGER snapshot_changes_admin_insert AFTER INSERT ON admins
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'admin', CAST(NEW.id AS TEXT), CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'admin' AND s.key = CAST(NEW.id AS TEXT));
END;
CREATE TRIGGER snapshot_changes_admin_update AFTER UPDATE OF username, enabled ON admins
WHEN OLD.username IS NOT NEW.username OR OLD.enabled IS NOT NEW.enabled
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'admin', CAST(NEW.id AS TEXT), CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'admin' AND s.key = CAST(NEW.id AS TEXT));
END;
CREATE TRIGGER snapshot_changes_admin_delete AFTER DELETE ON admins
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'admin', CAST(OLD.id AS TEXT), CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'admin' AND s.key = CAST(OLD.id AS TEXT));
END;

-- roles: the name, and the actions (role_actions).
CREATE TRIGGER snapshot_changes_role_insert AFTER INSERT ON roles
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'role', CAST(NEW.id AS TEXT), CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'role' AND s.key = CAST(NEW.id AS TEXT));
END;
CREATE TRIGGER snapshot_changes_role_update AFTER UPDATE OF name ON roles
WHEN OLD.name IS NOT NEW.name
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'role', CAST(NEW.id AS TEXT), CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'role' AND s.key = CAST(NEW.id AS TEXT));
END;
CREATE TRIGGER snapshot_changes_role_delete AFTER DELETE ON roles
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'role', CAST(OLD.id AS TEXT), CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'role' AND s.key = CAST(OLD.id AS TEXT));
END;
CREATE TRIGGER snapshot_changes_role_action_insert AFTER INSERT ON role_actions
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'role', CAST(NEW.role_id AS TEXT), CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'role' AND s.key = CAST(NEW.role_id AS TEXT));
END;
CREATE TRIGGER snapshot_changes_role_action_update AFTER UPDATE ON role_actions
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'role', CAST(OLD.role_id AS TEXT), CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'role' AND s.key = CAST(OLD.role_id AS TEXT));
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'role', CAST(NEW.role_id AS TEXT), CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'role' AND s.key = CAST(NEW.role_id AS TEXT));
END;
CREATE TRIGGER snapshot_changes_role_action_delete AFTER DELETE ON role_actions
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'role', CAST(OLD.role_id AS TEXT), CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'role' AND s.key = CAST(OLD.role_id AS TEXT));
END;

-- credentials: only the columns a snapshot reads. Not last_access (written
-- in batches outside begin_write), description or the list keys. A changed
-- identifier logs both the old one (gone) and the new one.
CREATE TRIGGER snapshot_changes_credential_insert AFTER INSERT ON credentials
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'credential', NEW.identifier, CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'credential' AND s.key = NEW.identifier);
END;
CREATE TRIGGER snapshot_changes_credential_update AFTER UPDATE OF
    identifier, secret_sha256, secret_md5_sha256, admin_id, enabled, expires_at, allow_ips,
    rate_limit, client_ids, old_secret_sha256, old_secret_md5_sha256, old_secret_until
ON credentials
WHEN OLD.identifier IS NOT NEW.identifier
  OR OLD.secret_sha256 IS NOT NEW.secret_sha256
  OR OLD.secret_md5_sha256 IS NOT NEW.secret_md5_sha256
  OR OLD.admin_id IS NOT NEW.admin_id
  OR OLD.enabled IS NOT NEW.enabled
  OR OLD.expires_at IS NOT NEW.expires_at
  OR OLD.allow_ips IS NOT NEW.allow_ips
  OR OLD.rate_limit IS NOT NEW.rate_limit
  OR OLD.client_ids IS NOT NEW.client_ids
  OR OLD.old_secret_sha256 IS NOT NEW.old_secret_sha256
  OR OLD.old_secret_md5_sha256 IS NOT NEW.old_secret_md5_sha256
  OR OLD.old_secret_until IS NOT NEW.old_secret_until
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'credential', OLD.identifier, CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'credential' AND s.key = OLD.identifier);
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'credential', NEW.identifier, CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'credential' AND s.key = NEW.identifier);
END;
CREATE TRIGGER snapshot_changes_credential_delete AFTER DELETE ON credentials
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'credential', OLD.identifier, CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'credential' AND s.key = OLD.identifier);
END;

-- credential_roles: the credential whose roles changed, while it exists
-- (a link deleted with its credential finds none; the credential's own
-- trigger logged it). Deleting a role logs its holders this way.
CREATE TRIGGER snapshot_changes_credential_role_insert AFTER INSERT ON credential_roles
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'credential', c.identifier, CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r JOIN credentials c ON c.id = NEW.credential_id
     WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'credential' AND s.key = c.identifier);
END;
CREATE TRIGGER snapshot_changes_credential_role_update AFTER UPDATE ON credential_roles
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'credential', c.identifier, CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r JOIN credentials c ON c.id IN (OLD.credential_id, NEW.credential_id)
     WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'credential' AND s.key = c.identifier);
END;
CREATE TRIGGER snapshot_changes_credential_role_delete AFTER DELETE ON credential_roles
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT r.value, 'credential', c.identifier, CAST(strftime('%s', 'now') AS INTEGER)
      FROM revision r JOIN credentials c ON c.id = OLD.credential_id
     WHERE r.id = 1 AND NOT EXISTS (
        SELECT 1 FROM snapshot_changes s WHERE s.revision = r.value
           AND s.kind = 'credential' AND s.key = c.identifier);
END;
