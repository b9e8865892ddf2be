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
    revision BIGINT NOT NULL,
    kind TEXT COLLATE "C" NOT NULL CHECK (kind IN ('admin', 'role', 'credential')),
    key TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (revision, kind, key)
);
CREATE INDEX snapshot_changes_at ON snapshot_changes (at);

-- The lowest revision the log is complete after: a delta from an older
-- revision needs a full read. The log starts now; pruning raises it.
ALTER TABLE revision ADD COLUMN changes_from BIGINT NOT NULL DEFAULT 0;
UPDATE revision SET changes_from = value;

-- Logs one touched row at the current revision (which begin_write bumped
-- before the write changed anything), once per revision.
CREATE FUNCTION keygate_log_change(change_kind TEXT, change_key TEXT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO snapshot_changes (revision, kind, key, at)
    SELECT value, change_kind, change_key, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)
      FROM revision WHERE id = 1
    ON CONFLICT DO NOTHING;
END;
$$;

-- admins: what a snapshot reads is the username and the enabled state.
CREATE FUNCTION keygate_log_admin() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM keygate_log_change('admin', CAST(OLD.id AS TEXT));
    ELSE
        PERFORM keygate_log_change('admin', CAST(NEW.id AS TEXT));
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER snapshot_changes_admin_write AFTER INSERT OR DELETE ON admins
    FOR EACH ROW EXECUTE FUNCTION keygate_log_admin();
CREATE TRIGGER snapshot_changes_admin_update AFTER UPDATE OF username, enabled ON admins
    FOR EACH ROW
    WHEN ((OLD.username, OLD.enabled) IS DISTINCT FROM (NEW.username, NEW.enabled))
    EXECUTE FUNCTION keygate_log_admin();

-- roles: the name, and the actions (role_actions).
CREATE FUNCTION keygate_log_role() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM keygate_log_change('role', CAST(OLD.id AS TEXT));
    ELSE
        PERFORM keygate_log_change('role', CAST(NEW.id AS TEXT));
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER snapshot_changes_role_write AFTER INSERT OR DELETE ON roles
    FOR EACH ROW EXECUTE FUNCTION keygate_log_role();
CREATE TRIGGER snapshot_changes_role_update AFTER UPDATE OF name ON roles
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION keygate_log_role();

CREATE FUNCTION keygate_log_role_action() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM keygate_log_change('role', CAST(OLD.role_id AS TEXT));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM keygate_log_change('role', CAST(NEW.role_id AS TEXT));
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER snapshot_changes_role_action AFTER INSERT OR UPDATE OR DELETE ON role_actions
    FOR EACH ROW EXECUTE FUNCTION keygate_log_role_action();

-- credentials: only the columns a snapshot reads. Not last_access (written
-- in batches outside begin_write), description or the list keys. A changed
-- identifier logs both the old one (gone) and the new one.
CREATE FUNCTION keygate_log_credential() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM keygate_log_change('credential', OLD.identifier);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM keygate_log_change('credential', NEW.identifier);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER snapshot_changes_credential_write AFTER INSERT OR DELETE ON credentials
    FOR EACH ROW EXECUTE FUNCTION keygate_log_credential();
CREATE TRIGGER snapshot_changes_credential_update AFTER UPDATE OF
    identifier, secret_sha256, secret_md5_sha256, admin_id, enabled, expires_at, allow_ips,
    rate_limit, client_ids, old_secret_sha256, old_secret_md5_sha256, old_secret_until
ON credentials
    FOR EACH ROW
    WHEN ((OLD.identifier, OLD.secret_sha256, OLD.secret_md5_sha256, OLD.admin_id,
           OLD.enabled, OLD.expires_at, OLD.allow_ips, OLD.rate_limit, OLD.client_ids,
           OLD.old_secret_sha256, OLD.old_secret_md5_sha256, OLD.old_secret_until)
          IS DISTINCT FROM
          (NEW.identifier, NEW.secret_sha256, NEW.secret_md5_sha256, NEW.admin_id,
           NEW.enabled, NEW.expires_at, NEW.allow_ips, NEW.rate_limit, NEW.client_ids,
           NEW.old_secret_sha256, NEW.old_secret_md5_sha256, NEW.old_secret_until))
    EXECUTE FUNCTION keygate_log_credential();

-- credential_roles: the credential whose roles changed, while it exists
-- (a link deleted with its credential finds none; the credential's own
-- trigger logged it). Deleting a role logs its holders this way.
CREATE FUNCTION keygate_log_credential_role() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM keygate_log_change('credential', c.identifier)
           FROM credentials c WHERE c.id = OLD.credential_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM keygate_log_change('credential', c.identifier)
           FROM credentials c WHERE c.id = NEW.credential_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER snapshot_changes_credential_role
    AFTER INSERT OR UPDATE OR DELETE ON credential_roles
    FOR EACH ROW EXECUTE FUNCTION keygate_log_credential_role();
