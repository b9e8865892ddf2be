//! keygate's pure domain: the action catalog, identifiers and secrets, admin
//! passwords, validation rules, and the immutable [`Snapshot`] that makes the
//! authorization decision. Nothing here does I/O or is async, so every rule
//! can be tested as a table.

pub mod action_set;
pub mod audit;
pub mod catalog;
pub mod listing;
pub mod model;
pub mod net;
pub mod params;
pub mod password;
pub mod rate;
pub mod scope;
pub mod secret;
pub mod snapshot;
pub mod token;
pub mod usage;
pub mod validate;

pub use action_set::ActionSet;
pub use catalog::{ActionDef, ActionId, Catalog, CatalogError, CustomAction};
pub use model::{AdminId, ClientId, CredentialId, RoleId};
pub use params::{CanonicalParams, ParamError, Special};
pub use rate::Rate;
pub use secret::{ConfigSecret, PlainSecret, SecretHashes};
pub use snapshot::{
    Authenticated, Call, Decision, Grant, Snapshot, SnapshotBuilder, SnapshotDelta, SnapshotSource,
};

/// Name of the role given to credentials imported as full-access legacy
/// credentials (`keygate credential import`).
pub const COMPATIBILITY_ROLE_NAME: &str = "Compatibility Role";

/// Message shown when a credential is generated before any role exists.
pub const NO_ROLES_MESSAGE: &str =
    "You must create at least one API role before you can generate API credentials";
