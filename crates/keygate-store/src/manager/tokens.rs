//! Admin API tokens: made for an admin (shown once), listed, revoked, and
//! checked on every management API call. A token acts as its admin: a
//! disabled admin's tokens are refused, a removed admin's are gone.

use keygate_core::audit::{AuditVerb, Changes};
use keygate_core::model::{ApiToken, TokenId};
use keygate_core::token::{PlainToken, TokenFormatError};
use keygate_core::validate;
use serde_json::json;

use super::{check_expiry, Manager};
use crate::store::now_secs;
use crate::{Error, Result};

/// Why a presented token was refused. The API answers every case with the
/// same 401; the reason goes to the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not shaped like a token, or its checksum is wrong.
    Malformed(TokenFormatError),
    /// No such token (never made, or revoked).
    Unknown,
    /// Its expiry has passed.
    Expired,
    /// Its admin is disabled.
    AdminDisabled,
}

impl std::fmt::Display for TokenRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenRefusal::Malformed(e) => e.fmt(f),
            TokenRefusal::Unknown => f.write_str("unknown or revoked API token"),
            TokenRefusal::Expired => f.write_str("expired API token"),
            TokenRefusal::AdminDisabled => f.write_str("the API token's admin is disabled"),
        }
    }
}

impl Manager {
    /// Makes a token acting as `username`, valid until `expires_at` (unix
    /// seconds, in the future) or for ever; the token is returned here and
    /// never again.
    pub async fn create_token(
        &self,
        username: &str,
        description: &str,
        expires_at: Option<i64>,
    ) -> Result<(ApiToken, PlainToken)> {
        let admin = self.admin(username).await?;
        let description = validate::description(description)?;
        let expires_at = check_expiry(expires_at)?;
        let token = PlainToken::generate();
        let made = self
            .store
            .create_token(
                admin.id,
                &token.hash(),
                &token.shown_prefix(),
                &description,
                expires_at,
            )
            .await?;
        let changes = Changes::new()
            .note("admin", json!(made.admin))
            .note("prefix", json!(made.prefix))
            .note("description", json!(made.description))
            .note("expires_at", json!(made.expires_at));
        self.audit(
            AuditVerb::TokenCreate,
            &made.id.0.to_string(),
            &made.description,
            changes,
        )
        .await?;
        Ok((made, token))
    }

    /// Every token, or those of the admin named `username`.
    pub async fn list_tokens(&self, username: Option<&str>) -> Result<Vec<ApiToken>> {
        let admin = match username {
            Some(name) => Some(self.admin(name).await?.id),
            None => None,
        };
        self.store.list_tokens(admin).await
    }

    /// Revokes the token: refused from the next call on.
    pub async fn revoke_token(&self, id: TokenId) -> Result<ApiToken> {
        let token = self
            .store
            .delete_token(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("API token {} not found", id.0)))?;
        let changes = Changes::new()
            .note("admin", json!(token.admin))
            .note("prefix", json!(token.prefix));
        self.audit(
            AuditVerb::TokenRevoke,
            &id.0.to_string(),
            &token.description,
            changes,
        )
        .await?;
        Ok(token)
    }

    /// Checks a presented token: the token (and so its admin) when it is
    /// well formed, known, unexpired and its admin enabled.
    pub async fn authenticate_token(
        &self,
        presented: &str,
    ) -> Result<std::result::Result<ApiToken, TokenRefusal>> {
        let token = match PlainToken::parse(presented.trim()) {
            Ok(token) => token,
            Err(e) => return Ok(Err(TokenRefusal::Malformed(e))),
        };
        let Some((found, admin_enabled)) = self.store.token_by_hash(&token.hash()).await? else {
            return Ok(Err(TokenRefusal::Unknown));
        };
        let now = now_secs();
        if found.expires_at.is_some_and(|at| at <= now) {
            return Ok(Err(TokenRefusal::Expired));
        }
        if !admin_enabled {
            return Ok(Err(TokenRefusal::AdminDisabled));
        }
        self.store.touch_token(found.id, now).await?;
        Ok(Ok(found))
    }
}
