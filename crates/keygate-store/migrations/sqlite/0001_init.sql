-- keygate schema, SQLite. Roles and credentials use AUTOINCREMENT so a
-- deleted id is never handed out again: roles are identified by id.

CREATE TABLE revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO revision (id, value) VALUES (1, 1);

CREATE TABLE admins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);

CREATE TABLE roles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    -- lowercase name: role names are unique case-insensitively
    name_key TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

CREATE TABLE role_actions (
    role_id INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    PRIMARY KEY (role_id, action)
);

CREATE TABLE credentials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identifier TEXT NOT NULL UNIQUE,
    secret_sha256 BLOB NOT NULL,
    secret_md5_sha256 BLOB NOT NULL,
    admin_id INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    last_access INTEGER
);
CREATE INDEX credentials_admin ON credentials (admin_id);

CREATE TABLE credential_roles (
    credential_id INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (credential_id, role_id)
);
CREATE INDEX credential_roles_role ON credential_roles (role_id);
