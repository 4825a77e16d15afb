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
use web_support::Site;

const WAIT: Duration = Duration::from_secs(15);

/// What an authenticator app does with the key the page shows.
struct App {
    totp: totp_rs::Totp,
    raw: Vec<u8>,
}

impl App {
    fn from_manual_key(shown: &str) -> Result<App> {
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
    fn code(&self, offset_steps: i64) -> String {
        let now = mailsig_daemon::clock::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let at = now.saturating_add_signed(offset_steps * 30);
        self.totp.generate(at).to_string()
    }
}

/// Signs in with the password and checks that the second step's form came instead of a session.
async fn password_step(site: &Site, browser: &Browser, email: &str, password: &str) -> Result<()> {
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

async fn enter_code(browser: &Browser, code: &str) -> Result<String> {
    browser.fill("#code", code).await?;
    browser.click("#verify").await?;
    // Either the dashboard or the form again with an error.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let path = browser.current_path().await?;
        if path == "/dashboard" || browser.exists("#second-factor-error").await? {
            return Ok(path);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "no answer to the code: at {path}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_out(site: &Site, browser: &Browser) -> Result<()> {
    browser.goto(&site.url("/dashboard")).await?;
    browser.click("nav button").await?;
    browser.wait_path(|p| p == "/sign-in", WAIT).await
}

/// Turns two-step verification on from the security page; returns the app and the recovery codes.
async fn enrol(site: &Site, browser: &Browser) -> Result<(App, Vec<String>)> {
    browser.goto(&site.url("/account/security")).await?;
    ensure!(
        browser.text("#two-factor-status").await?.starts_with("Off"),
        "two-step verification is not off at first"
    );
    browser.click("#two-factor-start").await?;
    browser
        .wait_for(&site.url("/account/security"), "#manual-key", WAIT)
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
    browser
        .wait_for(&site.url("/account/security"), "#security-error", WAIT)
        .await
        .ok();
    ensure!(
        browser.exists("#security-error").await?,
        "a wrong first code was not refused"
    );

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
