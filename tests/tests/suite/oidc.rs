//! Sign-in with OpenID Connect against the real provider (oidc-provider, `tests/servers/oidc`, an
//! instance of each test's own started from the installed packages):
//! in headless Chromium, a person signs in through the provider and lands on the dashboard with an
//! account made just in time (audited), signing out ends the session here and at the provider, and
//! a person of a domain accounts are not made for is refused in words. Without a browser (the
//! provider's forms are plain HTML), against a provider of the test's own: a rotated signing key
//! still signs in (the JWKS is fetched again), and an ID token for another audience, an expired
//! ID token and a replayed callback are each refused. The new routes answer each kind of caller
//! as a table says, and with `[auth] local_passwords = false` the password ways in say so.

use crate::web_support::{Site, wait_exists};

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_daemon::domain::AuditAction;
use mailsig_daemon::http::app::ApiSettings;
use mailsig_daemon::http::auth::oidc::{
    AdminMapping, ClientSecretSource, Identity, OidcProviderSettings,
};
use mailsig_daemon::service::identity::AdmissionPolicy;
use mailsig_tests::browser::Browser;
use mailsig_tests::oidc::OwnProvider;

const WAIT: Duration = Duration::from_secs(20);

/// A login name no other test uses (the provider keeps grants per account in memory).
pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::random::<u32>())
}

pub(crate) fn corp(issuer: &str, scopes: &[&str]) -> OidcProviderSettings {
    OidcProviderSettings {
        name: "corp".into(),
        display_name: "Corp ID".into(),
        issuer: issuer.into(),
        client_id: "mailsig".into(),
        client_secret: ClientSecretSource {
            env: Some("MAILSIG_TEST_OIDC_CLIENT_SECRET".into()),
            file: None,
        },
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        admission: AdmissionPolicy {
            allowed_domains: vec!["example.test".into()],
            allowed_tenants: vec![],
            trust_email: false,
        },
        tenant_claim: "tid".into(),
        admin: AdminMapping {
            claim: Some("groups".into()),
            values: vec!["admins".into()],
        },
    }
}

/// A site whose only provider is `corp` at `issuer`, asking for `scopes`.
async fn site(issuer: &str, scopes: &[&str], local_passwords: bool) -> Result<Site> {
    let port = mailsig_tests::servers::free_port()?;
    let identity = Identity::new(
        local_passwords,
        vec![corp(issuer, scopes)],
        &format!("https://localhost:{port}"),
    )?;
    Site::start_on(
        port,
        false,
        ApiSettings {
            identity,
            ..ApiSettings::default()
        },
    )
    .await
}

/// In the browser at the provider: logs in as `login` and consents, until it is back at `site`.
pub(crate) async fn at_provider(site: &Site, browser: &Browser, login: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut acted_on = String::new();
    loop {
        let url = browser.current_url().await?;
        if url.host_str() == Some("localhost") && url.port() == Some(site.addr.port()) {
            return Ok(());
        }
        if url.as_str() != acted_on {
            if browser.exists("input[name=login]").await? {
                browser.fill("input[name=login]", login).await?;
                browser.fill("input[name=password]", "any password").await?;
                browser.click("button[type=submit]").await?;
                acted_on = url.to_string();
                continue;
            }
            if browser.exists("button[type=submit]").await? {
                browser.click("button[type=submit]").await?;
                acted_on = url.to_string();
                continue;
            }
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "stuck at the provider: {url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the provider's button on the sign-in page and signs in there as `login`.
pub(crate) async fn sign_in_with_corp(site: &Site, browser: &Browser, login: &str) -> Result<()> {
    browser.goto(&site.url("/sign-in")).await?;
    ensure!(
        browser.text("#oidc-corp").await? == "Sign in with Corp ID",
        "no button for the provider"
    );
    browser.click("#oidc-corp").await?;
    at_provider(site, browser, login).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_through_the_provider_and_gets_an_account_just_in_time_in_chromium()
-> Result<()> {
    let provider = OwnProvider::start(&["sig-a.pem"]).await?;
    let site = site(&provider.issuer(), &["email", "profile"], true).await?;
    let browser = Browser::start().await?;
    let login = unique("ada");
    let email = format!("{login}@example.test");

    sign_in_with_corp(&site, &browser, &login).await?;
    browser
        .wait_path(|p| p == "/dashboard", WAIT)
        .await
        .with_context(|| "the provider's answer did not open the dashboard")?;

    // The account was made from the ID token, and the provider account linked to it.
    let user = site.store.user_by_email(&email).await?;
    ensure!(
        user.display_name.as_deref() == Some(login.as_str()),
        "name from the token: {:?}",
        user.display_name
    );
    let linked = site.store.oidc_identities_of(user.id).await?;
    ensure!(
        linked == vec![("corp".to_owned(), login.clone())],
        "linked: {linked:?}"
    );
    // A page that needs a session is served.
    browser.goto(&site.url("/account/security")).await?;
    ensure!(browser.current_path().await? == "/account/security");

    // Audited: the creation and the link name the provider, the sign-in the user.
    let audit = site.store.audit_log(100).await?;
    let entry = |action| {
        audit
            .iter()
            .find(|e| e.action == action && e.actor == Some(user.id))
    };
    ensure!(
        entry(AuditAction::UserCreate).and_then(|e| e.detail.as_deref()) == Some("oidc:corp"),
        "no creation entry naming the provider: {audit:?}"
    );
    ensure!(
        entry(AuditAction::UserLinkIdentity).and_then(|e| e.detail.as_deref()) == Some("corp"),
        "no link entry"
    );
    ensure!(
        entry(AuditAction::SessionSignIn).is_some(),
        "no sign-in entry"
    );

    // A second sign-in finds the same account (none is made twice).
    let users_before = site.store.list_users().await?.len();
    browser.goto(&site.url("/sign-in/oidc/corp")).await?;
    at_provider(&site, &browser, &login).await?;
    browser.wait_path(|p| p == "/dashboard", WAIT).await?;
    ensure!(site.store.list_users().await?.len() == users_before);
    browser.close().await?;
    site.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_session_here_and_at_the_provider_in_chromium() -> Result<()> {
    let provider = OwnProvider::start(&["sig-a.pem"]).await?;
    let site = site(&provider.issuer(), &["email"], true).await?;
    let browser = Browser::start().await?;
    let login = unique("bea");
    sign_in_with_corp(&site, &browser, &login).await?;
    browser.wait_path(|p| p == "/dashboard", WAIT).await?;
    let user = site
        .store
        .user_by_email(&format!("{login}@example.test"))
        .await?;

    // While the provider's session lives, its button comes straight back without a form.
    browser.goto(&site.url("/sign-in/oidc/corp")).await?;
    browser.wait_path(|p| p == "/dashboard", WAIT).await?;
    ensure!(
        site.store.sessions_of(user.id).await?.len() == 2,
        "the provider's session did not sign in again by itself"
    );

    // Sign out: the page forwards to the provider, which asks, then sends the browser back.
    browser.click("nav button").await?;
    wait_exists(&browser, "button[name=logout][value=yes]", WAIT)
        .await
        .context("the provider's sign-out question did not come")?;
    browser.click("button[name=logout][value=yes]").await?;
    browser.wait_path(|p| p == "/sign-in", WAIT).await?;
    ensure!(
        browser
            .text("#notice")
            .await?
            .contains("You are signed out"),
        "no notice after signing out"
    );
    let left = site.store.sessions_of(user.id).await?;
    ensure!(left.len() == 1, "sessions left here: {left:?}");

    // The provider asks for the login again: its session ended too.
    browser.click("#oidc-corp").await?;
    wait_exists(&browser, "input[name=login]", WAIT)
        .await
        .context("the provider still had a session after signing out")?;
    browser.close().await?;
    site.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_of_a_domain_without_accounts_is_refused_in_words_in_chromium() -> Result<()> {
    let provider = OwnProvider::start(&["sig-a.pem"]).await?;
    let site = site(&provider.issuer(), &["email"], true).await?;
    let browser = Browser::start().await?;
    let email = format!("{}@other.test", unique("eve"));
    sign_in_with_corp(&site, &browser, &email).await?;
    wait_exists(&browser, "#sign-in-error", WAIT).await?;
    let said = browser.text("#sign-in-error").await?;
    ensure!(
        said.contains("accounts are not created for its domain"),
        "refusal said: {said}"
    );
    ensure!(
        browser.current_path().await? != "/dashboard",
        "signed in anyway"
    );
    ensure!(
        site.store.user_by_email(&email).await.is_err(),
        "an account was made"
    );
    let audit = site.store.audit_log(50).await?;
    ensure!(
        audit
            .iter()
            .any(|e| e.action == AuditAction::SessionProviderRefused
                && e.detail.as_deref() == Some("domain_not_allowed")),
        "the refusal is not audited"
    );
    ensure!(
        audit
            .iter()
            .all(|e| e.detail.as_deref().is_none_or(|d| !d.contains(&email))),
        "the address is in the audit log"
    );
    browser.close().await?;
    site.stop().await
}

/// A person without a browser: follows the site's redirects by hand with a cookie jar of one
/// site, and the provider's forms with `mailsig_tests::oidc::sign_in`.
struct Person {
    client: reqwest::Client,
    base: String,
}

/// What the site answered at the end of a sign-in.
struct Landing {
    status: u16,
    location: Option<String>,
    body: String,
    session_cookie: bool,
}

impl Person {
    fn new(site: &Site) -> Result<Person> {
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(
                &site.env.ca,
            )?)?)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Person {
            client,
            base: site.url(""),
        })
    }

    /// Starts a sign-in: the provider's URL and the state cookie.
    async fn start(&self) -> Result<(String, String)> {
        self.start_at("corp").await
    }

    /// Starts a sign-in through the configured provider `name`.
    async fn start_at(&self, name: &str) -> Result<(String, String)> {
        let reply = self
            .client
            .get(format!("{}/sign-in/oidc/{name}", self.base))
            .send()
            .await?;
        ensure!(reply.status().as_u16() == 303, "start: {}", reply.status());
        let location = reply
            .headers()
            .get("location")
            .context("no Location")?
            .to_str()?
            .to_owned();
        let cookie = reply
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("__Host-mailsig_oidc="))
            .and_then(|v| v.split(';').next())
            .context("no state cookie")?
            .to_owned();
        Ok((location, cookie))
    }

    /// Brings the provider's redirect back to the site with `cookie`.
    async fn land(&self, callback: &url::Url, cookie: &str) -> Result<Landing> {
        let reply = self
            .client
            .get(callback.clone())
            .header("cookie", cookie)
            .send()
            .await?;
        let status = reply.status().as_u16();
        let location = reply
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let session_cookie = reply
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.starts_with("__Host-mailsig_session=") && !v.contains("Max-Age=0"));
        let body = reply.text().await?;
        Ok(Landing {
            status,
            location,
            body,
            session_cookie,
        })
    }

    /// A whole sign-in as `login`; also returns the callback URL and cookie used.
    async fn sign_in(&self, login: &str) -> Result<(Landing, url::Url, String)> {
        self.sign_in_at("corp", login).await
    }

    /// [`Person::sign_in`] through the configured provider `name`.
    async fn sign_in_at(&self, name: &str, login: &str) -> Result<(Landing, url::Url, String)> {
        let (at_provider, cookie) = self.start_at(name).await?;
        let callback = mailsig_tests::oidc::sign_in(&at_provider, login).await?;
        let landing = self.land(&callback, &cookie).await?;
        Ok((landing, callback, cookie))
    }
}

impl Landing {
    fn signed_in(&self) -> bool {
        self.status == 303 && self.location.as_deref() == Some("/dashboard") && self.session_cookie
    }
}

async fn refusal_audited(site: &Site, word: &str) -> Result<bool> {
    Ok(site.store.audit_log(50).await?.iter().any(|e| {
        e.action == AuditAction::SessionProviderRefused && e.detail.as_deref() == Some(word)
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_signing_key_still_signs_in_because_the_keys_are_fetched_again() -> Result<()> {
    let mut provider = OwnProvider::start(&["sig-a.pem"]).await?;
    let site = site(&provider.issuer(), &["email"], true).await?;
    let person = Person::new(&site)?;
    let (first, ..) = person.sign_in(&unique("cai")).await?;
    ensure!(
        first.signed_in(),
        "first sign-in: {} {}",
        first.status,
        first.body
    );
    let before = provider.published_kids().await?;

    // The provider now signs with a key the site has never seen.
    provider.restart(&["sig-b.pem", "sig-a.pem"]).await?;
    let after = provider.published_kids().await?;
    ensure!(
        before.len() == 1 && after.len() == 2 && after.iter().any(|k| !before.contains(k)),
        "no rotation: {before:?} -> {after:?}"
    );
    let (second, ..) = person.sign_in(&unique("cai")).await?;
    ensure!(
        second.signed_in(),
        "after the rotation: {} {}",
        second.status,
        second.body
    );
    site.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_for_another_audience_is_refused() -> Result<()> {
    let provider = OwnProvider::start(&["sig-a.pem"]).await?;
    let site = site(
        &provider.issuer(),
        &["email", "test_foreign_audience"],
        true,
    )
    .await?;
    let login = unique("dan");
    let (landing, ..) = Person::new(&site)?.sign_in(&login).await?;
    ensure!(
        !landing.signed_in() && landing.status == 401,
        "answer: {} {:?}",
        landing.status,
        landing.location
    );
    ensure!(
        landing.body.contains("could not be verified"),
        "{}",
        landing.body
    );
    ensure!(
        refusal_audited(&site, "id_token_audience").await?,
        "not audited as the audience"
    );
    ensure!(
        site.store
            .user_by_email(&format!("{login}@example.test"))
            .await
            .is_err(),
        "an account was made"
    );
    site.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_id_token_is_refused() -> Result<()> {
    let provider = OwnProvider::start(&["sig-a.pem"]).await?;
    let site = site(
        &provider.issuer(),
        &["email", "test_expired_id_token"],
        true,
    )
    .await?;
    let (landing, ..) = Person::new(&site)?.sign_in(&unique("eli")).await?;
    ensure!(
        !landing.signed_in() && landing.status == 401,
        "answer: {} {:?}",
        landing.status,
        landing.location
    );
    ensure!(
        landing.body.contains("had already expired"),
        "{}",
        landing.body
    );
    ensure!(
        refusal_audited(&site, "id_token_expired").await?,
        "not audited as expired"
    );
    site.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_callback_or_code_signs_nobody_in() -> Result<()> {
    let provider = OwnProvider::start(&["sig-a.pem"]).await?;
    let site = site(&provider.issuer(), &["email"], true).await?;
    let person = Person::new(&site)?;
    let (first, callback, cookie) = person.sign_in(&unique("fay")).await?;
    ensure!(first.signed_in(), "first: {} {}", first.status, first.body);

    // The same callback again (state and code): the state was used up by the first.
    let again = person.land(&callback, &cookie).await?;
    ensure!(!again.signed_in(), "a replayed callback signed in");
    ensure!(
        again.status == 401 && again.body.contains("expired or was already used"),
        "replayed callback: {} {}",
        again.status,
        again.body
    );

    // The used code under a fresh state of this browser: the provider refuses to redeem it again.
    let (_, fresh_cookie) = person.start().await?;
    let fresh_state = fresh_cookie
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("no code")?;
    let mut replay = callback.clone();
    replay
        .query_pairs_mut()
        .clear()
        .append_pair("code", &code)
        .append_pair("state", &fresh_state);
    let reused = person.land(&replay, &fresh_cookie).await?;
    ensure!(
        !reused.signed_in() && reused.status == 401 && reused.body.contains("did not confirm"),
        "reused code: {} {}",
        reused.status,
        reused.body
    );
    ensure!(refusal_audited(&site, "code_refused").await?, "not audited");

    // A callback carried to another browser (no state cookie) stops before anything is taken.
    let (at_provider, _) = person.start().await?;
    let elsewhere = mailsig_tests::oidc::sign_in(&at_provider, &unique("fay")).await?;
    let stolen = person.land(&elsewhere, "").await?;
    ensure!(
        !stolen.signed_in() && stolen.status == 401,
        "a callback without the state cookie: {}",
        stolen.status
    );
    site.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_account_with_the_verified_address_is_linked_not_duplicated() -> Result<()> {
    let provider = OwnProvider::start(&["sig-a.pem"]).await?;
    let site = site(&provider.issuer(), &["email"], true).await?;
    // Made by the operator, in a domain no account is made for.
    let email = format!("{}@partner.test", unique("gus"));
    let user = site.user(&email, "gus password 1").await?;
    let (landing, ..) = Person::new(&site)?.sign_in(&email).await?;
    ensure!(landing.signed_in(), "{} {}", landing.status, landing.body);
    ensure!(
        site.store.oidc_identities_of(user.id).await? == vec![("corp".to_owned(), email.clone())],
        "not linked to the existing account"
    );
    ensure!(site.store.sessions_of(user.id).await?.len() == 1);
    site.stop().await
}

/// The new routes against each kind of caller (anonymous, API token, session); a 303 names where
/// to. Starting needs no one; the callback without a started sign-in is refused for everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_routes_answer_each_kind_of_caller_as_the_table_says() -> Result<()> {
    use mailsig_daemon::http::auth;
    use secrecy::ExposeSecret;
    let provider = OwnProvider::start(&["sig-a.pem"]).await?;
    let issuer = provider.issuer();
    let site = site(&issuer, &["email"], true).await?;
    let user = site.user("hal@example.test", "hal password 1").await?;
    let session = auth::sign_in(&site.store, "hal@example.test", "hal password 1").await?;
    let cookie = format!("{}={}", auth::SESSION_COOKIE, session.cookie_value());
    let token = site.store.create_token(user.id, "matrix").await?;
    let client = Person::new(&site)?.client;
    let to_provider = format!("{issuer}/auth");
    // (method, path, [anonymous, token, session], where a 303 goes (prefix)). A POST with the
    // session cookie but no CSRF token stops at the CSRF check.
    let rows: Vec<(&str, &str, [u16; 3], Option<&str>)> = vec![
        (
            "GET",
            "/sign-in/oidc/corp",
            [303; 3],
            Some(to_provider.as_str()),
        ),
        ("GET", "/sign-in/oidc/corp/callback", [401; 3], None),
        (
            "GET",
            "/sign-in/oidc/corp/callback?code=x&state=y",
            [401; 3],
            None,
        ),
        ("GET", "/sign-in/oidc/nope", [404; 3], None),
        ("GET", "/sign-in/oidc/nope/callback", [404; 3], None),
        ("POST", "/sign-in/oidc/corp", [405, 405, 403], None),
        ("POST", "/sign-in/oidc/corp/callback", [405, 405, 403], None),
    ];
    for (method, path, statuses, location) in rows {
        for (caller, status) in ["anonymous", "token", "session"].into_iter().zip(statuses) {
            let mut request = client.request(method.parse()?, site.url(path));
            match caller {
                "token" => request = request.bearer_auth(token.secret.expose_secret()),
                "session" => request = request.header("cookie", &cookie),
                _ => {}
            }
            let reply = request.send().await?;
            let got = reply.status().as_u16();
            let to = reply
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            ensure!(
                got == status
                    && location.is_none_or(|l| to.as_deref().is_some_and(|t| t.starts_with(l))),
                "{method} {path} as {caller}: {got} {to:?}, expected {status} {location:?}"
            );
        }
    }
    site.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_local_passwords_off_only_the_providers_sign_in() -> Result<()> {
    let provider = OwnProvider::start(&["sig-a.pem"]).await?;
    let site = site(&provider.issuer(), &["email"], false).await?;
    site.user("ivy@example.test", "ivy password 1").await?;
    let client = Person::new(&site)?.client;

    let page = client
        .get(site.url("/sign-in"))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        page.contains("id=\"oidc-corp\"") && !page.contains("id=\"password\""),
        "the sign-in page still offers a password"
    );
    let form = client
        .post(site.url("/sign-in"))
        .form(&[
            ("email", "ivy@example.test"),
            ("password", "ivy password 1"),
        ])
        .send()
        .await?;
    let status = form.status().as_u16();
    let body = form.text().await?;
    ensure!(
        status == 403 && body.contains("Signing in with a password is turned off"),
        "password form: {status}"
    );
    let api = client
        .post(site.url("/api/v1/session"))
        .json(&serde_json::json!({"email": "ivy@example.test", "password": "ivy password 1"}))
        .send()
        .await?;
    let status = api.status().as_u16();
    let body: serde_json::Value = api.json().await?;
    ensure!(
        status == 403
            && body["message"]
                .as_str()
                .is_some_and(|m| m.contains("local passwords are turned off")),
        "API sign-in: {status} {body}"
    );
    // The provider still signs in.
    let (landing, ..) = Person::new(&site)?.sign_in(&unique("ivy")).await?;
    ensure!(landing.signed_in(), "{} {}", landing.status, landing.body);
    site.stop().await
}

/// The provider's groups decide the org admin role at each sign-in through a provider with an
/// `admin_claim` mapping: a person in the `admins` group becomes an org admin (audited as
/// `user.set_role` with no user as the actor), a person without it does not, and when the same
/// account signs in again through a provider whose token carries no groups claim, the role is
/// taken away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_group_makes_an_org_admin_and_without_it_the_role_goes() -> Result<()> {
    use mailsig_daemon::domain::OrgRole;
    let provider = OwnProvider::start(&["sig-a.pem"]).await?;
    let issuer = provider.issuer();
    let mut plain = corp(&issuer, &["email"]);
    plain.name = "plain".into();
    plain.display_name = "Corp ID without groups".into();
    let port = mailsig_tests::servers::free_port()?;
    let identity = Identity::new(
        true,
        vec![corp(&issuer, &["email", "groups"]), plain],
        &format!("https://localhost:{port}"),
    )?;
    let site = Site::start_on(
        port,
        false,
        ApiSettings {
            identity,
            ..ApiSettings::default()
        },
    )
    .await?;
    let person = Person::new(&site)?;
    let role_changes = async |site: &Site, user: i64| -> Result<Vec<String>> {
        Ok(site
            .store
            .audit_log(100)
            .await?
            .into_iter()
            .filter(|e| {
                e.action == AuditAction::UserSetRole
                    && e.object_id == Some(user)
                    && e.actor.is_none()
            })
            .filter_map(|e| e.detail)
            .collect())
    };

    // In the admins group (the test provider reads groups from the login's `+` parts).
    let login = format!("{}+admins", unique("dan"));
    let (landing, ..) = person.sign_in_at("corp", &login).await?;
    ensure!(
        landing.signed_in(),
        "sign-in: {} {}",
        landing.status,
        landing.body
    );
    let dan = site
        .store
        .user_by_email(&format!("{login}@example.test"))
        .await?;
    ensure!(
        site.store.org_role(dan.id).await? == OrgRole::Admin,
        "the admins group did not make an org admin"
    );
    ensure!(role_changes(&site, dan.id.0).await? == ["admin"], "audit");

    // Not in the group: an ordinary user.
    let other = unique("erin");
    let (landing, ..) = person.sign_in_at("corp", &other).await?;
    ensure!(
        landing.signed_in(),
        "sign-in: {} {}",
        landing.status,
        landing.body
    );
    let erin = site
        .store
        .user_by_email(&format!("{other}@example.test"))
        .await?;
    ensure!(
        site.store.org_role(erin.id).await? == OrgRole::User,
        "erin is admin"
    );

    // The same account, its token now without the groups claim: the role is taken away.
    let (landing, ..) = person.sign_in_at("plain", &login).await?;
    ensure!(
        landing.signed_in(),
        "sign-in: {} {}",
        landing.status,
        landing.body
    );
    ensure!(
        site.store
            .user_by_email(&format!("{login}@example.test"))
            .await?
            .id
            == dan.id,
        "another account was made"
    );
    ensure!(
        site.store.org_role(dan.id).await? == OrgRole::User,
        "the role stayed without the claim"
    );
    ensure!(
        role_changes(&site, dan.id.0).await? == ["user", "admin"],
        "audit"
    );
    site.stop().await
}
