-- Admin usernames are unique ignoring case (issue 16): `username_key` is
-- the lowercase username, and logins and lookups go through it.
--
-- A database made before this may already hold names that differ only in
-- case ("alice" and "ALICE"). Nothing is renamed or dropped: every such
-- admin keeps its row, its credentials and its exact username (a lookup
-- by the exact name always finds that row first). The oldest of them
-- (lowest id) owns the plain key; each later one gets the key `key#id`,
-- which no new username can take ('#' is not allowed in usernames), so
-- the unique index always builds. Existing keys are lowercased in ASCII
-- (SQL lower()); new ones are written by keygate (Unicode lowercase of the
-- NFKC name).
ALTER TABLE admins ADD COLUMN username_key TEXT;
UPDATE admins SET username_key = lower(username);
UPDATE admins SET username_key = username_key || '#' || id
 WHERE EXISTS (
    SELECT 1 FROM admins AS older
     WHERE older.username_key = admins.username_key AND older.id < admins.id
 );
CREATE UNIQUE INDEX admins_username_ci ON admins (username_key);
