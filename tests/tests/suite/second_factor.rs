//! Two-step verification end to end in headless Chromium against a real daemon over HTTPS: a
//! password user turns TOTP on from the security page (the test reads the key the page shows
//! and computes codes from it, as an authenticator app would), signs out, and signs in again
//! with a code, then with a recovery code; a wrong code, a replayed code and a used recovery
//! code are refused. With `[api] require_second_factor` a user without a factor is held on the
//! security page until they turn it on. The API's one-request sign-in asks for the code too.

use crate::web_support;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_daemon::domain::AuditAction;
use mailsig_daemon::http::app::ApiSettings;
use mailsig_daemon::store::SecretKind;
use mailsig_tests::browser::Browser;
use web_support::{Site, wait_exists};

const WAIT: Duration = Duration::from_secs(15);

/// What an authenticator app does with the key the page shows.
pub(crate) struct App {
    totp: totp_rs::Totp,
    raw: Vec<u8>,
}

impl App {
    pub(crate) fn from_manual_key(shown: &str) -> Result<App> {
        let key: String = shown.chars().filter(|c| !c.is_whitespace()).collect();
        let secret = totp_rs::Secret::try_from_base32(&key)
            .map_err(|e| anyhow::anyhow!("the shown key is not base32: {e:?}"))?;
        let raw = secret.as_ref().to_vec();
        let totp = totp_rs::Builder::new()
            .with_secret(secret)
            .build()
            .map_err(|e| anyhow::anyhow!("totp: {e:?}"))?;
        Ok(App { totp, raw })
    }

    /// The code the app shows `offset_steps` steps from now.
    pub(crate) fn code(&self, offset_steps: i64) -> String {
        let now = mailsig_daemon::clock::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let at = now.saturating_add_signed(offset_steps * 30);
        self.totp.generate(at).to_string()
    }
}

/// Waits until the page the browser shows has no `selector` (a form's answer replaced the
/// page), or fails after [`WAIT`].
async fn wait_gone(browser: &Browser, selector: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while browser.exists(selector).await.unwrap_or(true) {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{selector} is still on the page after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Signs in with the password and checks that the second step's form came instead of a session.
pub(crate) async fn password_step(
    site: &Site,
    browser: &Browser,
    email: &str,
    password: &str,
) -> Result<()> {
    browser.goto(&site.url("/sign-in")).await?;
    browser.fill("#email", email).await?;
    browser.fill("#password", password).await?;
    browser.click("#sign-in").await?;
    browser
        .wait_path(|p| p == "/sign-in/second-factor", WAIT)
        .await
        .with_context(|| "the password did not lead to the second step")?;
    Ok(())
}

pub(crate) async fn enter_code(browser: &Browser, code: &str) -> Result<String> {
    let error = "#second-factor-error";
    // The answer to an earlier code may still be shown: wait for a different one.
    let before = if browser.exists(error).await? {
        Some(browser.text(error).await?)
    } else {
        None
    };
    browser.fill("#code", code).await?;
    browser.click("#verify").await?;
    // Either the dashboard or the form again with a new error.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let path = browser.current_path().await?;
        if path == "/dashboard" {
            return Ok(path);
        }
        // A read that fails while the old page is being replaced is no answer yet.
        if browser.exists(error).await.unwrap_or(false)
            && let Ok(text) = browser.text(error).await
            && Some(&text) != before.as_ref()
        {
            return Ok(path);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "no answer to the code: at {path}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn sign_out(site: &Site, browser: &Browser) -> Result<()> {
    browser.goto(&site.url("/dashboard")).await?;
    browser.click("nav button").await?;
    browser.wait_path(|p| p == "/sign-in", WAIT).await?;
    Ok(())
}

/// Turns two-step verification on from the security page; returns the app and the recovery codes.
pub(crate) async fn enrol(site: &Site, browser: &Browser) -> Result<(App, Vec<String>)> {
    browser.goto(&site.url("/account/security")).await?;
    ensure!(
        browser.text("#two-factor-status").await?.starts_with("Off"),
        "two-step verification is not off at first"
    );
    browser.click("#two-factor-start").await?;
    wait_exists(browser, "#manual-key", WAIT)
        .await
        .context("no key shown after starting")?;
    ensure!(
        browser.exists("svg.qr[role=img]").await?,
        "no QR code on the enrolment page"
    );
    let app = App::from_manual_key(&browser.text("#manual-key").await?)?;

    // A wrong first code leaves it off.
    let wrong = format!("{:06}", (app.code(0).parse::<u32>()? + 1) % 1_000_000);
    browser.fill("#code", &wrong).await?;
    browser.click("#two-factor-confirm").await?;
    wait_exists(browser, "#security-error", WAIT)
        .await
        .context("a wrong first code was not refused")?;

    browser.fill("#code", &app.code(0)).await?;
    browser.click("#two-factor-confirm").await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !browser.exists("#recovery-codes").await? {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "no recovery codes after the first code: {}",
            browser.text("main").await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let codes: Vec<String> = browser
        .text("#recovery-codes")
        .await?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    ensure!(codes.len() == 10, "recovery codes shown: {codes:?}");
    Ok((app, codes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_user_enrols_totp_and_signs_in_with_a_code_and_a_recovery_code_in_chromium()
-> Result<()> {
    const EMAIL: &str = "tess@mycorp.example";
    const PASSWORD: &str = "tess password 1";
    let site = Site::start(false).await?;
    let user = site.user(EMAIL, PASSWORD).await?;
    let browser = Browser::start().await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;

    let (app, recovery) = enrol(&site, &browser).await?;

    // At rest: the secret is one vault record (not the key), the codes are hashes.
    let secrets = site.store.all_secrets().await?;
    let totp_secrets: Vec<_> = secrets
        .iter()
        .filter(|s| s.kind == SecretKind::TotpSecret)
        .collect();
    ensure!(
        totp_secrets.len() == 1,
        "{} TOTP secrets",
        totp_secrets.len()
    );
    ensure!(
        !totp_secrets[0]
            .sealed
            .windows(app.raw.len())
            .any(|w| w == app.raw.as_slice()),
        "the TOTP secret is stored in the clear"
    );
    ensure!(site.store.unused_recovery_codes(user.id).await? == 10);
    for file in site.database_files() {
        let bytes = std::fs::read(&file)?;
        for code in &recovery {
            ensure!(
                !bytes.windows(code.len()).any(|w| w == code.as_bytes()),
                "a recovery code is in {}",
                file.display()
            );
        }
    }

    // The account page says it is on.
    browser.goto(&site.url("/account/security")).await?;
    ensure!(
        browser.text("#two-factor-status").await?.starts_with("On"),
        "not on after enrolment"
    );

    // Signing in now needs a code: the password alone opens no session.
    sign_out(&site, &browser).await?;
    password_step(&site, &browser, EMAIL, PASSWORD).await?;
    browser.goto(&site.url("/dashboard")).await?;
    ensure!(
        browser.current_path().await? == "/sign-in",
        "the password alone opened a session"
    );
    password_step(&site, &browser, EMAIL, PASSWORD).await?;
    let wrong = format!("{:06}", (app.code(1).parse::<u32>()? + 7) % 1_000_000);
    ensure!(
        enter_code(&browser, &wrong).await? != "/dashboard",
        "a wrong code signed in"
    );
    // The code of the next step: the enrolment's own step is spent (each step works once).
    let code = app.code(1);
    ensure!(
        enter_code(&browser, &code).await? == "/dashboard",
        "the app's code did not sign in: {}",
        browser.text("main").await.unwrap_or_default()
    );

    // The same code again (a replay) is refused.
    sign_out(&site, &browser).await?;
    password_step(&site, &browser, EMAIL, PASSWORD).await?;
    ensure!(
        enter_code(&browser, &code).await? != "/dashboard",
        "a code was accepted twice"
    );

    // A recovery code signs in once.
    ensure!(
        enter_code(&browser, &recovery[3].to_uppercase()).await? == "/dashboard",
        "the recovery code did not sign in"
    );
    ensure!(site.store.unused_recovery_codes(user.id).await? == 9);
    sign_out(&site, &browser).await?;
    password_step(&site, &browser, EMAIL, PASSWORD).await?;
    ensure!(
        enter_code(&browser, &recovery[3]).await? != "/dashboard",
        "a used recovery code signed in again"
    );
    ensure!(
        browser
            .text("#second-factor-error")
            .await?
            .contains("wrong or was already used"),
        "no reason shown for the used recovery code"
    );

    // The audit log has each step, with the user as actor and without any code.
    let audit = site.store.audit_log(200).await?;
    for action in [
        AuditAction::SecondFactorEnable,
        AuditAction::SessionRecoveryCodeUsed,
        AuditAction::SessionSecondFactorRefused,
    ] {
        ensure!(
            audit
                .iter()
                .any(|e| e.action == action && e.actor == Some(user.id)),
            "no {action} entry"
        );
    }
    ensure!(
        audit.iter().all(|e| e
            .detail
            .as_deref()
            .is_none_or(|d| !d.contains(&code) && !d.contains(&recovery[3]))),
        "a code in the audit log"
    );
    browser.close().await?;
    site.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_second_factor_holds_a_session_on_the_security_page_until_it_is_on() -> Result<()>
{
    const EMAIL: &str = "uma@mycorp.example";
    const PASSWORD: &str = "uma password 1";
    let site = Site::start_with(
        false,
        ApiSettings {
            require_second_factor: true,
            ..ApiSettings::default()
        },
    )
    .await?;
    site.user(EMAIL, PASSWORD).await?;
    let browser = Browser::start().await?;

    // Signed in with the password only: every page leads to the security page.
    browser.goto(&site.url("/sign-in")).await?;
    browser.fill("#email", EMAIL).await?;
    browser.fill("#password", PASSWORD).await?;
    browser.click("#sign-in").await?;
    browser
        .wait_path(|p| p == "/account/security", WAIT)
        .await
        .context("the sign-in did not end on the security page")?;
    ensure!(
        browser.exists("#second-factor-required").await?,
        "the security page does not say why"
    );
    for path in ["/dashboard", "/mailboxes/new", "/api/v1/me"] {
        browser.goto(&site.url(path)).await?;
        let at = browser.current_path().await?;
        if path.starts_with("/api/") {
            ensure!(
                browser.source().await?.contains("second_factor_required"),
                "{path} answered without the factor"
            );
        } else {
            ensure!(at == "/account/security", "{path} was served at {at}");
        }
    }

    // Turning it on lets this session through.
    enrol(&site, &browser).await?;
    browser.goto(&site.url("/dashboard")).await?;
    ensure!(
        browser.current_path().await? == "/dashboard",
        "still held back after turning it on"
    );
    browser.close().await?;
    site.stop().await
}

/// `POST /api/v1/session` of a user with a factor: without the code a validation error naming
/// `second_factor`, with a wrong one the same, with the right one a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_sign_in_asks_for_the_code_of_an_account_with_a_second_factor() -> Result<()> {
    use mailsig_daemon::http::auth::second_factor;
    const EMAIL: &str = "vic@mycorp.example";
    const PASSWORD: &str = "vic password 1";
    let site = Site::start(false).await?;
    let user = site.user(EMAIL, PASSWORD).await?;
    let vault = site.vault.clone();
    second_factor::start_enrolment(&site.store, &vault, user.id).await?;
    let key = second_factor::pending_enrolment(&site.store, &vault, user.id, EMAIL)
        .await?
        .context("no pending enrolment")?;
    let app = App::from_manual_key(&key.manual_key)?;
    second_factor::confirm_enrolment(&site.store, &vault, user.id, &app.code(0), None).await?;

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(
            &site.env.ca,
        )?)?)
        .build()?;
    let post = |body: serde_json::Value| {
        let client = client.clone();
        let url = site.url("/api/v1/session");
        async move {
            let reply = client.post(url).json(&body).send().await?;
            let status = reply.status().as_u16();
            let body: serde_json::Value = reply.json().await?;
            anyhow::Ok((status, body))
        }
    };
    let (status, body) = post(serde_json::json!({"email": EMAIL, "password": PASSWORD})).await?;
    ensure!(
        status == 400 && body["fields"][0]["field"] == "second_factor",
        "without a code: {status} {body}"
    );
    let wrong = format!("{:06}", (app.code(1).parse::<u32>()? + 7) % 1_000_000);
    let (status, body) =
        post(serde_json::json!({"email": EMAIL, "password": PASSWORD, "second_factor": wrong}))
            .await?;
    ensure!(
        status == 400 && body["fields"][0]["field"] == "second_factor",
        "with a wrong code: {status} {body}"
    );
    let (status, body) = post(
        serde_json::json!({"email": EMAIL, "password": PASSWORD, "second_factor": app.code(1)}),
    )
    .await?;
    ensure!(
        status == 200 && body["csrf_token"].is_string(),
        "with the code: {status} {body}"
    );
    site.stop().await
}

/// Every route of two-step verification against every kind of caller: anonymous, an API token
/// (pages are for sessions only), a session without the form's CSRF token, and a session with it.
/// Statuses and redirect targets are a table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_factor_routes_answer_each_kind_of_caller_as_the_table_says() -> Result<()> {
    use mailsig_daemon::http::auth;
    use secrecy::ExposeSecret;
    const EMAIL: &str = "walt@mycorp.example";
    const PASSWORD: &str = "walt password 1";
    let site = Site::start(false).await?;
    let user = site.user(EMAIL, PASSWORD).await?;
    let session = auth::sign_in(&site.store, EMAIL, PASSWORD).await?;
    let cookie = format!("{}={}", auth::SESSION_COOKIE, session.cookie_value());
    let csrf = auth::csrf_token(&session.session).to_owned();
    let token = site.store.create_token(user.id, "matrix").await?;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(
            &site.env.ca,
        )?)?)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    #[derive(Clone, Copy, Debug)]
    enum Caller {
        Anonymous,
        Token,
        SessionWithoutCsrf,
        Session,
    }
    // (method, path, [anonymous, token, session without CSRF, session]); a 303 names where to.
    let see = |to: &'static str| (303, Some(to));
    /// What each caller gets: a status, and where a 303 sends them.
    type Answers<'a> = [(u16, Option<&'a str>); 4];
    let rows: Vec<(&str, &str, Answers)> = vec![
        (
            "GET",
            "/account/security",
            [see("/sign-in"), see("/sign-in"), (200, None), (200, None)],
        ),
        (
            "POST",
            "/account/security/two-factor/start",
            [
                see("/sign-in"),
                see("/sign-in"),
                (403, None),
                see("/account/security"),
            ],
        ),
        (
            "POST",
            "/account/security/two-factor/confirm",
            [see("/sign-in"), see("/sign-in"), (403, None), (400, None)],
        ),
        (
            "POST",
            "/account/security/two-factor/cancel",
            [
                see("/sign-in"),
                see("/sign-in"),
                (403, None),
                see("/account/security"),
            ],
        ),
        (
            "POST",
            "/account/security/two-factor/disable",
            [
                see("/sign-in"),
                see("/sign-in"),
                (403, None),
                see("/account/security"),
            ],
        ),
        // The second sign-in step without a challenge: back to the password form.
        (
            "GET",
            "/sign-in/second-factor",
            [(401, None), (401, None), (401, None), (401, None)],
        ),
        (
            "POST",
            "/sign-in/second-factor",
            [(401, None), (401, None), (403, None), (401, None)],
        ),
    ];
    // The confirm row needs a pending enrolment to reach the code check: the start row makes it.
    for (method, path, expected) in rows {
        for (caller, (status, location)) in [
            Caller::Anonymous,
            Caller::Token,
            Caller::SessionWithoutCsrf,
            Caller::Session,
        ]
        .into_iter()
        .zip(expected)
        {
            let mut request = client.request(method.parse()?, site.url(path));
            match caller {
                Caller::Anonymous => {}
                Caller::Token => {
                    request = request.bearer_auth(token.secret.expose_secret());
                }
                Caller::SessionWithoutCsrf | Caller::Session => {
                    request = request.header("cookie", &cookie);
                }
            }
            if method == "POST" {
                let csrf_field = match caller {
                    Caller::Session => format!("csrf_token={csrf}&"),
                    _ => String::new(),
                };
                request = request
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("{csrf_field}code=123456"));
            }
            let reply = request.send().await?;
            let got = reply.status().as_u16();
            let to = reply
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                // The sign-in page's query says where to return to; the table names the page.
                .map(|l| l.split('?').next().unwrap_or_default().to_owned());
            ensure!(
                got == status && to.as_deref() == location,
                "{method} {path} as {caller:?}: {got} {to:?}, expected {status} {location:?}"
            );
        }
    }
    site.stop().await
}

/// The rest of the security page in Chromium: a user ends a session of another browser, revokes
/// an API token and changes the password (which signs this browser out too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_ends_a_session_revokes_a_token_and_changes_the_password_in_chromium() -> Result<()>
{
    use mailsig_daemon::http::auth;
    const EMAIL: &str = "xena@mycorp.example";
    const PASSWORD: &str = "xena password 1";
    const NEW_PASSWORD: &str = "xena password 2";
    let site = Site::start(false).await?;
    let user = site.user(EMAIL, PASSWORD).await?;
    let elsewhere = auth::sign_in(&site.store, EMAIL, PASSWORD).await?;
    let token = site.store.create_token(user.id, "laptop script").await?;
    let browser = Browser::start().await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;

    browser.goto(&site.url("/account/security")).await?;
    let listed = browser.text("#sessions").await?;
    ensure!(
        listed.contains("(this browser)") && listed.matches("UTC").count() >= 4,
        "sessions listed: {listed}"
    );
    ensure!(
        browser.text("#tokens").await?.contains("laptop script"),
        "the token is not listed"
    );

    // End the other browser's session.
    let end = format!("#end-session-{}", elsewhere.session.id);
    browser.click(&end).await?;
    // The page it comes back to is the same: wait for the answer, which no longer lists it.
    wait_gone(&browser, &end).await?;
    let live = site.store.sessions_of(user.id).await?;
    ensure!(
        live.len() == 1 && live[0].id != elsewhere.session.id,
        "sessions after ending the other: {live:?}"
    );

    // Revoke the token.
    let revoke = format!("#revoke-token-{}", token.token.id.0);
    browser.click(&revoke).await?;
    wait_gone(&browser, &revoke).await?;
    let tokens = site.store.list_tokens(user.id).await?;
    ensure!(
        tokens.iter().all(|t| t.revoked_at.is_some()),
        "the token was not revoked"
    );
    ensure!(
        browser.exists("#no-tokens").await?,
        "a revoked token still listed"
    );

    // A wrong current password changes nothing.
    browser.fill("#current-password", "not my password").await?;
    browser.fill("#new-password", NEW_PASSWORD).await?;
    browser.click("#change-password").await?;
    wait_exists(&browser, "#password-error", WAIT)
        .await
        .context("a wrong current password was not refused")?;
    // The right one: signed out, the old password no longer works, the new one does.
    browser.fill("#current-password", PASSWORD).await?;
    browser.fill("#new-password", NEW_PASSWORD).await?;
    browser.click("#change-password").await?;
    browser.wait_path(|p| p == "/sign-in", WAIT).await?;
    browser.goto(&site.url("/dashboard")).await?;
    ensure!(
        browser.current_path().await? == "/sign-in",
        "still signed in after the password change"
    );
    ensure!(
        auth::sign_in(&site.store, EMAIL, PASSWORD).await.is_err(),
        "the old password still works"
    );
    site.sign_in(&browser, EMAIL, NEW_PASSWORD).await?;

    let audit = site.store.audit_log(200).await?;
    for action in [
        AuditAction::SessionEnd,
        AuditAction::TokenRevoke,
        AuditAction::UserSetPassword,
    ] {
        ensure!(
            audit
                .iter()
                .any(|e| e.action == action && e.actor == Some(user.id)),
            "no {action} entry"
        );
    }
    browser.close().await?;
    site.stop().await
}
