//! The headless-Chromium harness the admin UI's browser tests share:
//! chromedriver on a free port, a Chromium session, and [`Ui`], the steps'
//! view of the browser, the app and the sidecar.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use keygate_core::Catalog;
use keygate_testkit::app::TestApp;
use serde_json::{json, Value};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const WAIT: Duration = Duration::from_secs(15);

/// chromedriver on a free port, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Driver {
    pub fn start() -> Result<Self> {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start chromedriver")?;
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _profile: tempfile::tempdir()?,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            ensure!(
                Instant::now() < deadline,
                "chromedriver did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(driver)
    }

    pub async fn browser(&self) -> Result<Client> {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!(
            "--user-data-dir={}",
            self._profile.path().display()
        ));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        Ok(ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await?)
    }
}

pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("test-output/screenshots")
}

/// The browser plus what the steps share.
pub struct Ui {
    /// The browser session.
    pub c: Client,
    /// `http://127.0.0.1:PORT` of the app under test.
    pub base: String,
    /// The app under test.
    pub app: TestApp,
    /// A plain HTTP client for the sidecar.
    pub http: reqwest::Client,
    /// Where screenshots go.
    pub shots: PathBuf,
}

impl Ui {
    /// Logs in through the form as the test app's admin.
    pub async fn log_in(&self) -> Result<()> {
        self.go("/admin/login").await?;
        self.fill("#username", keygate_testkit::ui::ADMIN).await?;
        self.fill("#password", keygate_testkit::ui::PASSWORD)
            .await?;
        self.click_button("Log in").await?;
        self.button("Log out").await?;
        Ok(())
    }

    pub async fn go(&self, path: &str) -> Result<()> {
        self.c.goto(&format!("{}{path}", self.base)).await?;
        Ok(())
    }

    pub async fn css(&self, selector: &str) -> Result<Element> {
        let found = self
            .c
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(selector))
            .await;
        found.with_context(|| format!("no element {selector:?}"))
    }

    pub async fn xpath(&self, path: &str) -> Result<Element> {
        let found = self
            .c
            .wait()
            .at_most(WAIT)
            .for_element(Locator::XPath(path))
            .await;
        found.with_context(|| format!("no element {path:?}"))
    }

    pub async fn button(&self, text: &str) -> Result<Element> {
        self.xpath(&format!("//button[normalize-space()='{text}']"))
            .await
    }

    pub async fn click_button(&self, text: &str) -> Result<()> {
        self.button(text).await?.click().await?;
        Ok(())
    }

    pub async fn fill(&self, selector: &str, text: &str) -> Result<()> {
        let input = self.css(selector).await?;
        input.clear().await?;
        input.send_keys(text).await?;
        Ok(())
    }

    /// Waits until the element's text contains `needle`.
    pub async fn wait_text(&self, selector: &str, needle: &str) -> Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = match self.c.find(Locator::Css(selector)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return Ok(text);
            }
            if Instant::now() > deadline {
                bail!("{selector:?} never said {needle:?}; it says {text:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn page_has(&self, needle: &str) -> Result<bool> {
        Ok(self.c.source().await?.contains(needle))
    }

    pub async fn path(&self) -> Result<String> {
        let url = self.c.current_url().await?;
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        })
    }

    pub async fn shot(&self, name: &str) -> Result<()> {
        let png = self.c.screenshot().await?;
        std::fs::write(self.shots.join(format!("{name}.png")), png)?;
        Ok(())
    }

    pub async fn checked(&self, selector: &str) -> Result<bool> {
        Ok(self.css(selector).await?.prop("checked").await?.as_deref() == Some("true"))
    }

    /// The sidecar's status for this credential and action.
    pub async fn authorize(&self, identifier: &str, secret: &str, action: &str) -> Result<u16> {
        let body = json!({ "identifier": identifier, "secret": secret, "action": action });
        let response = self
            .http
            .post(format!("{}/v1/authorize", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        Ok(response.status().as_u16())
    }

    /// The sidecar's status and answer, the caller's client at `ip`.
    pub async fn authorize_from(
        &self,
        credential: &(String, String),
        action: &str,
        ip: Option<&str>,
    ) -> Result<(u16, Value)> {
        let mut body =
            json!({ "identifier": credential.0, "secret": credential.1, "action": action });
        if let Some(ip) = ip {
            body["ip"] = json!(ip);
        }
        let response = self
            .http
            .post(format!("{}/v1/authorize", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// Waits (briefly) until the sidecar answers `status` with `reason`
    /// (`None`: an allowed answer).
    pub async fn expect_reason(
        &self,
        credential: &(String, String),
        ip: Option<&str>,
        status: u16,
        reason: Option<&str>,
    ) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (got, body) = self.authorize_from(credential, "GetClients", ip).await?;
            if got == status && body["reason"].as_str() == reason {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "expected {status} {reason:?}, got {got} {body}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The row of this credential in the list.
    pub fn row(identifier: &str) -> String {
        format!("tr[data-identifier='{identifier}']")
    }

    /// Waits until the credential's row has this status.
    pub async fn wait_status(&self, identifier: &str, status: &str) -> Result<()> {
        let selector = format!(
            "{}[data-status='{status}'] .badge-status",
            Self::row(identifier)
        );
        self.wait_text(&selector, status).await?;
        Ok(())
    }

    /// Waits (briefly) until the sidecar answers `status`.
    pub async fn expect_authorize(
        &self,
        credential: &(String, String),
        action: &str,
        status: u16,
    ) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.authorize(&credential.0, &credential.1, action).await?;
            if got == status {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "{action}: expected {status}, got {got}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Every catalog action this credential is allowed, per the sidecar.
    pub async fn allowed_actions(&self, credential: &(String, String)) -> Result<Vec<String>> {
        let mut allowed = Vec::new();
        for (_, action) in Catalog::builtin().actions() {
            if self
                .authorize(&credential.0, &credential.1, &action.name)
                .await?
                == 200
            {
                allowed.push(action.name.clone());
            }
        }
        allowed.sort();
        Ok(allowed)
    }

    /// Waits until the sidecar allows exactly `expected` of the catalog.
    pub async fn expect_exactly(
        &self,
        credential: &(String, String),
        expected: &[&str],
    ) -> Result<()> {
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let allowed = self.allowed_actions(credential).await?;
            if allowed == expected {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "allowed {allowed:?}, expected {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Runs `steps` in a fresh browser session against a fresh UI test app
/// (admin alice), saving a screenshot and the page source as
/// `failure-NAME` when a step fails. Says SKIPPED without chromedriver,
/// or panics when `KEYGATE_TEST_BROWSER_REQUIRED=1`.
pub async fn with_browser<F>(name: &str, steps: F)
where
    F: for<'u> FnOnce(
        &'u Ui,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + 'u>>,
{
    if !Path::new(CHROMEDRIVER).exists() {
        if std::env::var("KEYGATE_TEST_BROWSER_REQUIRED").as_deref() == Ok("1") {
            panic!(
                "chromedriver not installed ({CHROMEDRIVER}) and KEYGATE_TEST_BROWSER_REQUIRED=1"
            );
        }
        eprintln!("SKIPPED: chromedriver not installed ({CHROMEDRIVER}); run scripts/install-test-deps.sh");
        return;
    }
    let driver = Driver::start().expect("chromedriver starts");
    let app = TestApp::start_ui(false).await;
    let base = app.base.clone();
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let client = driver.browser().await.expect("chromium session starts");
    let ui = Ui {
        c: client,
        base,
        app,
        http: reqwest::Client::new(),
        shots,
    };
    let result = steps(&ui).await;
    if result.is_err() {
        let _ = ui.shot(&format!("failure-{name}")).await;
        if let Ok(source) = ui.c.source().await {
            let _ = std::fs::write(ui.shots.join(format!("failure-{name}.html")), source);
        }
    }
    let _ = ui.c.clone().close().await;
    if let Err(e) = result {
        panic!("{:#}", anyhow!(e));
    }
}
