//! The records keygate manages, as stored and as listed.

use serde::{Serialize, Serializer};

use crate::net::IpNet;
use crate::rate::Rate;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);
    };
}

id_type!(
    /// Database id of an admin.
    AdminId
);
id_type!(
    /// Database id of a role: roles are identified by id, never by name.
    RoleId
);
id_type!(
    /// Database id of a credential.
    CredentialId
);
id_type!(
    /// A WHMCS client id (`tblclients.id`): the customer whose data a
    /// client-scoped credential is bound to.
    ClientId
);

id_type!(
    /// Database id of an admin API token (what `keygate admin token revoke`
    /// takes).
    TokenId
);

/// An admin API token as listed: never the token, only the characters
/// shown to tell tokens apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// Database id.
    pub id: TokenId,
    /// The admin it acts as.
    pub admin_id: AdminId,
    /// That admin's username.
    pub admin: String,
    /// `kgat_AbCd…`.
    pub prefix: String,
    /// Free text: what uses it.
    pub description: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds from which it is refused; `None`: never.
    pub expires_at: Option<i64>,
    /// Unix seconds of its last use, if any.
    pub last_used_at: Option<i64>,
}

/// An admin: owns credentials and may log in to the web UI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Admin {
    /// Database id.
    pub id: AdminId,
    /// Unique login name.
    pub username: String,
    /// Disabled admins cannot log in and their credentials are invalid.
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// A named set of allowed actions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Role {
    /// Database id.
    pub id: RoleId,
    /// Unique name (case-insensitively).
    pub name: String,
    /// Free text, may be empty.
    pub description: String,
    /// Canonical names of the allowed actions, sorted.
    pub actions: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A role as a credential refers to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoleRef {
    /// Database id.
    pub id: RoleId,
    /// The role's current name.
    pub name: String,
}

/// An API credential as listed: never carries its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Credential {
    /// Database id.
    pub id: CredentialId,
    /// Public identifier clients send.
    pub identifier: String,
    /// Owning admin's id.
    pub admin_id: AdminId,
    /// Owning admin's username.
    pub admin: String,
    /// Free text, may be empty.
    pub description: String,
    /// Assigned roles, by name.
    pub roles: Vec<RoleRef>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last authenticated use, if any.
    pub last_access: Option<i64>,
    /// Enabled state, expiry, allowlist and rate limit.
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
    /// During a rotation: unix seconds when the previous secret stops.
    pub old_secret_valid_until: Option<i64>,
}

/// What limits a credential besides its roles (DESIGN.md "Credential
/// lifecycle"): all of it enforced from the snapshot, without the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lifecycle {
    /// A disabled credential fails authentication until enabled again.
    pub enabled: bool,
    /// Unix seconds from which the credential fails authentication.
    pub expires_at: Option<i64>,
    /// Networks calls may come from; empty: any address.
    #[serde(serialize_with = "as_strings")]
    pub allow_ips: Vec<IpNet>,
    /// Calls allowed per period; `None`: the configured default.
    #[serde(serialize_with = "as_string")]
    pub rate_limit: Option<Rate>,
    /// WHMCS clients whose data the credential is bound to (DESIGN.md
    /// "Client scope"); empty: not scoped, any client's data.
    pub client_ids: Vec<ClientId>,
}

impl Default for Lifecycle {
    /// Enabled, never expiring, from anywhere, the default rate.
    fn default() -> Self {
        Self {
            enabled: true,
            expires_at: None,
            allow_ips: Vec::new(),
            rate_limit: None,
            client_ids: Vec::new(),
        }
    }
}

impl Lifecycle {
    /// Whether the credential is past its expiry at `now` (unix seconds).
    pub fn expired_at(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// Whether the credential is bound to a client scope.
    pub fn is_client_scoped(&self) -> bool {
        !self.client_ids.is_empty()
    }
}

fn as_strings<S: Serializer>(nets: &[IpNet], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(nets.iter().map(ToString::to_string))
}

fn as_string<S: Serializer>(rate: &Option<Rate>, serializer: S) -> Result<S::Ok, S::Error> {
    match rate {
        Some(rate) => serializer.serialize_some(&rate.to_string()),
        None => serializer.serialize_none(),
    }
}
