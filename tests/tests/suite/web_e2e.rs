//! The pages end to end, as a person uses them: headless Chromium signs in to a real daemon over
//! HTTPS, links an IMAP mailbox of the real Dovecot through the form (a wrong password is
//! refused by the real login check first), the test delivers a signed message into that mailbox,
//! the browser waits for the suggestion on the review page, opens the merge view, types a
//! title and saves. The test then checks the page text, the store, and a screenshot.

use crate::pipeline_support;
use crate::web_support;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use mailsig_daemon::store::{MailboxFilter, MailboxId, SuggestionFilter, SuggestionStatus};
use mailsig_tests::browser::{Browser, WINDOW};
use pipeline_support::{signed_mail, unique_id};
use web_support::{Site, screenshot_path};

const EMAIL: &str = "ada@mycorp.example";
const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_links_a_mailbox_and_merges_a_suggestion_in_chromium() -> Result<()> {
    let site = Site::start(true).await?;
    let owner = site.user(EMAIL, PASSWORD).await?;
    let list = site.store.create_list(owner.id, "Customers").await?;
    let mail_user = site.env.create_mail_user()?;
    let browser = Browser::start().await?;

    // Sign in; the dashboard lists the list.
    site.sign_in(&browser, EMAIL, PASSWORD).await?;
    ensure!(
        browser.text("main").await?.contains("Customers"),
        "dashboard without the list"
    );

    // Link the mailbox. A wrong password first: the real login check refuses it and nothing is stored.
    let fill_form = |password: String, folders: &'static str| {
        let browser = &browser;
        let user = &mail_user;
        let site = &site;
        let list = &list;
        async move {
            browser.goto(&site.url("/mailboxes/new")).await?;
            ensure!(
                browser.text("main").await?.contains("app password"),
                "the form does not recommend an app password"
            );
            browser.fill("#address", &user.address).await?;
            browser.fill("#host", "127.0.0.1").await?;
            browser
                .fill("#port", &site.env.imap_port.to_string())
                .await?;
            browser.select("#security", "plaintext").await?;
            browser.fill("#username", &user.name).await?;
            browser.fill("#password", &password).await?;
            browser.fill("#folders", folders).await?;
            browser.select("#list", &list.id.0.to_string()).await?;
            browser.fill("#exclusions", "newsletter.example").await?;
            browser.click("#link-imap").await
        }
    };
    fill_form(format!("{}-wrong", mail_user.password), "INBOX").await?;
    browser
        .wait_path(|p| p == "/mailboxes/imap", Duration::from_secs(30))
        .await?;
    let refusal = browser
        .text("#link-error")
        .await
        .context("no error shown for a wrong password")?;
    ensure!(!refusal.is_empty(), "empty link error");
    // In words, beside the password, without the server's own text; the form is kept.
    let beside = browser.text("#password-error").await?;
    ensure!(
        beside.contains("refused this user name and password"),
        "password field error: {beside:?}"
    );
    ensure!(
        !refusal.contains("code:") && !refusal.contains("info:") && !refusal.contains("Some("),
        "debug text in the refusal: {refusal}"
    );
    let host: String = browser
        .eval("return document.querySelector('#host').value;")
        .await?;
    ensure!(host == "127.0.0.1", "the form lost the host: {host:?}");
    // A folder that does not exist: on the folders field.
    fill_form(mail_user.password.clone(), "NoSuchFolder").await?;
    let folder_error = browser
        .wait_text("#folders-error", "does not exist", Duration::from_secs(30))
        .await?;
    ensure!(!folder_error.is_empty());
    let none = site
        .store
        .list_mailboxes(&MailboxFilter {
            owner: Some(owner.id),
            kind: None,
        })
        .await?;
    ensure!(
        none.is_empty(),
        "a mailbox was stored despite the failed login"
    );

    fill_form(mail_user.password.clone(), "INBOX").await?;
    // The login check takes a moment: wait for the mailbox's page.
    let path = browser
        .wait_path(
            |p| p.starts_with("/mailboxes/") && p[11..].bytes().all(|b| b.is_ascii_digit()),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_default();
    let shown = browser.text("main").await.unwrap_or_default();
    let mailbox_id: i64 = path
        .strip_prefix("/mailboxes/")
        .and_then(|id| id.parse().ok())
        .with_context(|| format!("after linking the browser is at {path}: {shown}"))?;
    let mailbox = site.store.get_mailbox(MailboxId(mailbox_id)).await?;
    ensure!(
        mailbox.owner == owner.id && mailbox.target_list == list.id,
        "mailbox stored with the wrong owner or list"
    );
    ensure!(
        mailbox.excluded_domains == vec!["newsletter.example".to_owned()],
        "exclusions {:?}",
        mailbox.excluded_domains
    );
    ensure!(
        browser.text("main").await?.contains(&mail_user.name),
        "mailbox page does not name the login"
    );
    ensure!(
        browser.text("#notice").await?.contains("Linked"),
        "the link is not confirmed"
    );
    // The same account again is refused on the user name, and nothing more is stored.
    fill_form(mail_user.password.clone(), "INBOX").await?;
    browser
        .wait_text("#username-error", "already linked", Duration::from_secs(30))
        .await?;
    let linked = site
        .store
        .list_mailboxes(&MailboxFilter {
            owner: Some(owner.id),
            kind: None,
        })
        .await?;
    ensure!(
        linked.len() == 1,
        "{} mailboxes after linking twice",
        linked.len()
    );

    // Only mail that arrives after the watcher has started counts (no backfill): wait for its cursor.
    let deadline = Instant::now() + Duration::from_secs(60);
    while site.store.get_cursor(mailbox.id, "INBOX").await?.is_none() {
        ensure!(
            Instant::now() < deadline,
            "the IMAP watcher did not start within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let raw = signed_mail(
        "Grace Hopper",
        "grace",
        "partner.example",
        &unique_id("web-e2e"),
    );
    site.env.imap().append(&mail_user, "INBOX", &raw).await?;

    // The suggestion appears on the review page.
    let review = site.url(&format!("/lists/{}/review", list.id.0));
    browser
        .wait_for(&review, "#suggestions li.card", Duration::from_secs(90))
        .await?;
    let row = browser.text("#suggestions li.card").await?;
    ensure!(
        row.contains("grace@partner.example") && row.contains("Grace Hopper"),
        "review row: {row}"
    );
    let suggestion = site
        .store
        .list_suggestions(list.id, &SuggestionFilter::default())
        .await?
        .into_iter()
        .next()
        .context("no suggestion in the store")?;

    // The merge view: type a title over the extracted one, keep the rest.
    browser
        .click(&format!("#suggestion-{} a.button", suggestion.id.0))
        .await?;
    browser
        .wait_path(|p| p.ends_with("/merge"), Duration::from_secs(10))
        .await?;
    ensure!(
        browser.exists("#merge-form").await?,
        "no merge form for the owner"
    );
    browser.fill("#title-value", "Rear Admiral").await?;
    browser.click("#merge").await?;

    // The page: back on the review page; the merged suggestion is listed under "merged".
    browser
        .wait_path(|p| p.ends_with("/review"), Duration::from_secs(10))
        .await
        .context("after merging")?;
    ensure!(
        browser.text("#notice").await?.contains("Merged"),
        "the merge is not confirmed"
    );
    browser.goto(&format!("{review}?status=merged")).await?;
    let merged_row = browser
        .text(&format!("#suggestion-{}", suggestion.id.0))
        .await?;
    ensure!(
        merged_row.contains("Rear Admiral"),
        "merged row: {merged_row}"
    );
    ensure!(
        merged_row.contains("Grace Hopper"),
        "the name was not kept: {merged_row}"
    );

    // The store.
    let stored = site.store.get_suggestion(suggestion.id).await?;
    ensure!(
        stored.status == SuggestionStatus::Merged,
        "status {:?}",
        stored.status
    );
    ensure!(
        stored.fields.title.as_ref().map(|f| f.value.as_str()) == Some("Rear Admiral"),
        "title {:?}",
        stored.fields.title
    );
    ensure!(
        stored.fields.name.as_ref().map(|f| f.value.as_str())
            == suggestion.fields.name.as_ref().map(|f| f.value.as_str()),
        "name changed: {:?}",
        stored.fields.name
    );
    ensure!(
        stored.fields.company == suggestion.fields.company,
        "company changed"
    );
    ensure!(
        stored.fields.address == suggestion.fields.address,
        "the address changed"
    );

    // A screenshot for people: a PNG of the window's width and the viewport's height (the window
    // less Chromium's frame), not blank.
    let path = screenshot_path("merged");
    let (width, height) = browser.screenshot(&path).await?;
    ensure!(
        width == WINDOW.0 && height > WINDOW.1 / 2 && height <= WINDOW.1,
        "screenshot is {width}x{height}"
    );

    browser.close().await?;
    site.stop().await
}
