//! The org admin's account management through the API (`/api/v1/admin/users…`), which is the
//! same service code as the `/admin/users` page and `mailsigd user …`: the list shows role,
//! state, two-step verification and mailbox count; disabling ends the user's credentials at
//! once and enabling lets them sign in again; resetting two-step verification wipes the factor.
//! Every change is in the audit log with the admin as the actor. Runs on both stores.
//!
//! Invitations go through the notifier's outbox to the real Postfix and are read back from the
//! invitee's real Dovecot INBOX; the link sets the first password once, and expires.

use crate::api_support;

use anyhow::{Context, Result, ensure};
use api_support::{App, Auth, BACKENDS, Backend};
use axum::body::Body;
use axum::http::{Method, Request};
use mailsig_daemon::domain::{AuditAction, OrgRole, TlsMode};
use mailsig_daemon::http::auth::second_factor;
use mailsig_daemon::notify::{Mailbox, Mailer, OutboxWorker, SmtpSettings, WorkerOptions};
use mailsig_daemon::store::{MailboxKind, NewMailbox, Store, UserId};
use mailsig_daemon::vault::Vault;
use mailsig_tests::servers::MailUser;
use secrecy::SecretString;
use std::time::Duration;

/// The code an authenticator app shows now for the base32 key `shown`.
pub fn totp_code(shown: &str) -> Result<String> {
    let key: String = shown.chars().filter(|c| !c.is_whitespace()).collect();
    let secret = totp_rs::Secret::try_from_base32(&key)
        .map_err(|e| anyhow::anyhow!("the key is not base32: {e:?}"))?;
    let totp = totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .map_err(|e| anyhow::anyhow!("totp: {e:?}"))?;
    let now = mailsig_daemon::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(totp.generate(now).to_string())
}

/// Turns two-step verification on for `user` as the security page does.
pub async fn enrol_totp(app: &App, user: UserId, email: &str) -> Result<()> {
    enrol_totp_in(&app.store, &app.vault, user, email).await
}

/// [`enrol_totp`] on any store and vault (a running site's).
pub async fn enrol_totp_in(store: &Store, vault: &Vault, user: UserId, email: &str) -> Result<()> {
    second_factor::start_enrolment(store, vault, user).await?;
    let key = second_factor::pending_enrolment(store, vault, user, email)
        .await?
        .context("no pending enrolment")?;
    let code = totp_code(&key.manual_key)?;
    second_factor::confirm_enrolment(store, vault, user, &code, None).await?;
    Ok(())
}

fn row_of(list: &serde_json::Value, user: UserId) -> Result<serde_json::Value> {
    list.as_array()
        .context("an array of users")?
        .iter()
        .find(|u| u["id"] == user.0)
        .cloned()
        .with_context(|| format!("user {} not listed", user.0))
}

/// The newest audit entry: who did what to which user.
async fn last_audit(app: &App) -> Result<(Option<i64>, AuditAction, Option<i64>)> {
    let entry = app
        .store
        .audit_log(1)
        .await?
        .into_iter()
        .next()
        .context("an audit entry")?;
    Ok((entry.actor.map(|u| u.0), entry.action, entry.object_id))
}

async fn admin_manages_accounts(backend: Backend) -> Result<()> {
    let app = App::new(backend).await?;
    let (admin, admin_token) = app.user("admin").await?;
    app.store.set_org_role(admin.id, OrgRole::Admin).await?;
    let (user, user_token) = app.user("leaver").await?;
    enrol_totp(&app, user.id, &user.email).await?;
    let list = app.store.create_list(user.id, "Leads").await?;
    app.store
        .create_mailbox(NewMailbox {
            owner: user.id,
            kind: MailboxKind::Imap,
            address: user.email.clone(),
            display_name: None,
            target_list: list.id,
            excluded_domains: vec![],
            settings: serde_json::json!({}),
            secret: None,
        })
        .await?;
    let as_admin = Auth::Bearer(admin_token);
    let as_user = Auth::Bearer(user_token);

    let reply = app
        .call(Method::GET, "/api/v1/admin/users", &as_admin, None)
        .await?;
    ensure!(
        reply.status == 200,
        "list: {} {}",
        reply.status,
        reply.text()
    );
    let listed = reply.json()?;
    let row = row_of(&listed, user.id)?;
    ensure!(row["email"] == user.email.as_str(), "{row}");
    ensure!(
        row["org_role"] == "user" && row["disabled_at"].is_null(),
        "{row}"
    );
    ensure!(
        row["second_factor"] == true,
        "two-step not shown as on: {row}"
    );
    ensure!(row["mailboxes"] == 1, "mailbox count: {row}");
    ensure!(row_of(&listed, admin.id)?["org_role"] == "admin");

    // The user is not an admin: the same route is refused to them.
    let reply = app
        .call(Method::GET, "/api/v1/admin/users", &as_user, None)
        .await?;
    ensure!(
        reply.status == 403,
        "a plain user listed users: {}",
        reply.status
    );

    // Disabling ends the user's token at once.
    let path = format!("/api/v1/admin/users/{}/disable", user.id.0);
    let reply = app.call(Method::POST, &path, &as_admin, None).await?;
    ensure!(
        reply.status == 200,
        "disable: {} {}",
        reply.status,
        reply.text()
    );
    ensure!(!reply.json()?["disabled_at"].is_null(), "not disabled");
    let me = app.call(Method::GET, "/api/v1/me", &as_user, None).await?;
    ensure!(
        me.status == 401,
        "a disabled user's token still works: {}",
        me.status
    );
    ensure!(
        last_audit(&app).await? == (Some(admin.id.0), AuditAction::UserDisable, Some(user.id.0)),
        "disable audit: {:?}",
        last_audit(&app).await?
    );

    // An admin cannot disable themself.
    let own = format!("/api/v1/admin/users/{}/disable", admin.id.0);
    let reply = app.call(Method::POST, &own, &as_admin, None).await?;
    ensure!(
        reply.status == 403,
        "an admin disabled themself: {}",
        reply.status
    );

    let path = format!("/api/v1/admin/users/{}/enable", user.id.0);
    let reply = app.call(Method::POST, &path, &as_admin, None).await?;
    ensure!(
        reply.status == 200,
        "enable: {} {}",
        reply.status,
        reply.text()
    );
    ensure!(reply.json()?["disabled_at"].is_null(), "still disabled");
    ensure!(
        last_audit(&app).await? == (Some(admin.id.0), AuditAction::UserEnable, Some(user.id.0)),
        "enable audit"
    );

    let path = format!("/api/v1/admin/users/{}/reset-second-factor", user.id.0);
    let reply = app.call(Method::POST, &path, &as_admin, None).await?;
    ensure!(
        reply.status == 200,
        "reset: {} {}",
        reply.status,
        reply.text()
    );
    ensure!(reply.json()?["second_factor"] == false, "two-step still on");
    ensure!(
        app.store
            .second_factor(user.id)
            .await
            .is_err_and(|e| e.is_not_found()),
        "the factor is still stored"
    );
    ensure!(
        last_audit(&app).await?
            == (
                Some(admin.id.0),
                AuditAction::SecondFactorReset,
                Some(user.id.0)
            ),
        "reset audit"
    );

    // An unknown account is "not found", for an admin too.
    let reply = app
        .call(
            Method::POST,
            "/api/v1/admin/users/999999/disable",
            &as_admin,
            None,
        )
        .await?;
    ensure!(reply.status == 404, "unknown user: {}", reply.status);
    Ok(())
}

#[tokio::test]
async fn an_org_admin_lists_disables_enables_and_resets_two_step_audited_on_sqlite() -> Result<()> {
    admin_manages_accounts(BACKENDS[0]).await
}

#[tokio::test]
async fn an_org_admin_lists_disables_enables_and_resets_two_step_audited_on_postgres() -> Result<()>
{
    admin_manages_accounts(BACKENDS[1]).await
}

// ---------------------------------------------------------------------------------- invitations

fn test_env() -> mailsig_tests::servers::TestEnv {
    mailsig_tests::servers::TestEnv::from_env().expect("test servers (run with scripts/test.sh)")
}

fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set: run with scripts/test.sh"))
}

/// The notifier as the daemon runs it, submitting to the real Postfix as `sender`.
fn notifier(store: &mailsig_daemon::store::Store, sender: &MailUser) -> Result<OutboxWorker> {
    notifier_for(store, sender, "https://mailsig.example.test/")
}

/// [`notifier`] for a daemon whose pages are at `public_base_url` (the links in its mail).
pub(crate) fn notifier_for(
    store: &mailsig_daemon::store::Store,
    sender: &MailUser,
    public_base_url: &str,
) -> Result<OutboxWorker> {
    let from: Mailbox = format!("mailsig <{}>", sender.address).parse()?;
    let port: u16 = env("MAILSIG_TEST_SMTP_PORT")?.parse()?;
    let mut settings = SmtpSettings::new("localhost", port, TlsMode::StartTls, &sender.name, from)
        .with_ca_file(env("MAILSIG_TEST_CA")?);
    settings.command_timeout = Duration::from_secs(10);
    let mailer = Mailer::new(settings, &SecretString::from(sender.password.clone()))?;
    Ok(OutboxWorker::new(
        store.clone(),
        mailer,
        WorkerOptions::new("test-worker", public_base_url),
    ))
}

/// The token of the invitation link in a delivered mail's text.
fn link_token(raw: &[u8]) -> Result<String> {
    let message = mail_parser::MessageParser::default()
        .parse(raw)
        .context("the invitation mail parses")?;
    ensure!(
        message.subject() == Some("You are invited to mailsig"),
        "subject {:?}",
        message.subject()
    );
    let text = message.body_text(0).context("a text part")?.into_owned();
    let start = text
        .find("https://mailsig.example.test/invitation?token=")
        .context("no invitation link in the mail")?;
    let token: String = text[start..]
        .trim_start_matches("https://mailsig.example.test/invitation?token=")
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    ensure!(token.len() == 64, "token {token:?}");
    Ok(token)
}

/// GETs the invitation page; its status, and the form's pre-session token with its cookie.
async fn open_link(app: &App, token: &str) -> Result<(u16, String, String)> {
    let request = Request::builder()
        .method(Method::GET)
        .uri(format!("/invitation?token={token}"))
        .body(Body::empty())?;
    let reply = app.send(request, "192.0.2.1:40000".parse()?).await?;
    let cookie = reply
        .header("set-cookie")
        .and_then(|c| c.split(';').next().map(str::to_owned))
        .unwrap_or_default();
    let html = reply.text();
    let csrf = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    Ok((reply.status.as_u16(), cookie, csrf))
}

/// Posts the invitation form: its status and `Location`, and whether a session cookie came.
async fn accept_link(app: &App, token: &str, password: &str) -> Result<(u16, String, bool)> {
    let (_, cookie, csrf) = open_link(app, token).await?;
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf_token", &csrf)
        .append_pair("token", token)
        .append_pair("password", password)
        .finish();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/invitation")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .body(Body::from(form))?;
    let reply = app.send(request, "192.0.2.1:40000".parse()?).await?;
    let session = reply.headers.get_all("set-cookie").iter().any(|c| {
        c.to_str()
            .unwrap_or_default()
            .starts_with("__Host-mailsig_session=")
    });
    Ok((
        reply.status.as_u16(),
        reply.header("location").unwrap_or_default(),
        session,
    ))
}

/// An admin invites a person through the API; the notifier's outbox delivers the mail through
/// the real Postfix into the person's real Dovecot INBOX; the link (never stored: the outbox
/// row names the invitation only) shows the form, sets the first password and signs in; the
/// same link then no longer works, and the person signs in with the password. Both steps are
/// audited with the right actor.
#[tokio::test]
async fn an_invited_person_gets_the_link_by_mail_sets_a_password_and_signs_in() -> Result<()> {
    let app = App::new(Backend::Sqlite).await?;
    let (admin, admin_token) = app.user("admin").await?;
    app.store.set_org_role(admin.id, OrgRole::Admin).await?;
    let sender = test_env().create_mail_user()?;
    let invitee = test_env().create_mail_user()?;

    let reply = app
        .call(
            Method::POST,
            "/api/v1/admin/users",
            &Auth::Bearer(admin_token.clone()),
            Some(serde_json::json!({"email": invitee.address, "display_name": "Ivy"})),
        )
        .await?;
    ensure!(
        reply.status == 201,
        "invite: {} {}",
        reply.status,
        reply.text()
    );
    let member = reply.json()?;
    ensure!(member["has_password"] == false, "{member}");
    let user = UserId(member["id"].as_i64().context("id")?);
    ensure!(
        last_audit(&app).await? == (Some(admin.id.0), AuditAction::UserInvite, Some(user.0)),
        "invite audit"
    );
    // The address cannot sign in yet: there is no password.
    ensure!(
        mailsig_daemon::http::auth::sign_in(&app.store, &invitee.address, "anything at all")
            .await
            .is_err()
    );

    let report = notifier(&app.store, &sender)?.run_once().await?;
    ensure!(report.sent == 1, "{report:?}");
    let delivered = test_env()
        .imap()
        .wait_for_messages(&invitee, "INBOX", 1, Duration::from_secs(30))
        .await?;
    let token = link_token(&delivered[0].raw)?;
    // No stored row holds the link.
    let item = app
        .store
        .get_outbox_item(mailsig_daemon::store::OutboxId(1))
        .await?;
    ensure!(
        !format!("{:?}", item.message).contains(&token),
        "the outbox row holds the link's token"
    );

    // An unknown token gets the same "does not work" page as a used one.
    let (status, _, _) = open_link(&app, &"0".repeat(64)).await?;
    ensure!(status == 404, "unknown token: {status}");
    let (status, _, csrf) = open_link(&app, &token).await?;
    ensure!(status == 200 && !csrf.is_empty(), "link: {status}");
    // Too short a password is refused, and the link stays usable.
    let (status, _, session) = accept_link(&app, &token, "short").await?;
    ensure!(status == 400 && !session, "short password: {status}");
    let password = "ivy's first password";
    let (status, location, session) = accept_link(&app, &token, password).await?;
    ensure!(
        status == 303 && location == "/dashboard" && session,
        "accept: {status} {location} session={session}"
    );
    let audit = app.store.audit_log(5).await?;
    ensure!(
        audit
            .iter()
            .any(|e| e.action == AuditAction::UserAcceptInvitation
                && e.actor == Some(user)
                && e.object_id == Some(user.0)),
        "accept audit: {audit:?}"
    );
    // Single use: the link is dead now, and the password signs in.
    let (status, _, _) = open_link(&app, &token).await?;
    ensure!(status == 404, "a used link still works: {status}");
    let (status, _, session) = accept_link(&app, &token, "another password!").await?;
    ensure!(
        status == 404 && !session,
        "a used link accepted again: {status}"
    );
    mailsig_daemon::http::auth::sign_in(&app.store, &invitee.address, password).await?;

    // The address now has an account in use: inviting it again is a conflict.
    let again = app
        .call(
            Method::POST,
            "/api/v1/admin/users",
            &Auth::Bearer(admin_token),
            Some(serde_json::json!({"email": invitee.address})),
        )
        .await?;
    ensure!(
        again.status == 409,
        "re-invite of a used account: {}",
        again.status
    );
    Ok(())
}

/// An invitation expires: 7 days after it was sent the link shows the "does not work" page and
/// cannot set a password.
#[tokio::test]
async fn an_invitation_link_expires_after_seven_days() -> Result<()> {
    let clock = mailsig_daemon::store::Clock::manual(1_800_000_000_000);
    let app = App::with_clock(Backend::Sqlite, clock.clone()).await?;
    let admin = mailsig_daemon::service::org::AdminActor::operator();
    let member =
        mailsig_daemon::service::org::invite::invite(&app.store, admin, "late@example.test", None)
            .await?;
    let invitation = app
        .store
        .get_outbox_item(mailsig_daemon::store::OutboxId(1))
        .await?;
    let mailsig_daemon::domain::OutboxMessage::Invitation(payload) = invitation.message else {
        anyhow::bail!("not an invitation: {:?}", invitation.message);
    };
    // What the notifier does when it composes the mail.
    let token = mailsig_daemon::store::new_link_token().map_err(anyhow::Error::msg)?;
    ensure!(
        app.store
            .arm_account_invitation(payload.invitation, &token)
            .await?
            .is_some_and(|i| i.user == member.id)
    );
    clock.advance(Duration::from_secs(7 * 24 * 3600 - 60));
    let (status, _, _) = open_link(&app, &token).await?;
    ensure!(status == 200, "a link a minute before expiry: {status}");
    clock.advance(Duration::from_secs(120));
    let (status, _, _) = open_link(&app, &token).await?;
    ensure!(status == 404, "an expired link: {status}");
    let (status, _, session) = accept_link(&app, &token, "a password that is long").await?;
    ensure!(
        status == 404 && !session,
        "an expired link accepted: {status}"
    );
    ensure!(
        !app.store.org_member(member.id).await?.has_password,
        "an expired link set a password"
    );
    // Nothing is mailed for an expired invitation either.
    ensure!(
        app.store
            .arm_account_invitation(payload.invitation, "x")
            .await?
            .is_none()
    );
    Ok(())
}

/// A browser that is signed in already is asked to sign out before it can accept an invitation
/// (no form that would mix the two accounts); without a session it gets the form.
#[tokio::test]
async fn a_signed_in_browser_is_asked_to_sign_out_before_accepting() -> Result<()> {
    let app = App::new(Backend::Sqlite).await?;
    let invitee = app.store.create_user("ivy@example.test", None).await?;
    let week = app.store.now_ms() + 7 * 24 * 3_600_000;
    app.store
        .create_account_invitation(invitee.id, "a-known-invitation-token", week)
        .await?;
    let (other, _) = app.user("someone").await?;
    let phc = mailsig_daemon::http::auth::password::hash_password(zeroize::Zeroizing::new(
        "someone's password".into(),
    ))
    .await?;
    app.store.set_first_password_hash(other.id, &phc).await?;
    let session =
        mailsig_daemon::http::auth::sign_in(&app.store, &other.email, "someone's password").await?;
    let path = "/invitation?token=a-known-invitation-token";
    let signed_in = Auth::Cookie {
        cookie: session.cookie_value().to_owned(),
        csrf: None,
    };
    let reply = app.call(Method::GET, path, &signed_in, None).await?;
    let html = reply.text();
    ensure!(reply.status == 200, "{}", reply.status);
    ensure!(
        html.contains("id=\"invitation-signed-in\"") && !html.contains("id=\"accept-invitation\""),
        "a signed-in browser got the form"
    );
    let reply = app.call(Method::GET, path, &Auth::None, None).await?;
    ensure!(
        reply.status == 200 && reply.text().contains("id=\"accept-invitation\""),
        "no form without a session: {}",
        reply.status
    );
    Ok(())
}

/// Failed notifications as the org admin handles them through the API (the page calls the same
/// service): listed with the notifier's reason, one queued again, one dropped, and a member is
/// refused; the audit log then finds both actions by actor, action and object, exports them as
/// CSV with the admin's address, and the retention task purges entries older than
/// `audit_days` while it keeps the recent ones. Runs on both stores.
async fn failed_notifications_and_the_audit_log(backend: Backend) -> Result<()> {
    use mailsig_daemon::domain::{DigestPayload, OutboxMessage};
    use mailsig_daemon::store::OutboxStatus;
    use mailsig_daemon::supervisor::retention::{self, RetentionDays};
    let clock = mailsig_daemon::store::Clock::manual(1_800_000_000_000);
    let app = App::with_clock(backend, clock.clone()).await?;
    let (admin, admin_token) = app.user("admin").await?;
    app.store.set_org_role(admin.id, OrgRole::Admin).await?;
    let (member, member_token) = app.user("member").await?;
    let as_admin = Auth::Bearer(admin_token);
    let digest = OutboxMessage::Digest(DigestPayload {
        suggestions: Vec::new(),
        lists: Vec::new(),
        more: 0,
    });
    let mut failed = Vec::new();
    for _ in 0..2 {
        let id = app
            .store
            .enqueue(&digest, member.id, clock.now_ms())
            .await?;
        app.store.mark_failed(id, "smtp: send: 554").await?;
        failed.push(id);
    }
    let (retried, dropped) = (failed[0], failed[1]);

    let refused = app
        .call(
            Method::GET,
            "/api/v1/admin/notifications/failed",
            &Auth::Bearer(member_token),
            None,
        )
        .await?;
    ensure!(refused.status == 403, "a member: {}", refused.status);
    let listed = app
        .call(
            Method::GET,
            "/api/v1/admin/notifications/failed",
            &as_admin,
            None,
        )
        .await?;
    ensure!(listed.status == 200, "{} {}", listed.status, listed.text());
    let rows = listed.json()?;
    let rows = rows.as_array().context("an array")?;
    ensure!(rows.len() == 2, "{rows:?}");
    ensure!(
        rows.iter()
            .all(|r| r["reason"] == "smtp: send: 554"
                && r["recipient_email"] == member.email.as_str()),
        "{rows:?}"
    );
    let retry = app
        .call(
            Method::POST,
            &format!("/api/v1/admin/notifications/{}/retry", retried.0),
            &as_admin,
            None,
        )
        .await?;
    ensure!(
        retry.status == 204,
        "retry: {} {}",
        retry.status,
        retry.text()
    );
    ensure!(app.store.get_outbox_item(retried).await?.status == OutboxStatus::Pending);
    let drop = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/notifications/{}", dropped.0),
            &as_admin,
            None,
        )
        .await?;
    ensure!(drop.status == 204, "drop: {} {}", drop.status, drop.text());
    ensure!(
        app.store.get_outbox_item(dropped).await.is_err(),
        "dropped row still there"
    );
    ensure!(app.store.list_failed(10).await?.is_empty());

    let audit = |query: String| {
        let app = &app;
        let as_admin = &as_admin;
        async move {
            let reply = app
                .call(
                    Method::GET,
                    &format!("/api/v1/admin/audit?{query}"),
                    as_admin,
                    None,
                )
                .await?;
            ensure!(reply.status == 200, "{} {}", reply.status, reply.text());
            let page = reply.json()?;
            Ok::<_, anyhow::Error>(page["entries"].as_array().cloned().unwrap_or_default())
        }
    };
    let by_admin = audit(format!("actor={}", admin.email)).await?;
    let actions: Vec<&str> = by_admin
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    ensure!(
        actions.contains(&"outbox.retry") && actions.contains(&"outbox.drop"),
        "{actions:?}"
    );
    let retries = audit("action=outbox.retry&object=outbox".to_owned()).await?;
    ensure!(
        retries.len() == 1 && retries[0]["object_id"] == retried.0,
        "{retries:?}"
    );
    ensure!(
        audit(format!("action=outbox.drop&object_id={}", dropped.0))
            .await?
            .len()
            == 1
    );
    ensure!(
        audit("actor=operator&action=outbox.retry".to_owned())
            .await?
            .is_empty()
    );
    let csv = app
        .call(
            Method::GET,
            "/api/v1/admin/audit/export.csv?action=outbox.drop",
            &as_admin,
            None,
        )
        .await?;
    ensure!(csv.status == 200, "{}", csv.status);
    let text = csv.text();
    ensure!(
        text.lines().count() == 2 && text.contains("outbox.drop") && text.contains(&admin.email),
        "{text}"
    );

    // A year and a day later one more entry is written; the retention task keeps it and purges
    // the old ones.
    clock.advance(Duration::from_secs(366 * 24 * 60 * 60));
    app.store.mark_failed(retried, "smtp: send: 554").await?;
    mailsig_daemon::service::org::outbox::retry(
        &app.store,
        mailsig_daemon::service::org::AdminActor::operator(),
        retried,
    )
    .await?;
    let before = app.store.audit_log(1000).await?.len();
    ensure!(before >= 3, "{before} entries");
    let (_days_tx, days) = tokio::sync::watch::channel(RetentionDays {
        deleted: 30,
        audit: 365,
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(retention::run(
        app.store.clone(),
        days,
        Duration::from_secs(3600),
        shutdown.clone(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let kept = loop {
        let entries = app.store.audit_log(1000).await?;
        if entries.len() < before {
            break entries;
        }
        ensure!(std::time::Instant::now() < deadline, "nothing was purged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    shutdown.cancel();
    task.await?;
    ensure!(
        kept.len() == 1 && kept[0].action == AuditAction::OutboxRetry && kept[0].actor.is_none(),
        "{kept:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_org_admin_retries_and_drops_failed_notifications_and_the_audit_log_is_filtered_and_purged_on_sqlite()
-> Result<()> {
    failed_notifications_and_the_audit_log(BACKENDS[0]).await
}

#[tokio::test]
async fn an_org_admin_retries_and_drops_failed_notifications_and_the_audit_log_is_filtered_and_purged_on_postgres()
-> Result<()> {
    failed_notifications_and_the_audit_log(BACKENDS[1]).await
}
