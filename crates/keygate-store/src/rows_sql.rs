//! Reading rows into domain records, written once for both backends: the
//! SQL is in the dialect both accept (`$N` placeholders work in sqlx-sqlite
//! too) and [`rows_sql!`] stamps it out per backend, since sqlx's row and
//! connection types differ between them. Keeping one copy is what keeps the
//! backends from drifting apart (they once read differently: one loaded
//! every role link to return a single credential).
//!
//! Filters choose among fixed statements instead of `$1 IS NULL OR …`
//! conditions, so each statement can use its index on both databases.

use keygate_core::model::{AdminId, CredentialId, RoleId};

/// The columns each backend's `rows::credential` reads, of `credentials c`
/// joined with `admins a`.
pub(crate) const CREDENTIAL_COLUMNS: &str =
    "c.id, c.identifier, c.admin_id, a.username, c.description, c.created_at, \
     c.last_access, c.enabled, c.expires_at, c.allow_ips, c.rate_limit, c.client_ids, \
     c.old_secret_until";

/// Which credentials to load.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CredentialFilter<'a> {
    /// Every credential.
    All,
    /// The credentials this admin owns.
    Admin(AdminId),
    /// The credential with this id.
    Id(CredentialId),
    /// The credential with this identifier.
    Identifier(&'a str),
    /// The credentials holding this role.
    Role(RoleId),
}

impl CredentialFilter<'_> {
    /// The condition on `credentials c` that selects them, binding `$1`
    /// (empty for [`CredentialFilter::All`], which binds nothing).
    pub(crate) fn condition(self) -> &'static str {
        match self {
            Self::All => "",
            Self::Admin(_) => "WHERE c.admin_id = $1",
            Self::Id(_) => "WHERE c.id = $1",
            Self::Identifier(_) => "WHERE c.identifier = $1",
            Self::Role(_) => {
                "WHERE c.id IN (SELECT credential_id FROM credential_roles WHERE role_id = $1)"
            }
        }
    }
}

/// What a change-log key names: the `kind` of a `snapshot_changes` row
/// (migration 0009).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    /// An admin, keyed by its id.
    Admin,
    /// A role, keyed by its id.
    Role,
    /// A credential, keyed by its identifier.
    Credential,
}

impl ChangeKind {
    /// The `kind` column's value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Role => "role",
            Self::Credential => "credential",
        }
    }

    /// The kind a `kind` column holds.
    pub(crate) fn parse(kind: &str) -> Option<Self> {
        match kind {
            "admin" => Some(Self::Admin),
            "role" => Some(Self::Role),
            "credential" => Some(Self::Credential),
            _ => None,
        }
    }

    /// The keys of this kind logged after revision `$1` up to `$2`, typed
    /// like the column they name (ids are stored as text), so the lookup
    /// uses that column's index.
    fn logged_keys(self) -> String {
        let key = match self {
            Self::Credential => "key",
            Self::Admin | Self::Role => "CAST(key AS BIGINT)",
        };
        format!(
            "SELECT {key} FROM snapshot_changes WHERE kind = '{}' \
             AND revision > $1 AND revision <= $2",
            self.as_str()
        )
    }
}

/// Which admins, roles and credentials a snapshot read covers: all of them
/// (a full [`keygate_core::SnapshotSource`]) or only those the change log
/// names in a range of revisions (a [`keygate_core::SnapshotDelta`]), read
/// by joining on the log, never by loading whole tables.
#[derive(Clone, Copy, Debug)]
pub(crate) enum EntryFilter {
    /// Every row.
    All,
    /// The rows logged after revision `since` up to `until` (binding `$1`
    /// and `$2`).
    Changed {
        /// Exclusive lower bound.
        since: i64,
        /// Inclusive upper bound.
        until: i64,
    },
}

impl EntryFilter {
    /// The condition selecting the rows whose `column` holds a key of
    /// `kind` (empty for [`EntryFilter::All`]).
    pub(crate) fn condition(self, column: &str, kind: ChangeKind) -> String {
        match self {
            Self::All => String::new(),
            Self::Changed { .. } => format!("WHERE {column} IN ({})", kind.logged_keys()),
        }
    }
}

/// Which roles a backend's `load_roles` reads.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RoleFilter {
    /// The one with this id (binding `$1`).
    Id(RoleId),
    /// Those a snapshot read covers.
    Entries(EntryFilter),
}

impl RoleFilter {
    /// The condition on a table whose `column` holds role ids.
    pub(crate) fn condition(self, column: &str) -> String {
        match self {
            Self::Id(_) => format!("WHERE {column} = $1"),
            Self::Entries(entries) => entries.condition(column, ChangeKind::Role),
        }
    }
}

/// Defines, in the invoking backend's `rows` module, the reads for one sqlx
/// database type (`sqlx::Sqlite` or `sqlx::Postgres`): `admin`,
/// `list_admins`, `find_admin`, `revision`, `role_id`, `load_roles`,
/// `load_role`, `find_role`, `role_usage`, `load_credentials`,
/// `snapshot_source` and the entries it is made of (`admin_entries`,
/// `role_entries`, `credential_entries`, also read for a delta by
/// [`crate::changes_sql`]). Multi-query reads take one connection so callers can
/// run them inside their transaction (and so see one state).
macro_rules! rows_sql {
    ($db:ty) => {
        use std::collections::HashMap;

        use keygate_core::model::{
            Admin, AdminId, Credential, CredentialId, Role, RoleId, RoleRef,
        };
        use keygate_core::snapshot::{AdminEntry, CredentialEntry, RoleEntry};
        use keygate_core::SnapshotSource;
        use sqlx::query::Query;
        use sqlx::{Database, Row};

        use crate::columns::{self, LifecycleColumns};
        pub(super) use crate::rows_sql::CredentialFilter;
        pub(super) use crate::rows_sql::EntryFilter;
        use crate::rows_sql::{ChangeKind, RoleFilter};
        use crate::store::now_secs;
        use crate::Result;

        type DbRow = <$db as Database>::Row;
        type Conn = <$db as Database>::Connection;
        type Args<'q> = <$db as Database>::Arguments<'q>;

        /// The lifecycle columns of a credential row.
        fn lifecycle_columns(row: &DbRow) -> Result<LifecycleColumns> {
            Ok(LifecycleColumns {
                enabled: row.try_get("enabled")?,
                expires_at: row.try_get("expires_at")?,
                allow_ips: row.try_get("allow_ips")?,
                rate_limit: row.try_get("rate_limit")?,
                client_ids: row.try_get("client_ids")?,
            })
        }

        /// The admin in a row of `id, username, enabled, created_at`.
        pub(super) fn admin(row: &DbRow) -> Result<Admin> {
            Ok(Admin {
                id: AdminId(row.try_get("id")?),
                username: row.try_get("username")?,
                enabled: row.try_get("enabled")?,
                created_at: row.try_get("created_at")?,
            })
        }

        /// All admins by username.
        pub(super) async fn list_admins(conn: &mut Conn) -> Result<Vec<Admin>> {
            sqlx::query("SELECT id, username, enabled, created_at FROM admins ORDER BY username")
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(admin)
                .collect()
        }

        /// The admin named `username`, ignoring case and NFKC look-alikes
        /// (an exact match first: see migration 0004), and its password hash.
        pub(super) async fn find_admin(
            conn: &mut Conn,
            username: &str,
        ) -> Result<Option<(Admin, String)>> {
            let exact = username.trim();
            let normal = keygate_core::validate::normalize_name(username);
            let row = sqlx::query(
                "SELECT id, username, enabled, created_at, password_hash FROM admins \
                 WHERE username = $1 OR username = $2 OR username_key = $3 \
                 ORDER BY (username = $4) DESC, (username = $5) DESC, id LIMIT 1",
            )
            .bind(exact)
            .bind(&normal)
            .bind(keygate_core::validate::name_key(username))
            .bind(exact)
            .bind(&normal)
            .fetch_optional(&mut *conn)
            .await?;
            row.map(|r| Ok((admin(&r)?, r.try_get("password_hash")?)))
                .transpose()
        }

        /// The current revision.
        pub(super) async fn revision(conn: &mut Conn) -> Result<i64> {
            Ok(
                sqlx::query_scalar("SELECT value FROM revision WHERE id = 1")
                    .fetch_one(&mut *conn)
                    .await?,
            )
        }

        /// The id of the role named `name`, case-insensitively.
        pub(super) async fn role_id(conn: &mut Conn, name: &str) -> Result<Option<RoleId>> {
            let id: Option<i64> = sqlx::query_scalar("SELECT id FROM roles WHERE name_key = $1")
                .bind(keygate_core::validate::name_key(name))
                .fetch_optional(&mut *conn)
                .await?;
            Ok(id.map(RoleId))
        }

        /// Binds the arguments of `filter`'s condition, if it has any.
        fn bind_entries<'q>(
            query: Query<'q, $db, Args<'q>>,
            filter: EntryFilter,
        ) -> Query<'q, $db, Args<'q>> {
            match filter {
                EntryFilter::All => query,
                EntryFilter::Changed { since, until } => query.bind(since).bind(until),
            }
        }

        /// Binds the arguments of `filter`'s condition, if it has any.
        fn bind_roles<'q>(
            query: Query<'q, $db, Args<'q>>,
            filter: RoleFilter,
        ) -> Query<'q, $db, Args<'q>> {
            match filter {
                RoleFilter::Id(id) => query.bind(id.0),
                RoleFilter::Entries(entries) => bind_entries(query, entries),
            }
        }

        /// The actions of the roles `filter` selects, sorted, by role id.
        async fn role_actions(
            conn: &mut Conn,
            filter: RoleFilter,
        ) -> Result<HashMap<i64, Vec<String>>> {
            let sql = format!(
                "SELECT role_id, action FROM role_actions {} ORDER BY action",
                filter.condition("role_id")
            );
            let rows = bind_roles(sqlx::query(&sql), filter)
                .fetch_all(&mut *conn)
                .await?;
            let mut actions: HashMap<i64, Vec<String>> = HashMap::new();
            for row in rows {
                actions
                    .entry(row.try_get("role_id")?)
                    .or_default()
                    .push(row.try_get("action")?);
            }
            Ok(actions)
        }

        /// Roles by name, or just the one with id `only`.
        pub(super) async fn load_roles(conn: &mut Conn, only: Option<RoleId>) -> Result<Vec<Role>> {
            let filter = only.map_or(RoleFilter::Entries(EntryFilter::All), RoleFilter::Id);
            select_roles(conn, filter).await
        }

        /// The roles `filter` selects, by name, with their actions.
        async fn select_roles(conn: &mut Conn, filter: RoleFilter) -> Result<Vec<Role>> {
            let sql = format!(
                "SELECT id, name, description, created_at FROM roles {} ORDER BY name_key",
                filter.condition("id")
            );
            let rows = bind_roles(sqlx::query(&sql), filter)
                .fetch_all(&mut *conn)
                .await?;
            let mut actions = role_actions(conn, filter).await?;
            rows.iter()
                .map(|row| {
                    let id: i64 = row.try_get("id")?;
                    Ok(Role {
                        id: RoleId(id),
                        name: row.try_get("name")?,
                        description: row.try_get("description")?,
                        actions: actions.remove(&id).unwrap_or_default(),
                        created_at: row.try_get("created_at")?,
                    })
                })
                .collect()
        }

        /// The role with this id.
        pub(super) async fn load_role(conn: &mut Conn, id: RoleId) -> Result<Option<Role>> {
            Ok(load_roles(conn, Some(id)).await?.into_iter().next())
        }

        /// The role named `name`, case-insensitively, read on one connection.
        pub(super) async fn find_role(conn: &mut Conn, name: &str) -> Result<Option<Role>> {
            match role_id(conn, name).await? {
                Some(id) => load_role(conn, id).await,
                None => Ok(None),
            }
        }

        /// How many credentials hold each role, counted in one query; a role
        /// no credential holds is left out.
        pub(super) async fn role_usage(conn: &mut Conn) -> Result<HashMap<RoleId, usize>> {
            let rows = sqlx::query(
                "SELECT role_id, COUNT(*) AS holders FROM credential_roles GROUP BY role_id",
            )
            .fetch_all(&mut *conn)
            .await?;
            rows.iter()
                .map(|row| {
                    let holders: i64 = row.try_get("holders")?;
                    Ok((
                        RoleId(row.try_get("role_id")?),
                        usize::try_from(holders).unwrap_or(0),
                    ))
                })
                .collect()
        }

        /// How many holders of role `role` hold no other role in
        /// `allowing`, counted in one query.
        pub(super) async fn stranded_holders(
            conn: &mut Conn,
            role: RoleId,
            allowing: &[RoleId],
        ) -> Result<u64> {
            let others = match allowing.len() {
                // No role allows anything: every holder is stranded.
                0 => "AND 1 = 0".to_string(),
                n => format!(
                    "AND o.role_id IN ({})",
                    (2..n + 2).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
                ),
            };
            let sql = format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM credential_roles cr WHERE cr.role_id = $1 \
                 AND NOT EXISTS (SELECT 1 FROM credential_roles o \
                 WHERE o.credential_id = cr.credential_id AND o.role_id <> $1 {others})"
            );
            let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(role.0);
            for id in allowing {
                query = query.bind(id.0);
            }
            Ok(u64::try_from(query.fetch_one(&mut *conn).await?).unwrap_or(0))
        }

        /// How many credentials each admin owns, counted in one query; an
        /// admin without credentials is left out.
        pub(super) async fn credentials_per_admin(
            conn: &mut Conn,
        ) -> Result<HashMap<AdminId, usize>> {
            let rows = sqlx::query(
                "SELECT admin_id, COUNT(*) AS owned FROM credentials GROUP BY admin_id",
            )
            .fetch_all(&mut *conn)
            .await?;
            rows.iter()
                .map(|row| {
                    let owned: i64 = row.try_get("owned")?;
                    Ok((
                        AdminId(row.try_get("admin_id")?),
                        usize::try_from(owned).unwrap_or(0),
                    ))
                })
                .collect()
        }

        /// Binds the one argument of `filter`'s condition, if it has one.
        fn bind_filter<'q>(
            query: Query<'q, $db, Args<'q>>,
            filter: CredentialFilter<'q>,
        ) -> Query<'q, $db, Args<'q>> {
            match filter {
                CredentialFilter::All => query,
                CredentialFilter::Admin(admin) => query.bind(admin.0),
                CredentialFilter::Id(id) => query.bind(id.0),
                CredentialFilter::Identifier(identifier) => query.bind(identifier),
                CredentialFilter::Role(role) => query.bind(role.0),
            }
        }

        /// Credentials with their admin's name and their roles, oldest first.
        pub(super) async fn load_credentials(
            conn: &mut Conn,
            filter: CredentialFilter<'_>,
        ) -> Result<Vec<Credential>> {
            let sql = format!(
                "SELECT {} FROM credentials c JOIN admins a ON a.id = c.admin_id {} \
                 ORDER BY c.id",
                crate::rows_sql::CREDENTIAL_COLUMNS,
                filter.condition()
            );
            let rows = bind_filter(sqlx::query(&sql), filter)
                .fetch_all(&mut *conn)
                .await?;
            let now = now_secs();
            let mut credentials = Vec::with_capacity(rows.len());
            for row in &rows {
                credentials.push(credential(row, now)?);
            }
            if credentials.is_empty() {
                return Ok(credentials);
            }
            let mut by_credential = role_refs(conn, filter).await?;
            for credential in &mut credentials {
                credential.roles = by_credential.remove(&credential.id.0).unwrap_or_default();
            }
            Ok(credentials)
        }

        /// The credential in a row of [`CREDENTIAL_COLUMNS`], without its
        /// roles (an old secret whose end is before `now` is left out).
        pub(super) fn credential(row: &DbRow, now: i64) -> Result<Credential> {
            let identifier: String = row.try_get("identifier")?;
            Ok(Credential {
                id: CredentialId(row.try_get("id")?),
                lifecycle: lifecycle_columns(row)?.parse(&identifier)?,
                identifier,
                admin_id: AdminId(row.try_get("admin_id")?),
                admin: row.try_get("username")?,
                description: row.try_get("description")?,
                roles: Vec::new(),
                created_at: row.try_get("created_at")?,
                last_access: row.try_get("last_access")?,
                old_secret_valid_until: columns::pending_until(
                    row.try_get("old_secret_until")?,
                    now,
                ),
            })
        }

        /// The roles, by name, of the credentials `filter` selects (only
        /// theirs: loading one credential must not read every role link).
        async fn role_refs(
            conn: &mut Conn,
            filter: CredentialFilter<'_>,
        ) -> Result<HashMap<i64, Vec<RoleRef>>> {
            let selected = match filter {
                CredentialFilter::All => String::new(),
                _ => format!(
                    "WHERE cr.credential_id IN (SELECT c.id FROM credentials c {})",
                    filter.condition()
                ),
            };
            let sql = format!(
                "SELECT cr.credential_id, r.id, r.name FROM credential_roles cr \
                 JOIN roles r ON r.id = cr.role_id {selected} ORDER BY r.name_key"
            );
            let links = bind_filter(sqlx::query(&sql), filter)
                .fetch_all(&mut *conn)
                .await?;
            let mut by_credential: HashMap<i64, Vec<RoleRef>> = HashMap::new();
            for link in links {
                by_credential
                    .entry(link.try_get("credential_id")?)
                    .or_default()
                    .push(RoleRef {
                        id: RoleId(link.try_get("id")?),
                        name: link.try_get("name")?,
                    });
            }
            Ok(by_credential)
        }

        /// Everything a snapshot needs, read on one connection (in a
        /// transaction, so from one state).
        pub(super) async fn snapshot_source(conn: &mut Conn) -> Result<SnapshotSource> {
            let revision = revision(conn).await?;
            Ok(SnapshotSource {
                revision,
                admins: admin_entries(conn, EntryFilter::All).await?,
                roles: role_entries(conn, EntryFilter::All).await?,
                credentials: credential_entries(conn, EntryFilter::All).await?,
            })
        }

        /// A builder holding the revision, the admins and the roles, with
        /// room for every credential: the part of a full build before the
        /// credentials are read.
        pub(super) async fn snapshot_builder_start(
            conn: &mut Conn,
            catalog: std::sync::Arc<keygate_core::Catalog>,
        ) -> Result<keygate_core::SnapshotBuilder> {
            let revision = revision(conn).await?;
            let admins = admin_entries(conn, EntryFilter::All).await?;
            let roles = role_entries(conn, EntryFilter::All).await?;
            let mut builder =
                keygate_core::SnapshotBuilder::new(revision, &admins, &roles, catalog);
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credentials")
                .fetch_one(&mut *conn)
                .await?;
            builder.reserve(usize::try_from(count).unwrap_or(0));
            Ok(builder)
        }

        /// The admins `filter` selects, as a snapshot needs them.
        pub(super) async fn admin_entries(
            conn: &mut Conn,
            filter: EntryFilter,
        ) -> Result<Vec<AdminEntry>> {
            let sql = format!(
                "SELECT id, username, enabled FROM admins {}",
                filter.condition("id", ChangeKind::Admin)
            );
            bind_entries(sqlx::query(&sql), filter)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| {
                    Ok(AdminEntry {
                        id: AdminId(r.try_get("id")?),
                        username: r.try_get("username")?,
                        enabled: r.try_get("enabled")?,
                    })
                })
                .collect()
        }

        /// The roles `filter` selects, with their actions, as a snapshot
        /// needs them.
        pub(super) async fn role_entries(
            conn: &mut Conn,
            filter: EntryFilter,
        ) -> Result<Vec<RoleEntry>> {
            Ok(select_roles(conn, RoleFilter::Entries(filter))
                .await?
                .into_iter()
                .map(|r| RoleEntry {
                    id: r.id,
                    name: r.name,
                    actions: r.actions,
                })
                .collect())
        }

        /// The hashes, owner, role ids, lifecycle and pending old secret of
        /// the credentials `filter` selects: two reads (the credentials and
        /// only their role links) joined in memory by id, linear in the
        /// number of credentials and links.
        pub(super) async fn credential_entries(
            conn: &mut Conn,
            filter: EntryFilter,
        ) -> Result<Vec<CredentialEntry>> {
            let sql = format!(
                "{CREDENTIAL_ENTRIES} {}",
                filter.condition("identifier", ChangeKind::Credential)
            );
            let rows = bind_entries(sqlx::query(&sql), filter)
                .fetch_all(&mut *conn)
                .await?;
            let now = now_secs();
            let mut credentials = Vec::with_capacity(rows.len());
            for row in &rows {
                let role_ids = columns::role_id_list(row.try_get("role_ids")?)?;
                credentials.push(credential_entry(row, role_ids, now)?);
            }
            Ok(credentials)
        }

        /// Credentials as a snapshot reads them, each with its role ids as
        /// one comma-separated column (`string_agg`: PostgreSQL, and SQLite
        /// since 3.44): one row per credential, where reading the links
        /// separately streamed twice as many rows again. `sqlite::bulk`
        /// reads these columns by position: keep their order.
        pub(super) const CREDENTIAL_ENTRIES: &str =
            "SELECT id, identifier, secret_sha256, secret_md5_sha256, admin_id, \
             enabled, expires_at, allow_ips, rate_limit, client_ids, \
             old_secret_sha256, old_secret_md5_sha256, old_secret_until, \
             (SELECT string_agg(CAST(cr.role_id AS TEXT), ',') FROM credential_roles cr \
              WHERE cr.credential_id = credentials.id) AS role_ids \
             FROM credentials";

        /// The snapshot entry of one credential row holding `role_ids` (an
        /// old secret whose end is before `now` is left out).
        pub(super) fn credential_entry(
            row: &DbRow,
            role_ids: Vec<RoleId>,
            now: i64,
        ) -> Result<CredentialEntry> {
            let identifier: String = row.try_get("identifier")?;
            let direct: Vec<u8> = row.try_get("secret_sha256")?;
            let md5: Vec<u8> = row.try_get("secret_md5_sha256")?;
            Ok(CredentialEntry {
                hashes: columns::hashes(&identifier, &direct, &md5)?,
                admin_id: AdminId(row.try_get("admin_id")?),
                role_ids,
                lifecycle: lifecycle_columns(row)?.parse(&identifier)?,
                old_secret: columns::old_secret(
                    &identifier,
                    row.try_get("old_secret_sha256")?,
                    row.try_get("old_secret_md5_sha256")?,
                    row.try_get("old_secret_until")?,
                    now,
                )?,
                identifier,
            })
        }
    };
}

pub(crate) use rows_sql;
