//! The org admin's organisation-wide pages against a real daemon and the real Dovecot: the
//! sender blocklist added on the page in headless Chromium is in force for the next message
//! of a running watcher (skipped and counted), while another sender still becomes a
//! suggestion; and a change made outside the daemon (another replica, the CLI) reaches the
//! running pipeline through the list's version.

use crate::pipeline_support;
use crate::web_support;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use mailsig_daemon::domain::{AuditAction, OrgRole, SkipReason};
use mailsig_daemon::store::{BlocklistKind, ListId, Store, SuggestionFilter};
use mailsig_tests::browser::Browser;
use pipeline_support::{signed_mail, unique_id};

use web_support::{Site, wait_exists};

const ADMIN: &str = "ida.admin@mycorp.example";
const ADMIN_PASSWORD: &str = "ida admin password";
const OWNER: &str = "otto@mycorp.example";

/// Waits until a suggestion from `sender` is in `list`.
async fn wait_suggested(store: &Store, list: ListId, sender: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let found = store
            .list_suggestions(list, &SuggestionFilter::default())
            .await?;
        if found.iter().any(|s| s.sender_email == sender) {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "no suggestion from {sender}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_blocks_a_domain_on_the_page_and_the_running_watcher_skips_its_next_message_in_chromium()
-> Result<()> {
    let site = Site::start(true).await?;
    let admin = site.user(ADMIN, ADMIN_PASSWORD).await?;
    site.store.set_org_role(admin.id, OrgRole::Admin).await?;
    let owner = site.user(OWNER, "otto's password").await?;
    let list = site.store.create_list(owner.id, "Customers").await?;
    let (mail_user, _) = site.link_watched_imap(owner.id, list.id).await?;

    // Before: mail from blocked.example becomes a suggestion like any other.
    site.env
        .imap()
        .append(
            &mail_user,
            "INBOX",
            &signed_mail("Anna Berger", "anna", "blocked.example", &unique_id("bl1")),
        )
        .await?;
    wait_suggested(&site.store, list.id, "anna@blocked.example").await?;
    let pipeline = site.supervisor.running_pipeline();
    let skipped_before = pipeline.stats().skipped(SkipReason::ExcludedDomain);

    // The admin blocks the domain on the page.
    let browser = Browser::start().await?;
    site.sign_in(&browser, ADMIN, ADMIN_PASSWORD).await?;
    browser.goto(&site.url("/admin/blocklist")).await?;
    browser.fill("#blocklist-value", "Blocked.example").await?;
    browser.click("#add-blocklist").await?;
    wait_exists(&browser, "#notice", Duration::from_secs(10))
        .await
        .context("the domain was not added")?;
    let table = browser.text("#blocklist").await?;
    ensure!(table.contains("blocked.example"), "{table}");

    // After: the next message from it is skipped and counted; another sender still counts.
    site.env
        .imap()
        .append(
            &mail_user,
            "INBOX",
            &signed_mail("Bert Brandt", "bert", "blocked.example", &unique_id("bl2")),
        )
        .await?;
    site.env
        .imap()
        .append(
            &mail_user,
            "INBOX",
            &signed_mail("Carl Dorn", "carl", "allowed.example", &unique_id("bl3")),
        )
        .await?;
    wait_suggested(&site.store, list.id, "carl@allowed.example").await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while pipeline.stats().skipped(SkipReason::ExcludedDomain) < skipped_before + 1 {
        ensure!(
            Instant::now() < deadline,
            "the blocked sender's message was not skipped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let suggestions = site
        .store
        .list_suggestions(list.id, &SuggestionFilter::default())
        .await?;
    ensure!(
        !suggestions
            .iter()
            .any(|s| s.sender_email == "bert@blocked.example"),
        "a blocked sender became a suggestion"
    );
    ensure!(
        pipeline.stats().skipped(SkipReason::ExcludedDomain) == skipped_before + 1,
        "one skip expected"
    );

    // Audited with the admin as the actor.
    let log = site.store.audit_log(50).await?;
    ensure!(
        log.iter().any(|e| e.action == AuditAction::BlocklistAdd
            && e.actor == Some(admin.id)
            && e.detail.as_deref() == Some("domain blocked.example")),
        "{log:?}"
    );

    // Removed on the page: in force for the next message again.
    let entry = site
        .store
        .blocklist()
        .await?
        .entries
        .into_iter()
        .find(|e| e.value == "blocked.example")
        .context("entry")?;
    browser.click(&format!("#remove-{}", entry.id)).await?;
    wait_exists(&browser, "#no-entries", Duration::from_secs(10))
        .await
        .context("the entry was not removed")?;
    site.env
        .imap()
        .append(
            &mail_user,
            "INBOX",
            &signed_mail("Dora Dahl", "dora", "blocked.example", &unique_id("bl4")),
        )
        .await?;
    wait_suggested(&site.store, list.id, "dora@blocked.example").await?;
    browser.close().await?;
    site.stop().await
}

/// A change made in the store by someone else (the CLI, another replica) reaches the running
/// pipeline through the version poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocklist_change_made_elsewhere_reaches_the_running_pipeline() -> Result<()> {
    let site = Site::start(false).await?;
    let live = site.supervisor.running_pipeline().blocklist().clone();
    ensure!(!live.current().blocks("x", "elsewhere.example"));
    site.store
        .add_blocklist_entry(BlocklistKind::Domain, "elsewhere.example", usize::MAX)
        .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !live.current().blocks("x", "mail.elsewhere.example") {
        ensure!(
            Instant::now() < deadline,
            "the running pipeline did not pick up the change"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    site.stop().await
}
