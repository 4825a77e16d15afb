//! Offboarding a person who leaves, against a running daemon watching a real mailbox on the
//! test Dovecot: an org admin calls `POST /api/v1/admin/users/{id}/offboard` over HTTPS; the
//! watcher's IMAP connection is gone from Dovecot (`doveadm who`) within 5 s, and the store
//! holds none of the person's secrets any more (the sealed mailbox password and TOTP secret,
//! sessions, API tokens, provider links, password), their list belongs to the chosen new owner,
//! and the account is disabled but still there for the audit log, which names the admin. The
//! admin pages do the same in Chromium (invite, disable, enable, offboard), refused to a plain user.

use crate::web_support;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_daemon::domain::{AuditAction, OrgRole};
use mailsig_tests::servers::TestEnv;
use secrecy::ExposeSecret;
use web_support::{Site, dovecot_connections, wait_until};

async fn count(site: &Site, sql: &'static str, user: i64) -> Result<i64> {
    let files = site.database_files();
    let db = files.first().context("the site's database")?;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display())).await?;
    let (n,): (i64,) = sqlx::query_as(sql).bind(user).fetch_one(&pool).await?;
    pool.close().await;
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_drops_the_watchers_dovecot_connection_and_wipes_the_secrets() -> Result<()> {
    let site = Site::start(true).await?;
    let admin = site
        .user("admin@mycorp.example", "admin password 1")
        .await?;
    site.store.set_org_role(admin.id, OrgRole::Admin).await?;
    let admin_token = site.store.create_token(admin.id, "admin").await?;
    let leaver = site.user("leo@mycorp.example", "leaver password 1").await?;
    let list = site.store.create_list(leaver.id, "Leo's leads").await?;
    let (mail_user, linked) = site.link_watched_imap(leaver.id, list.id).await?;
    let mailbox_secret = site
        .store
        .get_mailbox(linked.id)
        .await?
        .secret
        .context("no sealed password")?;
    // The leaver's other credentials: a session, an API token, a second factor.
    mailsig_daemon::http::auth::sign_in(&site.store, &leaver.email, "leaver password 1").await?;
    site.store.create_token(leaver.id, "crm").await?;
    crate::admin::enrol_totp_in(&site.store, &site.vault, leaver.id, &leaver.email).await?;
    let totp_secret = site.store.second_factor(leaver.id).await?.secret;

    // The watcher is connected to Dovecot.
    let env = TestEnv::from_env()?;
    wait_until(
        Duration::from_secs(60),
        "the watcher never connected",
        async || Ok(dovecot_connections(&env, &mail_user)? > 0),
    )
    .await?;

    let ca = std::fs::read(site.env.ca_path())?;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .build()?;
    let reply = client
        .post(site.url(&format!("/api/v1/admin/users/{}/offboard", leaver.id.0)))
        .bearer_auth(admin_token.secret.expose_secret())
        .json(&serde_json::json!({"new_owner": admin.id.0}))
        .send()
        .await?;
    let status = reply.status();
    let done: serde_json::Value = reply.json().await?;
    ensure!(status == 200, "offboard: {status} {done}");
    ensure!(
        done["mailboxes_stopped"] == 1 && done["lists_handed_over"] == 1,
        "{done}"
    );

    let took = wait_until(
        Duration::from_secs(5),
        "the watcher's connection to Dovecot is still open 5 s after offboarding",
        async || Ok(dovecot_connections(&env, &mail_user)? == 0),
    )
    .await?;
    println!("the watcher's Dovecot connection was gone {took:?} after the offboarding answer");

    // The secrets are gone from the store.
    ensure!(
        site.store.get_secret(mailbox_secret).await.is_err(),
        "the sealed mailbox password is still stored"
    );
    ensure!(
        site.store.get_secret(totp_secret).await.is_err(),
        "the sealed TOTP secret is still stored"
    );
    let id = leaver.id.0;
    for (sql, what) in [
        (
            "SELECT COUNT(*) FROM sessions WHERE user_id = ?",
            "sessions",
        ),
        (
            "SELECT COUNT(*) FROM api_tokens WHERE user_id = ?",
            "API tokens",
        ),
        (
            "SELECT COUNT(*) FROM second_factors WHERE user_id = ?",
            "second factor",
        ),
        (
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?",
            "recovery codes",
        ),
        (
            "SELECT COUNT(*) FROM oidc_identities WHERE user_id = ?",
            "provider links",
        ),
        (
            "SELECT COUNT(*) FROM users WHERE id = ? AND password_hash IS NOT NULL",
            "password hash",
        ),
        (
            "SELECT COUNT(*) FROM mailboxes WHERE owner_id = ? AND (deleted_at IS NULL OR secret_id IS NOT NULL)",
            "live mailbox or its secret",
        ),
    ] {
        let n = count(&site, sql, id).await?;
        ensure!(n == 0, "{what} of the leaver still stored: {n}");
    }
    // The tombstone: the account is there, disabled; the list is the admin's now.
    let member = site.store.org_member(leaver.id).await?;
    ensure!(member.disabled_at.is_some(), "the account is not disabled");
    ensure!(
        site.store.get_list(list.id).await?.owner == admin.id,
        "list not handed over"
    );
    let audit = site.store.audit_log(20).await?;
    ensure!(
        audit.iter().any(|e| e.action == AuditAction::UserOffboard
            && e.actor == Some(admin.id)
            && e.object_id == Some(id)),
        "no offboard audit entry by the admin: {audit:?}"
    );
    site.stop().await
}

/// The admin's pages in Chromium, without script of their own: the users page lists a person,
/// the invitation form answers with a notice, disabling and enabling are buttons, and the
/// offboarding confirmation hands the lists to the chosen account; a plain user gets 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_invites_disables_and_offboards_on_the_pages_in_chromium() -> Result<()> {
    use mailsig_tests::browser::Browser;
    const WAIT: Duration = Duration::from_secs(20);
    let site = Site::start(false).await?;
    let admin = site.user("ada@mycorp.example", "admin password 1").await?;
    site.store.set_org_role(admin.id, OrgRole::Admin).await?;
    let bob = site.user("bob@mycorp.example", "bob password 12").await?;
    let list = site.store.create_list(bob.id, "Bob's leads").await?;

    // A plain user is refused the admin pages.
    let browser = Browser::start().await?;
    site.sign_in(&browser, &bob.email, "bob password 12")
        .await?;
    browser.goto(&site.url("/admin/users")).await?;
    ensure!(
        browser.text("h1").await? == "Not allowed",
        "a plain user sees {}",
        browser.text("h1").await?
    );
    browser.forget_cookies().await?;

    site.sign_in(&browser, &admin.email, "admin password 1")
        .await?;
    browser.goto(&site.url("/admin")).await?;
    browser.click("#section-users a").await?;
    browser.wait_path(|p| p == "/admin/users", WAIT).await?;
    ensure!(browser.text(&format!("#user-{} .status", bob.id.0)).await? == "active");

    browser.fill("#invite-email", "cleo@mycorp.example").await?;
    browser.fill("#invite-name", "Cleo").await?;
    browser.click("#invite").await?;
    let notice = browser.wait_text("#notice", "is invited", WAIT).await?;
    ensure!(notice.contains("cleo@mycorp.example"), "{notice}");
    let cleo = site.store.user_by_email("cleo@mycorp.example").await?;
    ensure!(
        browser
            .text(&format!("#user-{} .status", cleo.id.0))
            .await?
            == "invited"
    );

    browser.click(&format!("#disable-{}", bob.id.0)).await?;
    browser.wait_text("#notice", "is disabled", WAIT).await?;
    ensure!(site.store.org_member(bob.id).await?.disabled_at.is_some());
    browser.click(&format!("#enable-{}", bob.id.0)).await?;
    browser
        .wait_text("#notice", "may sign in again", WAIT)
        .await?;
    ensure!(site.store.org_member(bob.id).await?.disabled_at.is_none());

    browser.click(&format!("#offboard-{}", bob.id.0)).await?;
    browser
        .wait_path(|p| p.ends_with("/offboard"), WAIT)
        .await?;
    browser
        .select("#new-owner", &admin.id.0.to_string())
        .await?;
    browser.click("#confirm-offboard").await?;
    browser.wait_text("#notice", "is offboarded", WAIT).await?;
    ensure!(browser.text(&format!("#user-{} .status", bob.id.0)).await? == "disabled");
    ensure!(
        site.store.get_list(list.id).await?.owner == admin.id,
        "list not handed over"
    );
    let audit = site.store.audit_log(20).await?;
    for action in [
        AuditAction::UserInvite,
        AuditAction::UserDisable,
        AuditAction::UserEnable,
        AuditAction::UserOffboard,
    ] {
        ensure!(
            audit
                .iter()
                .any(|e| e.action == action && e.actor == Some(admin.id)),
            "{action} not audited as the admin's"
        );
    }
    browser.close().await?;
    site.stop().await
}
