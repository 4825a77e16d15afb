//! The org admin's account management through the API (`/api/v1/admin/users…`), which is the
//! same service code as the `/admin/users` page and `mailsigd user …`: the list shows role,
//! state, two-step verification and mailbox count; disabling ends the user's credentials at
//! once and enabling lets them sign in again; resetting two-step verification wipes the factor.
//! Every change is in the audit log with the admin as the actor. Runs on both stores.

use crate::api_support;

use anyhow::{Context, Result, ensure};
use api_support::{App, Auth, BACKENDS, Backend};
use axum::http::Method;
use mailsig_daemon::domain::{AuditAction, OrgRole};
use mailsig_daemon::http::auth::second_factor;
use mailsig_daemon::store::{MailboxKind, NewMailbox, UserId};

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
    second_factor::start_enrolment(&app.store, &app.vault, user).await?;
    let key = second_factor::pending_enrolment(&app.store, &app.vault, user, email)
        .await?
        .context("no pending enrolment")?;
    let code = totp_code(&key.manual_key)?;
    second_factor::confirm_enrolment(&app.store, &app.vault, user, &code, None).await?;
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
