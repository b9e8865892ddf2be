-- keygate schema, PostgreSQL. Identity columns never hand a deleted id out
-- again (roles are identified by id). Text that is compared or sorted uses
-- the "C" collation so uniqueness and ordering match the SQLite backend
-- byte for byte, whatever the database's locale.

CREATE TABLE revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- bumped (and NOTIFY keygate_changes sent) in every write transaction;
    -- its row lock also serializes writers across instances
    value BIGINT NOT NULL
);
INSERT INTO revision (id, value) VALUES (1, 1);

CREATE TABLE admins (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE roles (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    -- lowercase name: role names are unique case-insensitively
    name_key TEXT COLLATE "C" NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE role_actions (
    role_id BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    action TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (role_id, action)
);

CREATE TABLE credentials (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    identifier TEXT COLLATE "C" NOT NULL UNIQUE,
    secret_sha256 BYTEA NOT NULL,
    secret_md5_sha256 BYTEA NOT NULL,
    admin_id BIGINT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    last_access BIGINT
);
CREATE INDEX credentials_admin ON credentials (admin_id);

CREATE TABLE credential_roles (
    credential_id BIGINT NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    role_id BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (credential_id, role_id)
);
CREATE INDEX credential_roles_role ON credential_roles (role_id);
