//! `Authorization: Bearer kgat_…`: the token names the admin every change
//! is made (and audited) as. Every refusal answers the same 401; the
//! reason goes to the log, never the token. Refused tokens count as
//! failed authentications of the client address, as wrong secrets do on
//! the gateway: over `failed_auth_per_minute`, the address gets 429s.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use keygate_core::audit::Actor;
use keygate_core::model::ApiToken;
use keygate_store::Manager;

use super::errors::ApiError;
use crate::client_ip::client_ip;
use crate::AppState;

/// An authenticated caller: its token, and the manager acting as the
/// token's admin (so every change is audited in its name and address).
pub struct Caller {
    /// The token presented.
    pub token: ApiToken,
    /// Management operations audited as the token's admin.
    pub manager: Manager,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(
            &parts.extensions,
            &parts.headers,
            &state.config().trusted_proxies,
        );
        // A cooling-down address cannot go on guessing (nor cost lookups).
        if let Some(retry) = state.limits.throttled(ip) {
            return Err(ApiError::throttled(retry));
        }
        let Some(presented) = bearer(&parts.headers) else {
            tracing::info!("management API: no bearer token");
            return Err(ApiError::unauthorized());
        };
        let token = match state.manager.authenticate_token(presented).await? {
            Ok(token) => token,
            Err(refusal) => {
                tracing::info!(reason = %refusal, "management API: token refused");
                if let Some(retry) = state.limits.failed(ip).await {
                    return Err(ApiError::throttled(retry));
                }
                return Err(ApiError::unauthorized());
            }
        };
        let actor = Actor::admin(&token.admin, ip.map(|ip| ip.to_string()));
        let manager = state.manager.acting_as(actor);
        Ok(Caller { token, manager })
    }
}

/// The credentials of `Authorization: Bearer …` (the scheme in any case).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_forms() {
        let cases: &[(&str, Option<&str>)] = &[
            ("Bearer kgat_x", Some("kgat_x")),
            ("bearer   kgat_x ", Some("kgat_x")),
            ("BEARER kgat_x", Some("kgat_x")),
            ("Basic a2dhdA==", None),
            ("Bearer", None),
            ("Bearer ", None),
            ("kgat_x", None),
        ];
        for (value, expected) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer(&headers), *expected, "{value:?}");
        }
    }
}
