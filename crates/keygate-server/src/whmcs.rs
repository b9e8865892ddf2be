//! `GET|POST /includes/api.php`: the WHMCS-compatible gateway.
//!
//! The parameters are made canonical first (`keygate_core::params`): the
//! decision reads them and the upstream receives the form keygate writes
//! from them, never the client's own bytes.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use keygate_core::model::ClientId;
use keygate_core::params::{plain_value, RawPair, Special};
use keygate_core::scope::check_response;
use keygate_core::{Call, CanonicalParams, Decision};

use crate::calls::{Answered, CallLog};
use crate::client_ip::client_ip;
use crate::metrics::{Endpoint, Outcome};
use crate::params::{self, ParamsError};
use crate::response::{self, Format};
use crate::scope;
use crate::upstream::Forwarded;
use crate::AppState;

/// A gateway call's answer: the upstream's, passed on as it came (the hot
/// loop writes it without building a `Response`), or keygate's own.
pub(crate) enum GatewayAnswer {
    /// The upstream's status, content type and body.
    Forwarded(Forwarded),
    /// An answer keygate made (a refusal, an error).
    Own(Response),
}

impl From<Response> for GatewayAnswer {
    fn from(response: Response) -> Self {
        Self::Own(response)
    }
}

impl IntoResponse for GatewayAnswer {
    fn into_response(self) -> Response {
        match self {
            Self::Forwarded(forwarded) => forwarded.into_response(),
            Self::Own(response) => response,
        }
    }
}

impl Answered for GatewayAnswer {
    fn status(&self) -> StatusCode {
        match self {
            Self::Forwarded(forwarded) => forwarded.status,
            Self::Own(response) => response.status(),
        }
    }
}

/// Authenticates, authorizes and forwards one WHMCS API call.
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let log = CallLog::start(Endpoint::Gateway);
    let (parts, body) = request.into_parts();
    let ip = client_ip(
        &parts.extensions,
        &parts.headers,
        &state.config().trusted_proxies,
    );
    let call = GatewayCall {
        is_post: parts.method == Method::POST,
        query: parts.uri.query(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        ip,
    };
    // Read once: a settings guard is not held across the body's arrival.
    let max_body_bytes = state.config().max_body_bytes;
    match params::read_body(body, max_body_bytes).await {
        Ok(bytes) => answer(&state, log, call, bytes).await.into_response(),
        Err(e) => refuse_body(&state, &log, &params::query_pairs(call.query), e),
    }
}

/// What the gateway reads of a request besides its body; built by
/// [`handle`] from an axum request, or by the plain-HTTP listener's own
/// loop straight from the request head.
pub(crate) struct GatewayCall<'a> {
    /// A POST (only its body is read for parameters).
    pub is_post: bool,
    /// The request target's query.
    pub query: Option<&'a str>,
    /// The `Content-Type` header.
    pub content_type: Option<&'a [u8]>,
    /// The client's address (`client_ip`).
    pub ip: Option<std::net::IpAddr>,
}

/// Answers a gateway call whose body has been read whole.
pub(crate) async fn answer(
    state: &AppState,
    log: CallLog<'static>,
    request: GatewayCall<'_>,
    bytes: Bytes,
) -> GatewayAnswer {
    // Shortened to this call: the log notes the action parsed below.
    let mut log = log;
    let query = params::query_pairs(request.query);
    let body = match params::body_pairs(request.is_post, request.content_type, &bytes).await {
        Ok(body) => body,
        Err(e) => return refuse_body(state, &log, &query, e).into(),
    };
    let params = match CanonicalParams::from_sources(&query, &body) {
        Ok(params) => params,
        Err(refused) => {
            let format = Format::from_bytes(refused.responsetype.as_deref());
            let message = refused.error.to_string();
            let response = response::error(format, StatusCode::BAD_REQUEST, &message);
            return log.finish(state, Outcome::BadRequest, "-", response).into();
        }
    };
    let format = Format::from_bytes(params.special(Special::Responsetype));
    let ip = request.ip;
    if let Some(retry) = state.limits.throttled(ip) {
        let response = response::limited(format, "Too many failed attempts", retry);
        return log.finish(state, Outcome::Throttled, "-", response).into();
    }
    let call = Call::from_params(&params).from_ip(ip);
    let snapshot = state.live.load();
    let decision = snapshot.decide(&call);
    log.action(call.action, decision.action_id());
    let identifier = match (&decision, decision.credential()) {
        (_, Some(credential)) => {
            state.access.record(credential.identifier(), call.now);
            credential.identifier().to_owned()
        }
        // The right secret was presented: the identifier is safe to log.
        (Decision::Disabled { identifier, .. } | Decision::Expired { identifier, .. }, None) => {
            (*identifier).to_owned()
        }
        (_, None) => "-".to_owned(),
    };
    let denial = denial(&decision, &call);
    let scoped = scoped_call(&decision, &call);
    let rate = state.limits.check_in_snapshot(&decision);
    let failed = matches!(decision, Decision::AuthenticationFailed { .. });
    drop(snapshot);
    if failed {
        if let Some(retry) = state.limits.failed(ip).await {
            let response = response::limited(format, "Too many failed attempts", retry);
            return log.finish(state, Outcome::Throttled, "-", response).into();
        }
    }
    if let Some(retry) = state.limits.finish(rate, &identifier).await {
        let response = response::limited(format, "Rate limit exceeded", retry);
        return log
            .finish(state, Outcome::RateLimited, &identifier, response)
            .into();
    }
    if let Some((outcome, status, message)) = denial {
        let response = response::error(format, status, &message);
        return log.finish(state, outcome, &identifier, response).into();
    }
    forward(state, &log, format, &identifier, &params, scoped).await
}

/// Forwards an allowed call: a scoped one only once its rule admits it,
/// and its answer only once no other client's record is in it.
async fn forward(
    state: &AppState,
    log: &CallLog<'_>,
    format: Format,
    identifier: &str,
    params: &CanonicalParams,
    scoped: Option<(String, Vec<ClientId>)>,
) -> GatewayAnswer {
    let Some(upstream) = state.upstream() else {
        let response = response::error(
            format,
            StatusCode::SERVICE_UNAVAILABLE,
            "No upstream is configured",
        );
        return log
            .finish(state, Outcome::Allowed, identifier, response)
            .into();
    };
    // Only scoped calls need the catalog's rules: unscoped ones skip the load.
    let catalog;
    let (owner_keys, set) = match &scoped {
        None => (None, None),
        Some((action, clients)) => {
            catalog = state.manager.catalog();
            let cache = &state.owners;
            match scope::admit(&catalog, cache, Some(&upstream), action, clients, params).await {
                Ok(admitted) => (admitted.owner_keys, admitted.set),
                Err(refusal) => {
                    if refusal.status == StatusCode::BAD_GATEWAY {
                        state.metrics.upstream_error();
                    }
                    let response = response::error(format, refusal.status, &refusal.message);
                    return log
                        .finish(state, refusal.outcome, identifier, response)
                        .into();
                }
            }
        }
    };
    let forwarded = match upstream.forward(params, set).await {
        Ok(forwarded) => forwarded,
        Err(e) => {
            tracing::warn!(error = %e, "upstream call failed");
            state.metrics.upstream_error();
            let response = response::error(format, StatusCode::BAD_GATEWAY, "Upstream unavailable");
            return log
                .finish(state, Outcome::Allowed, identifier, response)
                .into();
        }
    };
    if let (Some((_, clients)), Some(keys)) = (&scoped, owner_keys) {
        if let Err(violation) = check_response(&forwarded.body, keys, clients) {
            tracing::error!(
                credential = %identifier,
                action = %params.text(Special::Action),
                ?violation,
                "upstream response outside the credential's client scope withheld"
            );
            let response = response::error(
                format,
                StatusCode::BAD_GATEWAY,
                "Upstream response outside client scope",
            );
            return log
                .finish(state, Outcome::ResponseBlocked, identifier, response)
                .into();
        }
    }
    let forwarded = GatewayAnswer::Forwarded(forwarded);
    log.finish(state, Outcome::Allowed, identifier, forwarded)
}

/// A client-scoped credential's allowed call: the action as requested and
/// the scope, copied out of the snapshot before anything is awaited.
fn scoped_call(decision: &Decision<'_>, call: &Call<'_>) -> Option<(String, Vec<ClientId>)> {
    match decision {
        Decision::Allowed(grant) if !grant.credential.client_ids().is_empty() => Some((
            call.action.to_owned(),
            grant.credential.client_ids().to_vec(),
        )),
        _ => None,
    }
}

/// The answer to every decision but "allowed" (DESIGN.md's gateway table).
fn denial(decision: &Decision<'_>, call: &Call<'_>) -> Option<(Outcome, StatusCode, String)> {
    let failed = |outcome| {
        Some((
            outcome,
            StatusCode::FORBIDDEN,
            "Authentication Failed".into(),
        ))
    };
    match decision {
        Decision::Allowed(_) => None,
        Decision::AuthenticationFailed { .. } => failed(Outcome::AuthenticationFailed),
        // Told apart only in the log and metrics: to the client an expired
        // or disabled credential is as good as an unknown one.
        Decision::Disabled { .. } => failed(Outcome::Disabled),
        Decision::Expired { .. } => failed(Outcome::Expired),
        Decision::IpNotAllowed { .. } => Some((
            Outcome::IpNotAllowed,
            StatusCode::FORBIDDEN,
            match call.ip {
                Some(ip) => format!("Invalid IP {ip}"),
                None => "Invalid IP unknown".into(),
            },
        )),
        Decision::ActionMissing(_) => Some((
            Outcome::BadRequest,
            StatusCode::BAD_REQUEST,
            "Parameter action is required".into(),
        )),
        Decision::ActionNotAllowed { .. } => Some((
            Outcome::ActionNotAllowed,
            StatusCode::FORBIDDEN,
            format!(
                "Invalid Permissions: API action \"{}\" is not allowed",
                call.action.to_lowercase()
            ),
        )),
    }
}

/// A body that could not be read: 413 or 400, in the format the query
/// asked for.
fn refuse_body(
    state: &AppState,
    log: &CallLog<'_>,
    query: &[RawPair<'_>],
    e: ParamsError,
) -> Response {
    let format = Format::from_bytes(plain_value(query, &[], Special::Responsetype).as_deref());
    let status = match e {
        ParamsError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ParamsError::Malformed(_) => StatusCode::BAD_REQUEST,
    };
    let response = response::error(format, status, &e.to_string());
    log.finish(state, Outcome::BadRequest, "-", response)
}
