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
