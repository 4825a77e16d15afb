//! The test OpenID provider (`tests/servers/oidc/server.mjs`, started by
//! `scripts/test-servers.sh`): its settings from the environment, and a person signing in at it
//! without a browser. The provider's development forms are plain HTML: [`sign_in`] follows the
//! redirects by hand, keeps the cookies, posts the login form (any name, any password) and the
//! consent form, and stops at the client's redirect URI, which it returns unvisited.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail, ensure};
use url::Url;

/// The provider's issuer and the application client, from `scripts/test-servers.sh env`.
#[derive(Debug, Clone)]
pub struct OidcProvider {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

impl OidcProvider {
    pub fn from_env() -> Result<OidcProvider> {
        let var = |name: &str| {
            std::env::var(name)
                .with_context(|| format!("{name}: run scripts/test-servers.sh start"))
        };
        Ok(OidcProvider {
            issuer: var("MAILSIG_TEST_OIDC_ISSUER")?,
            client_id: var("MAILSIG_TEST_OIDC_CLIENT_ID")?,
            client_secret: var("MAILSIG_TEST_OIDC_CLIENT_SECRET")?,
        })
    }

    pub fn authorization_url(&self) -> String {
        format!("{}/auth", self.issuer)
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// Whether the provider still takes `access_token` (RFC 7662 introspection as the
    /// application client the token was issued to).
    pub async fn token_is_active(&self, access_token: &str) -> Result<bool> {
        let response = reqwest::Client::new()
            .post(format!("{}/token/introspection", self.issuer))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", access_token)])
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "introspection: {}",
            response.status()
        );
        let body: serde_json::Value = response.json().await?;
        body["active"]
            .as_bool()
            .context("introspection answer without `active`")
    }

    /// Ends every grant of `login` at the provider (its refresh and access tokens stop working),
    /// as a user revoking the app's access or an admin disabling the account does.
    pub async fn revoke_grants(&self, login: &str) -> Result<usize> {
        let response = reqwest::Client::new()
            .post(format!("{}/test/revoke-grants", self.issuer))
            .form(&[("account", login)])
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "revoke-grants: {}",
            response.status()
        );
        let body: serde_json::Value = response.json().await?;
        Ok(body["revoked"].as_u64().unwrap_or(0) as usize)
    }
}

/// A provider of a test's own (`tests/servers/oidc/server.mjs` of this checkout, on a free
/// port, with the signing keys it is given), for what must not touch the shared one: rotating
/// its signing key. Killed when dropped.
pub struct OwnProvider {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<tokio::process::Child>,
}

impl OwnProvider {
    /// Starts it signing with the first of `keys` (file names in `MAILSIG_TEST_OIDC_KEYS`,
    /// e.g. `sig-a.pem`); all are published.
    pub async fn start(keys: &[&str]) -> Result<OwnProvider> {
        let app = std::env::var("MAILSIG_TEST_OIDC_APP")
            .context("MAILSIG_TEST_OIDC_APP: run scripts/test-servers.sh start")?;
        let dir = tempfile::tempdir()?;
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("servers/oidc/server.mjs");
        std::fs::copy(&script, dir.path().join("server.mjs"))
            .with_context(|| format!("copy {}", script.display()))?;
        // The provider's packages as the test servers installed them.
        std::os::unix::fs::symlink(
            std::path::Path::new(&app).join("node_modules"),
            dir.path().join("node_modules"),
        )?;
        let mut provider = OwnProvider {
            port: crate::servers::free_port()?,
            dir,
            child: None,
        };
        provider.restart(keys).await?;
        Ok(provider)
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops it and starts it again with `keys` (the first signs): a key rotation. The provider
    /// keeps its state in memory, so grants and sessions start afresh.
    pub async fn restart(&mut self, keys: &[&str]) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.ok();
            child.wait().await.ok();
        }
        let key_dir = std::env::var("MAILSIG_TEST_OIDC_KEYS")
            .context("MAILSIG_TEST_OIDC_KEYS: run scripts/test-servers.sh start")?;
        let keys: Vec<String> = keys.iter().map(|k| format!("{key_dir}/{k}")).collect();
        let log = std::fs::File::create(self.dir.path().join("oidc.log"))?;
        let child = tokio::process::Command::new("node")
            .arg("server.mjs")
            .current_dir(self.dir.path())
            .env("OIDC_PORT", self.port.to_string())
            .env("OIDC_KEYS", keys.join(","))
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("start node (scripts/test-servers.sh installs it)")?;
        self.child = Some(child);
        let discovery = format!("{}/.well-known/openid-configuration", self.issuer());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if reqwest::get(&discovery)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(self.dir.path().join("oidc.log")).unwrap_or_default();
                bail!("the test provider did not answer: {log}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The key ids the provider publishes.
    pub async fn published_kids(&self) -> Result<Vec<String>> {
        let jwks: serde_json::Value = reqwest::get(format!("{}/jwks", self.issuer()))
            .await?
            .json()
            .await?;
        Ok(jwks["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Signs in as `login` at the provider's authorization URL `start` and gives consent; returns the
/// URL the provider redirected the browser to (the client's redirect URI with `code` and `state`).
pub async fn sign_in(start: &str, login: &str) -> Result<Url> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let issuer = Url::parse(start)?;
    let mut cookies: BTreeMap<String, String> = BTreeMap::new();
    let mut url = issuer.clone();
    for _ in 0..12 {
        if url.origin() != issuer.origin() {
            return Ok(url);
        }
        let response = client
            .get(url.clone())
            .header("cookie", cookie_header(&cookies))
            .send()
            .await?;
        keep_cookies(&mut cookies, &response);
        let status = response.status();
        if status.is_redirection() {
            url = next(&url, &response)?;
            continue;
        }
        let page = response.text().await?;
        ensure!(status.is_success(), "{url}: {status}: {page}");
        let action = between(&page, "action=\"", "\"").context("no form on the page")?;
        let prompt = between(&page, "name=\"prompt\" value=\"", "\"").context("no prompt")?;
        let mut form = vec![("prompt", prompt.to_owned())];
        if prompt == "login" {
            form.push(("login", login.to_owned()));
            form.push(("password", "any".to_owned()));
        }
        let target = url.join(action)?;
        let response = client
            .post(target.clone())
            .header("cookie", cookie_header(&cookies))
            .form(&form)
            .send()
            .await?;
        keep_cookies(&mut cookies, &response);
        ensure!(
            response.status().is_redirection(),
            "{target}: {}",
            response.status()
        );
        url = next(&target, &response)?;
    }
    bail!("the sign-in did not reach the redirect URI (last {url})")
}

fn next(base: &Url, response: &reqwest::Response) -> Result<Url> {
    let location = response
        .headers()
        .get("location")
        .context("redirect without Location")?
        .to_str()?;
    Ok(base.join(location)?)
}

fn keep_cookies(jar: &mut BTreeMap<String, String>, response: &reqwest::Response) {
    for value in response.headers().get_all("set-cookie") {
        let Ok(text) = value.to_str() else { continue };
        let pair = text.split(';').next().unwrap_or("");
        if let Some((name, value)) = pair.split_once('=') {
            jar.insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }
}

fn cookie_header(jar: &BTreeMap<String, String>) -> String {
    jar.iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}
