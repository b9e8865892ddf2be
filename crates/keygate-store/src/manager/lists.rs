//! The admin lists, paged and counted in the store (see
//! [`crate::list_sql`]): the UI asks for one page, never whole tables.

use super::Manager;
use crate::list_sql::{CredentialPage, CredentialQuery, RolePage, RoleQuery};
use crate::Result;

impl Manager {
    /// One page of the roles `query` selects, in natural order of their
    /// names, and how many it selects in all.
    pub async fn roles_page(&self, query: &RoleQuery) -> Result<RolePage> {
        self.store.roles_page(query).await
    }

    /// One page of the credentials `query` selects, with their roles, and
    /// how many it selects in all.
    pub async fn credentials_page(&self, query: &CredentialQuery) -> Result<CredentialPage> {
        self.store.credentials_page(query).await
    }

    /// Where the credential `identifier` stands (from 0) in `query`'s
    /// order; `None` when the query does not select it.
    pub async fn credential_position(
        &self,
        query: &CredentialQuery,
        identifier: &str,
    ) -> Result<Option<u64>> {
        self.store.credential_position(query, identifier).await
    }

    /// Up to `limit` roles no credential holds, by name, and how many
    /// there are.
    pub async fn unheld_roles(&self, limit: u32) -> Result<RolePage> {
        let query = RoleQuery {
            unheld: true,
            limit,
            ..RoleQuery::default()
        };
        self.store.roles_page(&query).await
    }
}
