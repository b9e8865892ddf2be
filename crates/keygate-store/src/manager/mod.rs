//! Management operations with keygate's rules: validation, name lookups,
//! the "create a role first" rule, the Compatibility Role on import. After
//! every change it awaits the change hook, so the server's snapshot is
//! current when the call returns.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use keygate_core::audit::{Actor, AuditVerb, Changes};
use keygate_core::model::{
    Admin, AdminId, ClientId, Credential, CredentialId, Lifecycle, Role, RoleId,
};
use keygate_core::net::IpNet;
use keygate_core::rate::Rate;
use keygate_core::{password, secret, validate, Catalog, PlainSecret};

use crate::list_sql::{CredentialQuery, RoleQuery};
use crate::store::{
    now_secs, CredentialPatch, NewCredential, RoleAssignment, RoleDraft, RolePatch, Store,
};
use serde_json::{json, Value};

use crate::{Error, Result};

mod audit;
mod lists;
pub(crate) mod sessions;
mod tokens;
mod usage;

pub use audit::AuditVerification;
pub use tokens::TokenRefusal;
pub use usage::{CredentialUsage, Tightened};

/// The most networks one credential's IP allowlist may hold.
pub const MAX_ALLOW_IPS: usize = 64;

/// The most clients one credential's client scope may hold.
pub const MAX_CLIENT_IDS: usize = 64;

/// The message for an expiry that is not in the future.
const EXPIRY_IN_THE_PAST: &str = "expiry must be in the future";

/// A role to create.
#[derive(Clone, Debug, Default)]
pub struct RoleInput {
    /// Name, unique case-insensitively.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Action names to allow (any case, aliases accepted).
    pub actions: Vec<String>,
    /// Categories whose every action to allow.
    pub categories: Vec<String>,
}

/// Changes to a role; unset fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct RoleEdit {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// Replace every allowed action with these (the UI's full form).
    pub set_actions: Option<Vec<String>>,
    /// Actions to add.
    pub allow: Vec<String>,
    /// Actions to remove.
    pub revoke: Vec<String>,
    /// Categories whose actions to add.
    pub allow_categories: Vec<String>,
    /// Categories whose actions to remove.
    pub revoke_categories: Vec<String>,
}

/// Changes to a credential; unset fields stay as they are. `R` names the
/// roles: role names (`String`, for [`Manager::edit_credential`]) or ids
/// ([`RoleId`], for [`Manager::edit_credential_by_id`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialEdit<R = String> {
    /// New description.
    pub description: Option<String>,
    /// Replace the roles with these (empty: no roles).
    pub roles: Option<Vec<R>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Set (`Some(Some(at))`, unix seconds, in the future) or clear
    /// (`Some(None)`) the expiry.
    pub expires_at: Option<Option<i64>>,
    /// Replace the IP allowlist (empty: any address); duplicates are
    /// dropped, at most [`MAX_ALLOW_IPS`] networks.
    pub allow_ips: Option<Vec<IpNet>>,
    /// Set or clear (back to the configured default) the rate limit.
    pub rate_limit: Option<Option<Rate>>,
    /// Replace the client scope (empty: not scoped); each id positive,
    /// sorted and deduplicated, at most [`MAX_CLIENT_IDS`].
    pub client_ids: Option<Vec<ClientId>>,
}

impl<R> Default for CredentialEdit<R> {
    fn default() -> Self {
        Self {
            description: None,
            roles: None,
            enabled: None,
            expires_at: None,
            allow_ips: None,
            rate_limit: None,
            client_ids: None,
        }
    }
}

impl<R> CredentialEdit<R> {
    /// Whether the edit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.description.is_none()
            && self.roles.is_none()
            && self.enabled.is_none()
            && self.expires_at.is_none()
            && self.allow_ips.is_none()
            && self.rate_limit.is_none()
            && self.client_ids.is_none()
    }
}

/// Awaited after every change; the server uses it to rebuild its snapshot
/// so a change made in this process is in force when the call returns.
pub type ChangeHook = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Management operations over a [`Store`]. See the module documentation.
#[derive(Clone)]
pub struct Manager {
    store: Arc<dyn Store>,
    /// Who the audit trail names for changes made through this handle.
    actor: Actor,
    /// Swapped whole when the server reloads its configuration (SIGHUP).
    catalog: Arc<ArcSwap<Catalog>>,
    hook: Arc<OnceLock<ChangeHook>>,
}

impl Manager {
    /// Operations on `store`, resolving actions against `catalog`.
    pub fn new(store: Arc<dyn Store>, catalog: Arc<Catalog>) -> Self {
        Self {
            store,
            actor: Actor::system(),
            catalog: Arc::new(ArcSwap::new(catalog)),
            hook: Arc::new(OnceLock::new()),
        }
    }

    /// Sets the hook awaited after every change (once; later calls are ignored).
    pub fn set_change_hook(&self, hook: ChangeHook) {
        let _ = self.hook.set(hook);
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The action catalog in force.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// Puts `catalog` in force for every clone of this manager (a
    /// configuration reload changed the custom actions).
    pub fn set_catalog(&self, catalog: Arc<Catalog>) {
        self.catalog.store(catalog);
    }

    /// Runs the change hook, then hands `value` back to the caller.
    pub(crate) async fn changed<T>(&self, value: T) -> T {
        if let Some(hook) = self.hook.get() {
            hook().await;
        }
        value
    }

    // ---- admins ----

    /// Adds an enabled admin; the username is NFKC-normalised and must be
    /// unique ignoring case (`ALICE` cannot join `alice`).
    pub async fn add_admin(&self, username: &str, password: &str) -> Result<Admin> {
        let username = validate::username(username)?;
        validate::password(password)?;
        if let Some((taken, _)) = self.store.find_admin(&username).await? {
            if validate::name_key(&taken.username) == validate::name_key(&username) {
                let twin = if taken.username == username {
                    ""
                } else {
                    " (usernames ignore case)"
                };
                return Err(Error::Conflict(format!(
                    "an admin named {:?} already exists{twin}",
                    taken.username
                )));
            }
        }
        let hash = hash_off_runtime(password.to_string()).await?;
        let admin = self.store.create_admin(&username, &hash).await?;
        let changes = Changes::new().field("enabled", Value::Null, json!(true));
        self.audit(
            AuditVerb::AdminAdd,
            &admin.username,
            &admin.username,
            changes,
        )
        .await?;
        Ok(self.changed(admin).await)
    }

    /// All admins.
    pub async fn list_admins(&self) -> Result<Vec<Admin>> {
        self.store.list_admins().await
    }

    /// The admin named `username`.
    pub async fn admin(&self, username: &str) -> Result<Admin> {
        Ok(self.admin_with_hash(username).await?.0)
    }

    async fn admin_with_hash(&self, username: &str) -> Result<(Admin, String)> {
        self.store
            .find_admin(username.trim())
            .await?
            .ok_or_else(|| Error::NotFound(format!("admin {:?} not found", username.trim())))
    }

    /// Sets a new password; the admin's credentials stay valid.
    pub async fn change_password(&self, username: &str, password: &str) -> Result<()> {
        let admin = self.admin(username).await?;
        validate::password(password)?;
        let hash = hash_off_runtime(password.to_string()).await?;
        self.store.set_admin_password(admin.id, &hash).await?;
        self.store.delete_admin_sessions(admin.id).await?; // logged out everywhere
        let changes = Changes::new().note("password", json!("changed"));
        self.audit(
            AuditVerb::AdminPasswd,
            &admin.username,
            &admin.username,
            changes,
        )
        .await?;
        self.changed(()).await;
        Ok(())
    }

    /// Enables or disables an admin (and with it all its credentials).
    pub async fn set_admin_enabled(&self, username: &str, enabled: bool) -> Result<Admin> {
        let admin = self.admin(username).await?;
        self.store.set_admin_enabled(admin.id, enabled).await?;
        if !enabled {
            self.store.delete_admin_sessions(admin.id).await?; // logged out everywhere
        }
        let verb = if enabled {
            AuditVerb::AdminEnable
        } else {
            AuditVerb::AdminDisable
        };
        let changes = Changes::new().field("enabled", json!(admin.enabled), json!(enabled));
        self.audit(verb, &admin.username, &admin.username, changes)
            .await?;
        Ok(self.changed(Admin { enabled, ..admin }).await)
    }

    /// Removes an admin and all its credentials.
    pub async fn remove_admin(&self, username: &str) -> Result<Admin> {
        let admin = self.admin(username).await?;
        let owned = self
            .noted_credentials(CredentialQuery {
                admin: Some(admin.id),
                ..CredentialQuery::default()
            })
            .await?;
        self.store.remove_admin(admin.id).await?;
        let changes = Changes::new().field("enabled", json!(admin.enabled), Value::Null);
        let changes = owned.note(changes, "credentials_removed");
        self.audit(
            AuditVerb::AdminRemove,
            &admin.username,
            &admin.username,
            changes,
        )
        .await?;
        Ok(self.changed(admin).await)
    }

    /// The enabled admin whose password this is; `None` for a wrong
    /// password, unknown or disabled admin (argon2 runs in every case).
    pub async fn check_login(&self, username: &str, password: &str) -> Result<Option<Admin>> {
        let found = self.store.find_admin(username.trim()).await?;
        let hash = found
            .as_ref()
            .map_or_else(|| password::dummy_hash().to_string(), |(_, h)| h.clone());
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || password::verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        Ok(found.and_then(|(admin, _)| (ok && admin.enabled).then_some(admin)))
    }

    // ---- roles ----

    /// Creates a role.
    pub async fn create_role(&self, input: RoleInput) -> Result<Role> {
        let mut actions = self.resolve_actions(&input.actions)?;
        actions.extend(self.category_actions(&input.categories)?);
        let draft = RoleDraft {
            name: validate::role_name(&input.name)?,
            description: validate::description(&input.description)?,
            actions: actions.into_iter().collect(),
        };
        let role = self.store.create_role(&draft).await?;
        self.audit_role(AuditVerb::RoleCreate, None, Some(&role))
            .await?;
        Ok(self.changed(role).await)
    }

    /// All roles.
    pub async fn list_roles(&self) -> Result<Vec<Role>> {
        self.store.list_roles().await
    }

    /// The role named `name` (case-insensitively).
    pub async fn role(&self, name: &str) -> Result<Role> {
        self.store
            .find_role(name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("role {:?} not found", name.trim())))
    }

    /// The role with this id.
    pub async fn role_by_id(&self, id: RoleId) -> Result<Role> {
        self.store
            .get_role(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("role {} not found", id.0)))
    }

    /// How many holders of `role` hold none of `allowing` besides it.
    pub async fn stranded_holders(&self, role: RoleId, allowing: &[RoleId]) -> Result<u64> {
        self.store.stranded_holders(role, allowing).await
    }

    /// How many credentials hold each role (a role nobody holds is left
    /// out), counted in one query.
    pub async fn role_usage(&self) -> Result<HashMap<RoleId, usize>> {
        self.store.role_usage().await
    }

    /// How many credentials each admin owns (an admin without any is left
    /// out), counted in one query.
    pub async fn credentials_per_admin(&self) -> Result<HashMap<AdminId, usize>> {
        self.store.credentials_per_admin().await
    }

    /// The credentials holding role `id`, by creation.
    pub async fn role_holders(&self, id: RoleId) -> Result<Vec<Credential>> {
        self.store.role_holders(id).await
    }

    /// Edits the role named `name`.
    pub async fn edit_role(&self, name: &str, edit: RoleEdit) -> Result<Role> {
        let role = self.role(name).await?;
        self.edit_role_by_id(role.id, edit).await
    }

    /// Edits the role with this id, atomically.
    pub async fn edit_role_by_id(&self, id: RoleId, edit: RoleEdit) -> Result<Role> {
        let mut allow = self.resolve_actions(&edit.allow)?;
        allow.extend(self.category_actions(&edit.allow_categories)?);
        let mut revoke = self.resolve_actions(&edit.revoke)?;
        revoke.extend(self.category_actions(&edit.revoke_categories)?);
        let patch = RolePatch {
            name: edit.name.as_deref().map(validate::role_name).transpose()?,
            description: edit
                .description
                .as_deref()
                .map(validate::description)
                .transpose()?,
            set_actions: match &edit.set_actions {
                Some(actions) => Some(self.resolve_actions(actions)?.into_iter().collect()),
                None => None,
            },
            allow: allow.into_iter().collect(),
            revoke: revoke.into_iter().collect(),
        };
        let before = self.store.get_role(id).await?;
        let role = self
            .store
            .update_role(id, &patch)
            .await?
            .ok_or_else(|| Error::NotFound(format!("role {} not found", id.0)))?;
        self.audit_role(AuditVerb::RoleEdit, before.as_ref(), Some(&role))
            .await?;
        Ok(self.changed(role).await)
    }

    /// Deletes the role named `name`, unassigning it everywhere.
    pub async fn delete_role(&self, name: &str) -> Result<Role> {
        let role = self.role(name).await?;
        self.delete_role_by_id(role.id).await?;
        Ok(role)
    }

    /// Deletes the role with this id, unassigning it everywhere.
    pub async fn delete_role_by_id(&self, id: RoleId) -> Result<()> {
        let before = self.store.get_role(id).await?;
        let holders = self
            .noted_credentials(CredentialQuery {
                role: Some(id),
                ..CredentialQuery::default()
            })
            .await?;
        if !self.store.delete_role(id).await? {
            return Err(Error::NotFound(format!("role {} not found", id.0)));
        }
        let changes = holders.note(
            audit::role_changes(before.as_ref(), None),
            "unassigned_from",
        );
        let name = before.as_ref().map_or("", |r| r.name.as_str());
        self.audit(AuditVerb::RoleDelete, &id.0.to_string(), name, changes)
            .await?;
        self.changed(()).await;
        Ok(())
    }

    /// Canonical names of `names`; any unknown name is an error.
    fn resolve_actions(&self, names: &[String]) -> Result<BTreeSet<String>> {
        let catalog = self.catalog.load();
        names
            .iter()
            .map(|name| match catalog.resolve(name.trim()) {
                Some(id) => Ok(catalog.action(id).name.clone()),
                None => Err(Error::Invalid(format!(
                    "unknown action {:?} (run `keygate actions` to list them)",
                    name.trim()
                ))),
            })
            .collect()
    }

    fn category_actions(&self, categories: &[String]) -> Result<BTreeSet<String>> {
        let catalog = self.catalog.load();
        let mut actions = BTreeSet::new();
        for name in categories {
            let category = catalog.find_category(name).ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown category {:?} (run `keygate actions` to list them)",
                    name.trim()
                ))
            })?;
            actions.extend(catalog.actions_in(category).map(|(_, a)| a.name.clone()));
        }
        Ok(actions)
    }

    async fn role_ids(&self, names: &[String]) -> Result<Vec<RoleId>> {
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            let id = self.role(name).await?.id;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    // ---- credentials ----

    /// Generates a credential with this lifecycle (`Lifecycle::default()`:
    /// enabled, no expiry, any address, the default rate, not client
    /// scoped); the secret is
    /// returned here and never again.
    pub async fn generate_credential(
        &self,
        admin: &str,
        description: &str,
        roles: &[String],
        lifecycle: Lifecycle,
    ) -> Result<(Credential, PlainSecret)> {
        // Named roles that resolve prove a role exists; listing them all is
        // only needed when none are named or one is missing.
        let role_ids = self.role_ids(roles).await;
        let check_any = roles.is_empty() || matches!(role_ids, Err(Error::NotFound(_)));
        if check_any && !self.any_role().await? {
            return Err(Error::Invalid(keygate_core::NO_ROLES_MESSAGE.into()));
        }
        self.generate_for(admin, description, role_ids?, lifecycle)
            .await
    }

    /// Generates a credential holding the roles with these ids (the web
    /// UI's form); a role deleted meanwhile is `NotFound`.
    pub async fn generate_credential_with_ids(
        &self,
        admin: &str,
        description: &str,
        role_ids: &[RoleId],
        lifecycle: Lifecycle,
    ) -> Result<(Credential, PlainSecret)> {
        if role_ids.is_empty() && !self.any_role().await? {
            return Err(Error::Invalid(keygate_core::NO_ROLES_MESSAGE.into()));
        }
        self.generate_for(admin, description, role_ids.to_vec(), lifecycle)
            .await
    }

    /// Whether any role exists: one row read, not every role with its
    /// actions.
    async fn any_role(&self) -> Result<bool> {
        let query = RoleQuery {
            limit: 1,
            ..RoleQuery::default()
        };
        Ok(!self.store.roles_page(&query).await?.roles.is_empty())
    }

    /// Both generate paths, once the roles are known to exist.
    async fn generate_for(
        &self,
        admin: &str,
        description: &str,
        role_ids: Vec<RoleId>,
        lifecycle: Lifecycle,
    ) -> Result<(Credential, PlainSecret)> {
        let admin = self.admin(admin).await?;
        let description = validate::description(description)?;
        let lifecycle = Lifecycle {
            enabled: lifecycle.enabled,
            expires_at: check_expiry(lifecycle.expires_at)?,
            allow_ips: check_allow_ips(lifecycle.allow_ips)?,
            rate_limit: lifecycle.rate_limit,
            client_ids: check_client_ids(lifecycle.client_ids)?,
        };
        let secret = PlainSecret::generate();
        let new = NewCredential {
            identifier: secret::generate_identifier(),
            hashes: secret.hashes(),
            admin_id: admin.id,
            description,
            lifecycle,
        };
        let credential = self
            .store
            .create_credential(&new, &RoleAssignment::Roles(role_ids))
            .await?;
        self.audit_credential(AuditVerb::CredentialGenerate, None, Some(&credential))
            .await?;
        Ok(self.changed((credential, secret)).await)
    }

    /// Imports a legacy full-access credential with the Compatibility Role.
    pub async fn import_credential(
        &self,
        admin: &str,
        identifier: &str,
        secret: &str,
        description: &str,
    ) -> Result<Credential> {
        let admin = self.admin(admin).await?;
        let identifier = validate::imported_token("identifier", identifier.trim())?;
        let secret = PlainSecret::from_user(validate::imported_token("secret", secret)?);
        let new = NewCredential {
            identifier,
            hashes: secret.hashes(),
            admin_id: admin.id,
            description: validate::description(description)?,
            lifecycle: Lifecycle::default(),
        };
        let compatibility = RoleDraft {
            name: keygate_core::COMPATIBILITY_ROLE_NAME.into(),
            description:
                "Every catalog action, for credentials imported as full-access legacy credentials"
                    .into(),
            actions: self
                .catalog
                .load()
                .actions()
                .map(|(_, a)| a.name.clone())
                .collect(),
        };
        let credential = self
            .store
            .create_credential(&new, &RoleAssignment::ExistingOrNew(compatibility))
            .await?;
        self.audit_credential(AuditVerb::CredentialImport, None, Some(&credential))
            .await?;
        Ok(self.changed(credential).await)
    }

    /// All credentials, or those of one admin.
    pub async fn list_credentials(&self, admin: Option<&str>) -> Result<Vec<Credential>> {
        let admin_id = match admin {
            Some(name) => Some(self.admin(name).await?.id),
            None => None,
        };
        self.store.list_credentials(admin_id).await
    }

    /// The credential with this identifier.
    pub async fn credential(&self, identifier: &str) -> Result<Credential> {
        self.store
            .find_credential(identifier.trim())
            .await?
            .ok_or_else(|| Error::NotFound(format!("credential {:?} not found", identifier.trim())))
    }

    /// Edits the credential with this identifier (roles by name), in one
    /// transaction.
    pub async fn edit_credential(
        &self,
        identifier: &str,
        edit: CredentialEdit<String>,
    ) -> Result<Credential> {
        let credential = self.credential(identifier).await?;
        let description = edit
            .description
            .as_deref()
            .map(validate::description)
            .transpose()?;
        let roles = match &edit.roles {
            Some(names) => Some(self.role_ids(names).await?),
            None => None,
        };
        let edit = CredentialEdit {
            description,
            roles,
            enabled: edit.enabled,
            expires_at: edit.expires_at,
            allow_ips: edit.allow_ips,
            rate_limit: edit.rate_limit,
            client_ids: edit.client_ids,
        };
        // The credential just read is the audit's before-state: no second read.
        self.apply_credential_edit(credential.id, Some(credential), edit)
            .await
    }

    /// Edits the credential with this id (roles by id), in one transaction.
    pub async fn edit_credential_by_id(
        &self,
        id: CredentialId,
        edit: CredentialEdit<RoleId>,
    ) -> Result<Credential> {
        let before = self.store.get_credential(id).await?;
        self.apply_credential_edit(id, before, edit).await
    }

    /// Validates `edit`, applies it to credential `id` and audits it
    /// against `before`, the credential as read before the edit.
    async fn apply_credential_edit(
        &self,
        id: CredentialId,
        before: Option<Credential>,
        edit: CredentialEdit<RoleId>,
    ) -> Result<Credential> {
        let patch = CredentialPatch {
            description: edit
                .description
                .as_deref()
                .map(validate::description)
                .transpose()?,
            roles: edit.roles,
            enabled: edit.enabled,
            expires_at: edit.expires_at.map(check_expiry).transpose()?,
            allow_ips: edit.allow_ips.map(check_allow_ips).transpose()?,
            rate_limit: edit.rate_limit,
            client_ids: edit.client_ids.map(check_client_ids).transpose()?,
        };
        let credential = self
            .store
            .update_credential(id, &patch)
            .await?
            .ok_or_else(|| Error::NotFound(format!("credential {} not found", id.0)))?;
        let verb = before.as_ref().map_or(AuditVerb::CredentialEdit, |b| {
            audit::edit_verb(b, &credential)
        });
        self.audit_credential(verb, before.as_ref(), Some(&credential))
            .await?;
        Ok(self.changed(credential).await)
    }

    /// Enables or disables the credential: a disabled one fails
    /// authentication until enabled again.
    pub async fn set_credential_enabled(
        &self,
        identifier: &str,
        enabled: bool,
    ) -> Result<Credential> {
        let edit = CredentialEdit {
            enabled: Some(enabled),
            ..CredentialEdit::default()
        };
        self.edit_credential(identifier, edit).await
    }

    /// Gives the credential a new secret, returned here and never again.
    /// The current secret keeps working for `overlap` (then stops; zero:
    /// it stops at once), replacing any earlier old secret. Also returns
    /// when the old secret stops (unix seconds), `None` for a zero overlap.
    pub async fn rotate_credential(
        &self,
        identifier: &str,
        overlap: Duration,
    ) -> Result<(Credential, PlainSecret, Option<i64>)> {
        let credential = self.credential(identifier).await?;
        let old_until = if overlap.is_zero() {
            None
        } else {
            // Whole seconds, rounded up: a sub-second overlap still overlaps.
            let secs = overlap.as_secs() + u64::from(overlap.subsec_nanos() > 0);
            let until = i64::try_from(secs)
                .ok()
                .and_then(|secs| now_secs().checked_add(secs))
                .ok_or_else(|| Error::Invalid("the overlap is too long".into()))?;
            Some(until)
        };
        let secret = PlainSecret::generate();
        let rotated = self
            .store
            .rotate_credential(credential.id, &secret.hashes(), old_until)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("credential {:?} not found", identifier.trim()))
            })?;
        let changes = Changes::new()
            .note("secret", json!("replaced"))
            .note("old_secret_valid_until", json!(old_until));
        self.audit(
            AuditVerb::CredentialRotate,
            &rotated.identifier,
            &rotated.description,
            changes,
        )
        .await?;
        Ok(self.changed((rotated, secret, old_until)).await)
    }

    /// Deletes the credential; it stops working at once.
    pub async fn delete_credential(&self, identifier: &str) -> Result<Credential> {
        let credential = self.credential(identifier).await?;
        if !self.store.delete_credential(credential.id).await? {
            return Err(Error::NotFound(format!(
                "credential {:?} not found",
                identifier.trim()
            )));
        }
        self.audit_credential(AuditVerb::CredentialDelete, Some(&credential), None)
            .await?;
        Ok(self.changed(credential).await)
    }
}

/// An expiry, when set, must lie in the future.
pub(crate) fn check_expiry(expires_at: Option<i64>) -> Result<Option<i64>> {
    match expires_at {
        Some(at) if at <= now_secs() => Err(Error::Invalid(EXPIRY_IN_THE_PAST.into())),
        other => Ok(other),
    }
}

/// The allowlist without duplicates (first occurrence kept), at most
/// [`MAX_ALLOW_IPS`] networks.
fn check_allow_ips(nets: Vec<IpNet>) -> Result<Vec<IpNet>> {
    let mut seen = HashSet::with_capacity(nets.len());
    let unique: Vec<IpNet> = nets.into_iter().filter(|net| seen.insert(*net)).collect();
    if unique.len() > MAX_ALLOW_IPS {
        return Err(Error::Invalid(format!(
            "an IP allowlist holds at most {MAX_ALLOW_IPS} networks ({} given)",
            unique.len()
        )));
    }
    Ok(unique)
}

/// The client scope sorted and without duplicates: each id positive, at
/// most [`MAX_CLIENT_IDS`] clients.
fn check_client_ids(mut ids: Vec<ClientId>) -> Result<Vec<ClientId>> {
    if let Some(bad) = ids.iter().find(|id| id.0 <= 0) {
        return Err(Error::Invalid(format!(
            "client id must be a positive integer ({} given)",
            bad.0
        )));
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > MAX_CLIENT_IDS {
        return Err(Error::Invalid(format!(
            "a client scope holds at most {MAX_CLIENT_IDS} clients ({} given)",
            ids.len()
        )));
    }
    Ok(ids)
}

async fn hash_off_runtime(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || password::hash_password(&password))
        .await
        .map_err(|e| Error::Unavailable(format!("password hashing failed: {e}")))
}
