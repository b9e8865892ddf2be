//! The admin lists' searching, filtering, natural ordering, paging and
//! counting, done in the database (issue 12: lists that scale), written
//! once for both backends like the other SQL ([`crate::rows_sql`]):
//! [`list_sql!`] stamps it out into each backend's `lists` module.
//!
//! A query becomes one `WHERE` clause ([`credential_where`],
//! [`role_where`]) used both for the page (`LIMIT`/`OFFSET`) and for its
//! count, so the two always agree; both are read in one read transaction.
//! User text only ever reaches the SQL as a bound parameter, and LIKE
//! wildcards in it are escaped ([`like_pattern`]), so `50%` finds "50%".
//! Searches match lowercase text keygate stores (`description_key`, the
//! `name_key`s) so both databases match alike whatever their locale;
//! natural order reads the `sort_key` columns (migration 0006, see
//! [`keygate_core::listing::sort_key`]).

use keygate_core::model::{AdminId, ClientId, Credential, Role, RoleId};

use crate::store::now_secs;

/// The most rows one page may hold.
pub const MAX_PAGE: u32 = 1000;

/// Rows a page holds unless the query says otherwise.
const DEFAULT_PAGE: u32 = 50;

/// Credentials in a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialState {
    /// Enabled and not expired.
    Enabled,
    /// Disabled.
    Disabled,
    /// Enabled but past its expiry.
    Expired,
    /// Unused for [`keygate_core::listing::UNUSED_AFTER_SECS`]: never used
    /// and created before then, or last used before then.
    Unused,
}

/// What credentials are ordered by; ties go by id, in the same direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CredentialSort {
    /// Creation time (the default).
    #[default]
    Created,
    /// Identifier, byte order.
    Identifier,
    /// Owning admin's username, byte order.
    Admin,
    /// Last access; never used sorts as the oldest.
    LastAccess,
    /// Description, in natural order.
    Description,
}

/// Which credentials to list: every filter optional, all must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialQuery {
    /// Words found (ignoring case) in the identifier, description, owning
    /// admin's username or a held role's name, or a client id (`12` or
    /// `#12`) the credential is bound to; blank matches everything.
    pub search: String,
    /// Owned by this admin.
    pub admin: Option<AdminId>,
    /// Holding this role.
    pub role: Option<RoleId>,
    /// Bound to this WHMCS client.
    pub client: Option<ClientId>,
    /// In this state.
    pub state: Option<CredentialState>,
    /// The time (unix seconds) states are judged at.
    pub now: i64,
    /// Order.
    pub sort: CredentialSort,
    /// Descending.
    pub desc: bool,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return at most (capped at [`MAX_PAGE`]).
    pub limit: u32,
}

impl Default for CredentialQuery {
    /// Every credential, oldest first, the first 50, judged now.
    fn default() -> Self {
        Self {
            search: String::new(),
            admin: None,
            role: None,
            client: None,
            state: None,
            now: now_secs(),
            sort: CredentialSort::Created,
            desc: false,
            offset: 0,
            limit: DEFAULT_PAGE,
        }
    }
}

/// One page of credentials, with their roles, and how many match in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialPage {
    /// The page, in the query's order.
    pub credentials: Vec<Credential>,
    /// How many credentials the query selects, on every page.
    pub total: u64,
}

/// Which roles to list, in natural order of their names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleQuery {
    /// Words found (ignoring case) in the name or description; blank
    /// matches everything.
    pub search: String,
    /// Only roles no credential holds.
    pub unheld: bool,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return at most (capped at [`MAX_PAGE`]).
    pub limit: u32,
}

impl Default for RoleQuery {
    /// Every role, the first 50.
    fn default() -> Self {
        Self {
            search: String::new(),
            unheld: false,
            offset: 0,
            limit: DEFAULT_PAGE,
        }
    }
}

/// One page of roles and how many match in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolePage {
    /// The page, in natural order of the names.
    pub roles: Vec<Role>,
    /// How many roles the query selects, on every page.
    pub total: u64,
}

/// A value bound to a placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Bind {
    /// A number.
    Int(i64),
    /// Text.
    Text(String),
}

/// A `WHERE` clause under construction with the values it binds: each
/// value gets the next `$N`, so the SQL text never holds user input.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    conditions: Vec<String>,
    /// The values, `$1` first.
    pub(crate) binds: Vec<Bind>,
}

impl Filter {
    /// Binds `value`; returns its placeholder.
    pub(crate) fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    /// Adds a condition (all must hold).
    pub(crate) fn and(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    /// `WHERE …` (empty without conditions).
    pub(crate) fn clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }
}

/// A LIKE pattern finding `needle` anywhere, its own `\`, `%` and `_`
/// escaped with `\` (the statements say `ESCAPE '\'`).
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The search words, lowercase as the stored keys are; `None` when blank.
fn needle(search: &str) -> Option<String> {
    let needle = keygate_core::listing::search_key(search.trim());
    (!needle.is_empty()).then_some(needle)
}

/// The client id the search words name (`12` or `#12`, exactly as the id
/// is written), if they name one.
fn searched_client(needle: &str) -> Option<i64> {
    let digits = needle.trim_start_matches('#');
    digits
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && id.to_string() == digits)
}

/// The LIKE pattern finding client `id` in a `client_ids` column wrapped
/// in spaces (`' 12 40 '`).
fn client_pattern(id: i64) -> String {
    format!("% {id} %")
}

/// The `WHERE` clause of `query` over `credentials c JOIN admins a`.
pub(crate) fn credential_where(query: &CredentialQuery) -> Filter {
    let mut filter = Filter::default();
    if let Some(needle) = needle(&query.search) {
        let p = filter.bind(Bind::Text(like_pattern(&needle)));
        let mut any = vec![
            format!("LOWER(c.identifier) LIKE {p} ESCAPE '\\'"),
            format!("c.description_key LIKE {p} ESCAPE '\\'"),
            format!("a.username_key LIKE {p} ESCAPE '\\'"),
            format!(
                "EXISTS (SELECT 1 FROM credential_roles cr JOIN roles r ON r.id = cr.role_id \
                 WHERE cr.credential_id = c.id AND r.name_key LIKE {p} ESCAPE '\\')"
            ),
        ];
        if let Some(id) = searched_client(&needle) {
            let q = filter.bind(Bind::Text(client_pattern(id)));
            any.push(format!("(' ' || c.client_ids || ' ') LIKE {q}"));
        }
        filter.and(format!("({})", any.join(" OR ")));
    }
    if let Some(admin) = query.admin {
        let p = filter.bind(Bind::Int(admin.0));
        filter.and(format!("c.admin_id = {p}"));
    }
    if let Some(role) = query.role {
        let p = filter.bind(Bind::Int(role.0));
        filter.and(format!(
            "c.id IN (SELECT credential_id FROM credential_roles WHERE role_id = {p})"
        ));
    }
    if let Some(client) = query.client {
        let p = filter.bind(Bind::Text(client_pattern(client.0)));
        filter.and(format!("(' ' || c.client_ids || ' ') LIKE {p}"));
    }
    if let Some(state) = query.state {
        let condition = state_condition(&mut filter, state, query.now);
        filter.and(condition);
    }
    filter
}

/// The condition selecting credentials in `state` at `now`, as
/// [`keygate_core::model::Lifecycle::expired_at`] and
/// [`keygate_core::listing::is_unused`] decide.
fn state_condition(filter: &mut Filter, state: CredentialState, now: i64) -> String {
    match state {
        CredentialState::Enabled => {
            let p = filter.bind(Bind::Int(now));
            format!("c.enabled = TRUE AND (c.expires_at IS NULL OR c.expires_at > {p})")
        }
        CredentialState::Disabled => "c.enabled = FALSE".to_string(),
        CredentialState::Expired => {
            let p = filter.bind(Bind::Int(now));
            format!("c.enabled = TRUE AND c.expires_at <= {p}")
        }
        CredentialState::Unused => {
            // Two indexed ranges rather than COALESCE(…), which no index
            // serves.
            let cutoff = now.saturating_sub(keygate_core::listing::UNUSED_AFTER_SECS);
            let p = filter.bind(Bind::Int(cutoff));
            format!("(c.last_access < {p} OR (c.last_access IS NULL AND c.created_at < {p}))")
        }
    }
}

/// The `ORDER BY` list of `query` (ties by id, in the same direction).
pub(crate) fn credential_order(query: &CredentialQuery) -> String {
    let dir = if query.desc { "DESC" } else { "ASC" };
    match query.sort {
        CredentialSort::Created => format!("c.created_at {dir}, c.id {dir}"),
        CredentialSort::Identifier => format!("c.identifier {dir}, c.id {dir}"),
        CredentialSort::Admin => format!("a.username {dir}, c.id {dir}"),
        // Spelled out: SQLite puts NULLs first and PostgreSQL last.
        CredentialSort::LastAccess if query.desc => {
            "c.last_access DESC NULLS LAST, c.id DESC".to_string()
        }
        CredentialSort::LastAccess => "c.last_access ASC NULLS FIRST, c.id ASC".to_string(),
        CredentialSort::Description => format!("c.sort_key {dir}, c.id {dir}"),
    }
}

/// The `WHERE` clause of `query` over `roles r`.
pub(crate) fn role_where(query: &RoleQuery) -> Filter {
    let mut filter = Filter::default();
    if let Some(needle) = needle(&query.search) {
        let p = filter.bind(Bind::Text(like_pattern(&needle)));
        filter.and(format!(
            "(r.name_key LIKE {p} ESCAPE '\\' OR r.description_key LIKE {p} ESCAPE '\\')"
        ));
    }
    if query.unheld {
        filter.and(
            "NOT EXISTS (SELECT 1 FROM credential_roles cr WHERE cr.role_id = r.id)".to_string(),
        );
    }
    filter
}

/// `ids` as an SQL list (`1, 2, 3`): numbers read from the database, never
/// user input, so writing them into the statement is safe and spares a
/// placeholder each.
pub(crate) fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Defines, in the invoking backend's `lists` module, the list reads for
/// one sqlx database type: `fill_keys`, `credentials_page`,
/// `credential_position`, `roles_page`. `$begin_read` is the statement that
/// begins a consistent read-only transaction on that database.
macro_rules! list_sql {
    ($db:ty, $begin_read:literal) => {
        use std::collections::HashMap;

        use keygate_core::model::{Role, RoleId, RoleRef};
        use sqlx::query::{Query, QueryScalar};
        use sqlx::{Database, Row};

        use super::{rows, tx};
        use crate::list_sql::{
            credential_order, credential_where, id_list, role_where, Bind, CredentialPage,
            CredentialQuery, Filter, RolePage, RoleQuery, MAX_PAGE,
        };
        use crate::rows_sql::CREDENTIAL_COLUMNS;
        use crate::store::now_secs;
        use crate::Result;

        type Pool = sqlx::Pool<$db>;
        type Conn = <$db as Database>::Connection;
        type DbRow = <$db as Database>::Row;
        type Args<'q> = <$db as Database>::Arguments<'q>;

        /// Rows whose keys are filled per transaction (and per statement:
        /// three values a row stays far below both databases' limit on
        /// bound values).
        const FILL_BATCH: i64 = 1000;

        /// The FROM clause every credential list reads.
        const CREDENTIALS_FROM: &str = "FROM credentials c JOIN admins a ON a.id = c.admin_id";

        /// How many rows `from` selects under `filter`, and one page of
        /// their `columns` in `order` (`limit` rows after `offset`), read on
        /// `conn`: inside one transaction the two agree.
        pub(super) async fn count_and_page(
            conn: &mut Conn,
            columns: &str,
            from: &str,
            mut filter: Filter,
            order: &str,
            offset: u64,
            limit: u32,
        ) -> Result<(u64, Vec<DbRow>)> {
            let clause = filter.clause();
            let count = format!("SELECT CAST(COUNT(*) AS BIGINT) {from} {clause}");
            let total: i64 = bind_scalar(sqlx::query_scalar(&count), &filter.binds)
                .fetch_one(&mut *conn)
                .await?;
            let limit = filter.bind(Bind::Int(i64::from(limit)));
            let offset = filter.bind(Bind::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
            let page = format!(
                "SELECT {columns} {from} {clause} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
            );
            let rows = bind_all(sqlx::query(&page), &filter.binds)
                .fetch_all(&mut *conn)
                .await?;
            Ok((u64::try_from(total).unwrap_or(0), rows))
        }

        fn bind_all<'q>(
            mut query: Query<'q, $db, Args<'q>>,
            binds: &'q [Bind],
        ) -> Query<'q, $db, Args<'q>> {
            for value in binds {
                query = match value {
                    Bind::Int(n) => query.bind(*n),
                    Bind::Text(text) => query.bind(text.as_str()),
                };
            }
            query
        }

        fn bind_scalar<'q, O>(
            mut query: QueryScalar<'q, $db, O, Args<'q>>,
            binds: &'q [Bind],
        ) -> QueryScalar<'q, $db, O, Args<'q>> {
            for value in binds {
                query = match value {
                    Bind::Int(n) => query.bind(*n),
                    Bind::Text(text) => query.bind(text.as_str()),
                };
            }
            query
        }

        /// Fills the sort and search keys of rows written without them
        /// (before migration 0006, by an older keygate, by a backup
        /// import): SQL cannot compute them. Cheap when there are none (an
        /// indexed look-up per table); otherwise in batches under the
        /// writers' lock, read inside it so a key matches its text, each
        /// batch written by one statement (a statement a row made the
        /// first open after importing a million credentials take 40 s).
        pub(super) async fn fill_keys(pool: &Pool) -> Result<()> {
            for (table, keyed) in [("roles", "name"), ("credentials", "description")] {
                loop {
                    let missing: Option<i64> = sqlx::query_scalar(&format!(
                        "SELECT id FROM {table} WHERE sort_key IS NULL LIMIT 1"
                    ))
                    .fetch_optional(pool)
                    .await?;
                    if missing.is_none() {
                        break;
                    }
                    let mut tx = tx::begin_quiet(pool).await?;
                    let rows = sqlx::query(&format!(
                        "SELECT id, {keyed} AS keyed, description FROM {table} \
                         WHERE sort_key IS NULL LIMIT $1"
                    ))
                    .bind(FILL_BATCH)
                    .fetch_all(&mut *tx)
                    .await?;
                    let keys = rows
                        .iter()
                        .map(|row| {
                            let keyed: String = row.try_get("keyed")?;
                            let description: String = row.try_get("description")?;
                            Ok((
                                row.try_get::<i64, _>("id")?,
                                keygate_core::listing::sort_key(&keyed),
                                keygate_core::listing::search_key(&description),
                            ))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    write_keys(&mut tx, table, &keys).await?;
                    tx.commit().await?;
                }
            }
            Ok(())
        }

        /// Writes `(id, sort key, search key)` rows of `table` in one
        /// `UPDATE … FROM (VALUES …)`, which both databases run (a VALUES
        /// list's columns are `column1`, `column2`, … on both).
        async fn write_keys(
            conn: &mut Conn,
            table: &str,
            keys: &[(i64, String, String)],
        ) -> Result<()> {
            if keys.is_empty() {
                return Ok(());
            }
            let mut update = sqlx::QueryBuilder::<$db>::new(format!(
                "UPDATE {table} SET sort_key = v.column2, description_key = v.column3 FROM ("
            ));
            update.push_values(keys, |mut row, (id, sort, search)| {
                row.push_bind(*id)
                    .push_bind(sort.as_str())
                    .push_bind(search.as_str());
            });
            update.push(format!(") AS v WHERE {table}.id = v.column1"));
            update.build().execute(&mut *conn).await?;
            Ok(())
        }

        /// The page of credentials `query` selects, with their roles, and
        /// its count, read in one transaction so the two agree.
        pub(super) async fn credentials_page(
            pool: &Pool,
            query: &CredentialQuery,
        ) -> Result<CredentialPage> {
            fill_keys(pool).await?;
            let mut tx = pool.begin_with($begin_read).await?;
            let (total, rows) = count_and_page(
                &mut tx,
                CREDENTIAL_COLUMNS,
                CREDENTIALS_FROM,
                credential_where(query),
                &credential_order(query),
                query.offset,
                query.limit.min(MAX_PAGE),
            )
            .await?;
            let now = now_secs();
            let mut credentials = rows
                .iter()
                .map(|row| rows::credential(row, now))
                .collect::<Result<Vec<_>>>()?;
            let ids: Vec<i64> = credentials.iter().map(|c| c.id.0).collect();
            let mut roles = role_refs(&mut tx, &ids).await?;
            tx.commit().await?;
            for credential in &mut credentials {
                credential.roles = roles.remove(&credential.id.0).unwrap_or_default();
            }
            Ok(CredentialPage { credentials, total })
        }

        /// The roles, by name, of the credentials with these ids.
        async fn role_refs(conn: &mut Conn, ids: &[i64]) -> Result<HashMap<i64, Vec<RoleRef>>> {
            let mut by_credential: HashMap<i64, Vec<RoleRef>> = HashMap::new();
            if ids.is_empty() {
                return Ok(by_credential);
            }
            let sql = format!(
                "SELECT cr.credential_id, r.id, r.name FROM credential_roles cr \
                 JOIN roles r ON r.id = cr.role_id WHERE cr.credential_id IN ({}) \
                 ORDER BY r.name_key",
                id_list(ids)
            );
            for link in sqlx::query(&sql).fetch_all(&mut *conn).await? {
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

        /// Where the credential `identifier` stands (from 0) among those
        /// `query` selects, in its order (offset and limit aside); `None`
        /// when the query does not select it.
        pub(super) async fn credential_position(
            pool: &Pool,
            query: &CredentialQuery,
            identifier: &str,
        ) -> Result<Option<u64>> {
            fill_keys(pool).await?;
            let mut filter = credential_where(query);
            let clause = filter.clause();
            let wanted = filter.bind(Bind::Text(identifier.to_string()));
            let sql = format!(
                "SELECT place FROM (SELECT c.identifier, \
                 ROW_NUMBER() OVER (ORDER BY {}) AS place \
                 {CREDENTIALS_FROM} {clause}) ranked WHERE ranked.identifier = {wanted}",
                credential_order(query)
            );
            let position: Option<i64> = bind_scalar(sqlx::query_scalar(&sql), &filter.binds)
                .fetch_optional(pool)
                .await?;
            Ok(position.and_then(|p| u64::try_from(p - 1).ok()))
        }

        /// The page of roles `query` selects, in natural order of their
        /// names, and its count, read in one transaction.
        pub(super) async fn roles_page(pool: &Pool, query: &RoleQuery) -> Result<RolePage> {
            fill_keys(pool).await?;
            let mut tx = pool.begin_with($begin_read).await?;
            let (total, rows) = count_and_page(
                &mut tx,
                "r.id, r.name, r.description, r.created_at",
                "FROM roles r",
                role_where(query),
                "r.sort_key, r.name, r.id",
                query.offset,
                query.limit.min(MAX_PAGE),
            )
            .await?;
            let ids = rows
                .iter()
                .map(|row| row.try_get("id"))
                .collect::<std::result::Result<Vec<i64>, _>>()?;
            let mut actions = role_actions(&mut tx, &ids).await?;
            tx.commit().await?;
            let roles = rows
                .iter()
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
                .collect::<Result<Vec<_>>>()?;
            Ok(RolePage { roles, total })
        }

        /// The actions, sorted, of the roles with these ids.
        async fn role_actions(conn: &mut Conn, ids: &[i64]) -> Result<HashMap<i64, Vec<String>>> {
            let mut by_role: HashMap<i64, Vec<String>> = HashMap::new();
            if ids.is_empty() {
                return Ok(by_role);
            }
            let sql = format!(
                "SELECT role_id, action FROM role_actions WHERE role_id IN ({}) ORDER BY action",
                id_list(ids)
            );
            for row in sqlx::query(&sql).fetch_all(&mut *conn).await? {
                by_role
                    .entry(row.try_get("role_id")?)
                    .or_default()
                    .push(row.try_get("action")?);
            }
            Ok(by_role)
        }
    };
}

pub(crate) use list_sql;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(like_pattern(""), "%%");
    }

    #[test]
    fn client_ids_are_searched_as_written() {
        assert_eq!(searched_client("12"), Some(12));
        assert_eq!(searched_client("#12"), Some(12));
        assert_eq!(searched_client("012"), None);
        assert_eq!(searched_client("0"), None);
        assert_eq!(searched_client("12a"), None);
    }

    #[test]
    fn user_text_is_only_ever_bound() {
        let query = CredentialQuery {
            search: "x' OR 1=1 --".into(),
            admin: Some(AdminId(3)),
            state: Some(CredentialState::Unused),
            ..CredentialQuery::default()
        };
        let filter = credential_where(&query);
        assert!(!filter.clause().contains("OR 1=1"));
        assert_eq!(
            filter.binds[0],
            Bind::Text("%x' or 1=1 --%".into()),
            "lowercase, as the stored keys"
        );
        assert_eq!(filter.binds.len(), 3);
        assert!(role_where(&RoleQuery::default()).clause().is_empty());
    }
}
