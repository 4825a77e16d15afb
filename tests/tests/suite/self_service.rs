//! What a user fixes alone, in headless Chromium against a real daemon and the real Dovecot:
//! replacing a mailbox's password in place after it changed at the mail server. The new password
//! is tested against Dovecot before it replaces the stored one (the old one is refused there and
//! changes nothing), the old sealed record is wiped, and the watcher goes on delivering; pausing a
//! mailbox and resuming it on its page.

use crate::pipeline_support;
use crate::web_support;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use mailsig_daemon::store::SuggestionFilter;
use mailsig_tests::browser::Browser;
use pipeline_support::{signed_mail, unique_id};

use web_support::{Site, wait_exists};

const EMAIL: &str = "yara@mycorp.example";
const PASSWORD: &str = "yara password 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_replaces_a_mailbox_password_in_place_and_mail_keeps_coming_in_chromium()
-> Result<()> {
    let site = Site::start(true).await?;
    let owner = site.user(EMAIL, PASSWORD).await?;
    let list = site.store.create_list(owner.id, "Customers").await?;
    let (mail_user, linked) = site.link_watched_imap(owner.id, list.id).await?;
    let old_secret = site
        .store
        .get_mailbox(linked.id)
        .await?
        .secret
        .context("no sealed password")?;

    // The password changes at the mail server.
    let new_password = format!("{}-changed", mail_user.password);
    let users_dir = site.env.users_dir();
    let tmp = users_dir.join(format!(".{}.tmp", mail_user.name));
    std::fs::write(
        &tmp,
        format!("{}:{{PLAIN}}{new_password}::::::\n", mail_user.name),
    )?;
    std::fs::rename(&tmp, users_dir.join(&mail_user.name))?;

    let browser = Browser::start().await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;
    browser
        .goto(&site.url(&format!("/mailboxes/{}", linked.id.0)))
        .await?;
    browser.click("#replace-password-link").await?;
    browser
        .wait_path(|p| p.ends_with("/password"), Duration::from_secs(10))
        .await?;

    // The old password no longer logs in at Dovecot: refused, nothing replaced.
    browser.fill("#password", &mail_user.password).await?;
    browser.click("#replace-password").await?;
    wait_exists(&browser, "#password-error", Duration::from_secs(30))
        .await
        .context("the old password was not refused")?;
    ensure!(
        site.store.get_mailbox(linked.id).await?.secret == Some(old_secret),
        "a refused password replaced the stored one"
    );

    // The new one: tested, stored, the old record wiped, back on the mailbox's page.
    browser.fill("#password", &new_password).await?;
    browser.click("#replace-password").await?;
    let mailbox_path = format!("/mailboxes/{}", linked.id.0);
    browser
        .wait_path(|p| p == mailbox_path, Duration::from_secs(30))
        .await
        .with_context(|| "the new password was not taken")?;
    let mailbox = site.store.get_mailbox(linked.id).await?;
    ensure!(
        mailbox.secret.is_some() && mailbox.secret != Some(old_secret),
        "the sealed password was not replaced"
    );
    ensure!(
        site.store.get_secret(old_secret).await.is_err(),
        "the old sealed password was not wiped"
    );

    // Mail keeps coming in.
    let raw = signed_mail(
        "Grace Hopper",
        "grace",
        "partner.example",
        &unique_id("self-service"),
    );
    let renamed = mailsig_tests::servers::MailUser {
        name: mail_user.name.clone(),
        password: new_password.clone(),
        address: mail_user.address.clone(),
    };
    site.env.imap().append(&renamed, "INBOX", &raw).await?;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let found = site
            .store
            .list_suggestions(list.id, &SuggestionFilter::default())
            .await?;
        if found
            .iter()
            .any(|s| s.sender_email == "grace@partner.example")
        {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "no suggestion after the password was replaced"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let audit = site.store.audit_log(100).await?;
    ensure!(
        audit.iter().any(
            |e| e.action == mailsig_daemon::domain::AuditAction::MailboxRecredential
                && e.actor == Some(owner.id)
        ),
        "the replacement is not audited with the user as actor"
    );
    browser.close().await?;
    site.stop().await
}

/// The owner pauses a mailbox on its page: the watcher's connection to Dovecot goes and the page
/// says paused; mail that arrives meanwhile is not read. Resuming reads it, from where the
/// watcher stopped; both changes are in the audit log as the owner's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_pauses_a_mailbox_and_resuming_reads_what_came_meanwhile_in_chromium() -> Result<()>
{
    use mailsig_daemon::domain::AuditAction;
    use mailsig_daemon::store::MailboxStatus;
    const OWNER: &str = "zeno@mycorp.example";
    let site = Site::start(true).await?;
    let owner = site.user(OWNER, PASSWORD).await?;
    let list = site.store.create_list(owner.id, "Partners").await?;
    let (mail_user, linked) = site.link_watched_imap(owner.id, list.id).await?;
    web_support::wait_until(
        Duration::from_secs(60),
        "the watcher to connect",
        async || Ok(web_support::dovecot_connections(&site.env, &mail_user)? > 0),
    )
    .await?;

    let browser = Browser::start().await?;
    site.sign_in(&browser, OWNER, PASSWORD).await?;
    let page = format!("/mailboxes/{}", linked.id.0);
    browser.goto(&site.url(&page)).await?;
    browser.click("#pause").await?;
    wait_exists(&browser, "#resume", Duration::from_secs(30))
        .await
        .context("the page did not offer to resume")?;
    ensure!(
        site.store.get_mailbox(linked.id).await?.shown_status().0 == MailboxStatus::Paused,
        "not shown as paused"
    );
    web_support::wait_until(
        Duration::from_secs(30),
        "the paused mailbox's watcher to log out",
        async || Ok(web_support::dovecot_connections(&site.env, &mail_user)? == 0),
    )
    .await?;

    let raw = signed_mail(
        "Ada Lovelace",
        "ada",
        "paused.example",
        &unique_id("paused"),
    );
    site.env.imap().append(&mail_user, "INBOX", &raw).await?;
    ensure!(
        web_support::dovecot_connections(&site.env, &mail_user)? == 0,
        "a paused mailbox was connected to"
    );

    browser.click("#resume").await?;
    wait_exists(&browser, "#pause", Duration::from_secs(30))
        .await
        .context("the page did not offer to pause again")?;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let found = site
            .store
            .list_suggestions(list.id, &SuggestionFilter::default())
            .await?;
        if found.iter().any(|s| s.sender_email == "ada@paused.example") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the message that came while paused was not read after resuming"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let actions: Vec<(AuditAction, Option<i64>)> = site
        .store
        .audit_log(50)
        .await?
        .into_iter()
        .filter(|e| e.object_id == Some(linked.id.0))
        .map(|e| (e.action, e.actor.map(|a| a.0)))
        .collect();
    for action in [AuditAction::MailboxPause, AuditAction::MailboxResume] {
        ensure!(
            actions.contains(&(action, Some(owner.id.0))),
            "{action:?} not audited as the owner's: {actions:?}"
        );
    }
    Ok(())
}
