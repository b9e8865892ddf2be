-- Lists that scale (issue 12): the credentials and roles tabs search,
-- filter, sort and page in the database instead of loading whole tables.
--
-- sort_key is the natural sort key (keygate_core::listing::sort_key) of a
-- role's name or a credential's description: "Role 2" sorts before
-- "Role 10", case ignored, compared byte for byte (the "C" collation, as
-- SQLite's BINARY). description_key is the lowercase description, which
-- searches match against, so both databases match alike whatever the
-- locale. Both are written by keygate with every name or description; SQL
-- cannot compute them, so existing rows start with NULL keys, which
-- keygate fills in on open and before every listing (a row written
-- without keys, e.g. by an older keygate, is filled the same way).
ALTER TABLE roles
    ADD COLUMN sort_key TEXT COLLATE "C",
    ADD COLUMN description_key TEXT COLLATE "C";
ALTER TABLE credentials
    ADD COLUMN sort_key TEXT COLLATE "C",
    ADD COLUMN description_key TEXT COLLATE "C";

-- Ordered pages read an index instead of sorting the table; the key
-- indexes also find rows whose keys are still missing.
CREATE INDEX roles_sort_key ON roles (sort_key, name);
CREATE INDEX credentials_sort_key ON credentials (sort_key, id);
CREATE INDEX credentials_created ON credentials (created_at, id);
CREATE INDEX credentials_last_access ON credentials (last_access, id);
