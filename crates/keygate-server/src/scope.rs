//! Enforcing a client-scoped credential's rule (DESIGN.md "Client scope")
//! in the gateway and the sidecar: the pure check of `keygate_core::scope`,
//! plus the ownership lookups it asks for, run against the upstream with
//! the master credential and cached briefly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::StatusCode;
use keygate_core::model::ClientId;
use keygate_core::params::{MASTER_PAIRS, MAX_INPUT_VARS};
use keygate_core::scope::{self, Lookup, LookupAnswer, ObjectLookup, ScopeRefusal};
use keygate_core::{CanonicalParams, Catalog, ParamError};

use crate::config::ClientScopeConfig;
use crate::metrics::Outcome;
use crate::upstream::Upstream;

/// An object's owner and when it was looked up, by object id.
type Owners = HashMap<u64, (ClientId, Instant)>;

/// Owners by lookup parameter, then object id.
type ByParam = HashMap<Box<str>, Owners>;

/// Owners of looked-up objects, by lookup action, lookup parameter and
/// object id (one action may find objects by several parameters whose ids
/// overlap, e.g. GetTicket by `ticketid` or `ticketnum`): bounded in time
/// (ownership can change) and in size (ids come from clients).
pub struct OwnerCache {
    config: ClientScopeConfig,
    /// By lookup action (a handful), then parameter, then object id:
    /// looked up by `&str` without allocating.
    owners: Mutex<HashMap<Box<str>, ByParam>>,
}

impl OwnerCache {
    /// An empty cache.
    pub fn new(config: ClientScopeConfig) -> Self {
        Self {
            config,
            owners: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets every owner (the upstream changed in a configuration reload).
    pub fn clear(&self) {
        self.owners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn get(&self, lookup: &Lookup, id: u64, now: Instant) -> Option<ClientId> {
        let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let by_param = owners.get(&*lookup.action)?;
        let (owner, at) = by_param.get(&*lookup.param)?.get(&id)?;
        (now.duration_since(*at) < self.config.lookup_ttl).then_some(*owner)
    }

    fn put(&self, lookup: &Lookup, id: u64, owner: ClientId, now: Instant) {
        if self.config.lookup_capacity == 0 || self.config.lookup_ttl.is_zero() {
            return;
        }
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let held = |owners: &HashMap<Box<str>, ByParam>| {
            owners
                .values()
                .flat_map(HashMap::values)
                .map(HashMap::len)
                .sum::<usize>()
        };
        if held(&owners) >= self.config.lookup_capacity {
            let ttl = self.config.lookup_ttl;
            for objects in owners.values_mut().flat_map(HashMap::values_mut) {
                objects.retain(|_, (_, at)| now.duration_since(*at) < ttl);
            }
        }
        if held(&owners) >= self.config.lookup_capacity {
            // Still full of live entries: start over rather than grow; the
            // next calls look their objects up again.
            owners.clear();
        }
        owners
            .entry(lookup.action.clone())
            .or_default()
            .entry(lookup.param.clone())
            .or_default()
            .insert(id, (owner, now));
    }
}

/// A scoped call that may be forwarded, and what its answer must pass.
pub struct Admitted<'c> {
    /// The rule's response keys holding client ids (checked besides
    /// `DEFAULT_OWNER_FIELDS`); `None`: the rule is `public`, whose answers
    /// hold no client data.
    pub owner_keys: Option<&'c [Box<str>]>,
    /// A client parameter to add to the forwarded call (the sidecar's
    /// caller must add it).
    pub set: Option<(&'c str, ClientId)>,
}

/// Why a scoped call is not forwarded, with its answer.
#[derive(Debug)]
pub struct Refusal {
    /// Logged and counted as.
    pub outcome: Outcome,
    /// Answered with.
    pub status: StatusCode,
    /// The contract's message.
    pub message: String,
    /// The parameter concerned, for the sidecar's `"param"`.
    pub param: Option<String>,
}

impl Refusal {
    fn outside(param: &str) -> Self {
        Self {
            outcome: Outcome::OutsideScope,
            status: StatusCode::FORBIDDEN,
            message: format!(
                "Invalid Permissions: {param} is outside this credential's client scope"
            ),
            param: Some(param.into()),
        }
    }

    fn of(refusal: ScopeRefusal<'_>, action: &str) -> Self {
        let bad_request = |message: String, param: &str| Self {
            outcome: Outcome::OutsideScope,
            status: StatusCode::BAD_REQUEST,
            message,
            param: Some(param.into()),
        };
        match refusal {
            ScopeRefusal::NotAvailable => Self {
                outcome: Outcome::OutsideScope,
                status: StatusCode::FORBIDDEN,
                message: format!(
                    "Invalid Permissions: API action \"{}\" is not available to client-scoped credentials",
                    action.to_lowercase()
                ),
                param: None,
            },
            ScopeRefusal::OutsideScope(param) => Self::outside(param),
            ScopeRefusal::ClientRequired(param) => bad_request(
                format!("Parameter {param} is required: this credential is scoped to several clients"),
                param,
            ),
            ScopeRefusal::ObjectRequired(param) => bad_request(
                format!("Parameter {param} is required for client-scoped credentials"),
                param,
            ),
            ScopeRefusal::JsonRequired => bad_request(
                "Client-scoped credentials must request responsetype=json".into(),
                "responsetype",
            ),
        }
    }

    fn upstream_unavailable() -> Self {
        Self {
            outcome: Outcome::Allowed,
            status: StatusCode::BAD_GATEWAY,
            message: "Upstream unavailable".into(),
            param: None,
        }
    }
}

/// Checks a scoped call of `action` against its rule, and looks up the
/// owner of a named object through `upstream` (none: the sidecar without
/// one, which refuses object rules).
pub async fn admit<'c>(
    catalog: &'c Catalog,
    cache: &OwnerCache,
    upstream: Option<&Upstream>,
    action: &str,
    clients: &[ClientId],
    params: &CanonicalParams,
) -> Result<Admitted<'c>, Refusal> {
    let plan = scope::check(catalog.scope_rule(action), clients, params)
        .map_err(|refusal| Refusal::of(refusal, action))?;
    if let Some(lookup) = &plan.lookup {
        let Some(upstream) = upstream else {
            return Err(Refusal::outside(lookup.param));
        };
        let owner = owner_of(cache, upstream, lookup).await?;
        if clients.binary_search(&owner).is_err() {
            return Err(Refusal::outside(lookup.param));
        }
    }
    // The added client parameter counts against PHP's max_input_vars too.
    let added = usize::from(plan.set.is_some());
    if params.forwarded_pairs() + added + MASTER_PAIRS > MAX_INPUT_VARS {
        return Err(Refusal {
            outcome: Outcome::BadRequest,
            status: StatusCode::BAD_REQUEST,
            message: ParamError::TooMany.to_string(),
            param: None,
        });
    }
    Ok(Admitted {
        owner_keys: plan.check_response.then_some(plan.owner_fields),
        set: plan.set,
    })
}

/// The owner of `lookup`'s object, from the cache or the upstream.
async fn owner_of(
    cache: &OwnerCache,
    upstream: &Upstream,
    lookup: &ObjectLookup<'_>,
) -> Result<ClientId, Refusal> {
    let action = &*lookup.lookup.action;
    if let Some(owner) = cache.get(lookup.lookup, lookup.object_id, Instant::now()) {
        return Ok(owner);
    }
    let body = upstream
        .lookup(action, &lookup.lookup.param, lookup.object_id)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, action, "ownership lookup failed");
            Refusal::upstream_unavailable()
        })?;
    match lookup.lookup.answer(&body) {
        LookupAnswer::Owner(owner) => {
            cache.put(lookup.lookup, lookup.object_id, owner, Instant::now());
            Ok(owner)
        }
        LookupAnswer::NotFound => Err(Refusal::outside(lookup.param)),
        LookupAnswer::Unreadable => {
            tracing::warn!(
                action,
                "ownership lookup answered something other than JSON"
            );
            Err(Refusal::upstream_unavailable())
        }
    }
}
