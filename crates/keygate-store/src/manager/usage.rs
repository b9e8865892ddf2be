//! Usage per credential and the least-privilege advisor (being written).

use keygate_core::model::{Credential, Role};
use keygate_core::usage::{Advice, UsageBucket};

/// A credential's usage buckets over a window.
#[derive(Clone, Debug)]
pub struct CredentialUsage {
    /// The credential.
    pub credential: Credential,
    /// Start of the window (unix seconds).
    pub since: i64,
    /// Its buckets, ascending by hour.
    pub buckets: Vec<UsageBucket>,
}

/// What [`super::Manager::tighten`] did.
#[derive(Clone, Debug)]
pub struct Tightened {
    /// The credential, now holding only the new role.
    pub credential: Credential,
    /// The least-privilege role created.
    pub role: Role,
    /// The advice it followed.
    pub advice: Advice,
}
