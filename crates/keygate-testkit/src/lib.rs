//! keygate's test support, **dev-only**: the other crates take it as a
//! dev-dependency and never as a normal one, so nothing here reaches the
//! `keygate` binary or the production libraries.
//!
//! - [`scratch`]: throwaway PostgreSQL databases on the test server, and
//!   `Link`, a TCP relay to one that a test can cut and restore.
//! - `app` (feature `server`): `TestApp`, the real server on 127.0.0.1:0
//!   over a fresh SQLite file, built by `TestAppBuilder`; `FakeWhmcs`, a
//!   recording stand-in for WHMCS.
//! - `ui` (feature `server`): what the admin UI tests share: the app as
//!   they start it (`TestApp::start_ui`), and `Client`, an in-process client
//!   with a cookie jar and CSRF helpers.
#![warn(missing_docs)]

#[cfg(feature = "server")]
pub mod app;
pub mod scratch;
#[cfg(feature = "server")]
pub mod ui;
