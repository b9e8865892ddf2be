//! The records keygate manages, as stored and as listed.

use serde::Serialize;

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
}
