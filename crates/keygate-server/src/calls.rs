//! The record every API call leaves: one metrics update, one usage count
//! for its credential, and one log line with identifier, action, decision,
//! status and latency (never a secret).

use std::time::Instant;

use axum::http::StatusCode;
use axum::response::Response;
use keygate_core::ActionId;

use crate::metrics::{Endpoint, Outcome};
use crate::AppState;

/// An answer whose status the call's record reads.
pub trait Answered {
    /// The status the caller is answered with.
    fn status(&self) -> StatusCode;
}

impl Answered for Response {
    fn status(&self) -> StatusCode {
        Response::status(self)
    }
}

/// What is known about a call while it is being answered.
pub struct CallLog<'a> {
    endpoint: Endpoint,
    started: Instant,
    action: &'a str,
    action_id: Option<ActionId>,
}

impl<'a> CallLog<'a> {
    /// Starts timing a call to `endpoint`.
    pub fn start(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            started: Instant::now(),
            action: "-",
            action_id: None,
        }
    }

    /// Notes the action the call named and its catalog id, if known.
    pub fn action(&mut self, action: &'a str, action_id: Option<ActionId>) {
        self.action = if action.is_empty() { "-" } else { action };
        self.action_id = action_id;
    }

    /// Counts and logs the call, then returns `response`. `identifier` is
    /// logged only once authenticated, so a secret typed into the wrong
    /// field never reaches the log.
    pub fn finish<A: Answered>(
        &self,
        state: &AppState,
        outcome: Outcome,
        identifier: &str,
        response: A,
    ) -> A {
        let elapsed = self.started.elapsed();
        state
            .metrics
            .record(self.endpoint, outcome, self.action_id, elapsed);
        // Counted for the credential only when the call authenticated
        // (the outcome says so; `identifier` is "-" otherwise).
        state.usage.record(
            identifier,
            self.action,
            self.action_id,
            outcome,
            self.started,
        );
        let endpoint = self.endpoint.label();
        tracing::info!(
            target: "keygate::api",
            endpoint,
            identifier,
            action = self.action,
            decision = ?outcome,
            status = response.status().as_u16(),
            latency_us = elapsed.as_micros() as u64,
        );
        response
    }
}
