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

/// Waits until the watcher of `mailbox` has examined its INBOX (its cursor is stored), which it
/// does only after connecting and verifying the server's certificate.
async fn wait_for_cursor(site: &Site, mailbox: MailboxId) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while site.store.get_cursor(mailbox, "INBOX").await?.is_none() {
        let stored = site.store.get_mailbox(mailbox).await?;
        ensure!(
            Instant::now() < deadline,
            "the watcher did not connect within 60 s: {:?} {:?}",
            stored.status,
            stored.status_reason
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// A server whose certificate comes from a private CA (the test servers' Dovecot, under the
/// test CA, which no public root signs): without a CA the form fails on the CA field, in words,
/// and keeps what was typed; text that is no certificate is refused on that field; with the
/// CA's certificate pasted the mailbox links, carries the CA, and its watcher connects with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_server_links_with_the_ca_field_and_fails_on_it_without() -> Result<()> {
    let site = Site::start(true).await?;
    let owner = site.user(EMAIL, PASSWORD).await?;
    let list = site.store.create_list(owner.id, "Customers").await?;
    let mail_user = site.env.create_mail_user()?;
    let ca_pem = std::fs::read_to_string(&site.env.ca)?;
    let browser = Browser::start().await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;

    let fill_form = |ca: Option<String>| {
        let (browser, user, site, list) = (&browser, &mail_user, &site, &list);
        async move {
            browser.goto(&site.url("/mailboxes/new")).await?;
            browser.fill("#address", &user.address).await?;
            browser.fill("#host", "127.0.0.1").await?;
            browser.select("#security", "tls").await?;
            browser
                .fill("#port", &site.env.imaps_port.to_string())
                .await?;
            browser.fill("#username", &user.name).await?;
            browser.fill("#password", &user.password).await?;
            browser.select("#list", &list.id.0.to_string()).await?;
            if let Some(ca) = ca {
                browser.click("#ca-details summary").await?;
                browser.fill("#ca_pem", &ca).await?;
            }
            browser.click("#link-imap").await
        }
    };

    fill_form(None).await?;
    let untrusted = browser
        .wait_text("#ca_pem-error", "not trusted", Duration::from_secs(30))
        .await?;
    ensure!(
        untrusted.contains("127.0.0.1") && untrusted.contains("certificate authority"),
        "the CA field's error: {untrusted}"
    );
    let kept: String = browser
        .eval("return document.querySelector('#port').value + ' ' + document.querySelector('#username').value;")
        .await?;
    ensure!(
        kept == format!("{} {}", site.env.imaps_port, mail_user.name),
        "the form was not kept: {kept:?}"
    );
    let open: bool = browser
        .eval("return document.querySelector('#ca-details').open;")
        .await?;
    ensure!(open, "the CA field is hidden while it carries the error");

    fill_form(Some("my company's CA, I think".to_owned())).await?;
    let refused = browser
        .wait_text(
            "#ca_pem-error",
            "no PEM certificate",
            Duration::from_secs(30),
        )
        .await?;
    ensure!(
        !refused.contains("I think"),
        "the pasted text is repeated: {refused}"
    );
    let stored = site
        .store
        .list_mailboxes(&MailboxFilter {
            owner: Some(owner.id),
            kind: None,
        })
        .await?;
    ensure!(
        stored.is_empty(),
        "a mailbox was stored without a trusted CA"
    );

    fill_form(Some(ca_pem.clone())).await?;
    let path = browser
        .wait_path(
            |p| p.starts_with("/mailboxes/") && p[11..].bytes().all(|b| b.is_ascii_digit()),
            Duration::from_secs(30),
        )
        .await
        .with_context(|| "linking with the CA did not open the mailbox's page")?;
    let id: i64 = path
        .strip_prefix("/mailboxes/")
        .and_then(|id| id.parse().ok())
        .context("mailbox id")?;
    ensure!(
        browser
            .text("main")
            .await?
            .contains("Trusted certificate authority"),
        "the mailbox's page does not say it has its own CA"
    );
    let mailbox = site.store.get_mailbox(MailboxId(id)).await?;
    let settings = mailsig_daemon::sources::imap::ImapSettings::from_json(&mailbox.settings)?;
    ensure!(
        settings.ca_pem.as_deref().map(str::trim) == Some(ca_pem.trim()),
        "the CA is not stored with the mailbox: {:?}",
        settings.ca_pem
    );
    // The watcher connects from the stored settings (as on every reconnect): only the stored CA
    // makes the test server's certificate acceptable.
    wait_for_cursor(&site, mailbox.id).await?;

    browser.close().await?;
    site.stop().await
}

/// `[imap] ca_file`: the operator's CA, read from the configuration, is trusted (with the public
/// roots) by a mailbox linked without a CA of its own, on the login test through the service
/// and by its watcher; without it the same link is refused as untrusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_imap_ca_file_is_trusted_by_linking_and_the_watcher() -> Result<()> {
    use mailsig_daemon::service::{Actor, ServiceError, mailboxes};
    let env = mailsig_tests::servers::TestEnv::from_env()?;
    let config = mailsig_daemon::config::Config::from_toml(
        &format!("[imap]\nca_file = {:?}\n", env.ca.display().to_string()),
        std::path::Path::new("/etc/mailsig/mailsig.toml"),
        Vec::<(String, String)>::new(),
    )?;
    let options = config.imap_options();
    ensure!(
        !options.operator_roots.is_empty(),
        "no CA read from the file"
    );
    let site = Site::start_with_imap(options).await?;
    let owner = site.user(EMAIL, PASSWORD).await?;
    let list = site.store.create_list(owner.id, "Customers").await?;
    let mail_user = site.env.create_mail_user()?;
    let form = || mailboxes::LinkImap {
        list: Some(list.id.0),
        host: Some("127.0.0.1".to_owned()),
        port: Some(i64::from(site.env.imaps_port)),
        security: Some("tls".to_owned()),
        username: Some(mail_user.name.clone()),
        password: Some(secrecy::SecretString::from(mail_user.password.clone())),
        address: Some(mail_user.address.clone()),
        ..mailboxes::LinkImap::default()
    };
    let actor = Actor::signed_in(owner.id);
    // Control: the same link without the operator's CA is untrusted.
    let without = mailsig_daemon::sources::imap::ImapOptions {
        allow_private_hosts: true,
        ..Default::default()
    };
    let refused = mailboxes::link_imap(&site.store, &site.vault, &without, actor, form()).await;
    ensure!(
        matches!(
            refused,
            Err(ServiceError::LinkFailed {
                tls_untrusted: true,
                ..
            })
        ),
        "linked without a trusted CA: {refused:?}"
    );
    // What the running daemon's watchers (and pages) were given.
    let running = site.supervisor.imap().context("no IMAP source")?.options();
    let linked = mailboxes::link_imap(&site.store, &site.vault, &running, actor, form()).await?;
    let stored = mailsig_daemon::sources::imap::ImapSettings::from_json(&linked.settings)?;
    ensure!(stored.ca_pem.is_none(), "a CA was stored with the mailbox");
    wait_for_cursor(&site, linked.id).await?;
    site.stop().await
}

/// A server that hangs: one that accepts and never answers, one that completes TLS and never
/// greets, and the real Dovecot's TLS-only port asked for STARTTLS (both sides wait). Each
/// fails within `[imap] connect_timeout` (2 s here) as an error in words on the port field,
/// with the form kept and nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_server_fails_on_the_port_field_with_the_form_kept() -> Result<()> {
    use mailsig_daemon::sources::imap::ImapOptions;
    use mailsig_daemon::sources::imap::trust::{OperatorRoots, parse_ca_pem};
    use mailsig_tests::silent_server::{Silence, SilentServer};
    let env = mailsig_tests::servers::TestEnv::from_env()?;
    let roots = OperatorRoots::new(parse_ca_pem(&std::fs::read(&env.ca)?)?);
    let site = Site::start_with_imap(ImapOptions {
        connect_timeout: Duration::from_secs(2),
        operator_roots: roots,
        ..ImapOptions::default()
    })
    .await?;
    let owner = site.user(EMAIL, PASSWORD).await?;
    let list = site.store.create_list(owner.id, "Customers").await?;
    let dir = tempfile::tempdir()?;
    let cert = mailsig_tests::https::issue_certificate(&site.env, dir.path(), "silent")?;
    let mute = SilentServer::start(Silence::Tcp).await?;
    let mute_after_tls = SilentServer::start(Silence::AfterTls {
        chain: cert.chain.clone(),
        key: cert.key.clone(),
    })
    .await?;
    let browser = Browser::start().await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;

    let cases = [
        ("tls", mute.port(), "accepts and never answers"),
        ("tls", mute_after_tls.port(), "greets never after TLS"),
        (
            "starttls",
            site.env.imaps_port,
            "TLS-only port asked for STARTTLS",
        ),
    ];
    for (security, port, case) in cases {
        browser.goto(&site.url("/mailboxes/new")).await?;
        browser.fill("#address", "ada@hanging.example").await?;
        browser.fill("#host", "127.0.0.1").await?;
        browser.select("#security", security).await?;
        browser.fill("#port", &port.to_string()).await?;
        browser.fill("#username", "ada").await?;
        browser.fill("#password", "app password").await?;
        browser.fill("#folders", "Archive").await?;
        browser.select("#list", &list.id.0.to_string()).await?;
        browser.click("#link-imap").await?;
        let error = browser
            .wait_text(
                "#port-error",
                "No answer from 127.0.0.1",
                Duration::from_secs(30),
            )
            .await
            .with_context(|| format!("{case}: no error on the port field"))?;
        ensure!(
            error.contains(&format!("port {port}")) && error.contains("security choice"),
            "{case}: {error}"
        );
        ensure!(
            browser
                .text("#link-error")
                .await?
                .contains("Nothing was linked"),
            "{case}: the form does not say that nothing was linked"
        );
        let kept: String = browser
            .eval(
                "return [document.querySelector('#port').value, document.querySelector('#security').value, \
                 document.querySelector('#username').value, document.querySelector('#folders').value].join(' ');",
            )
            .await?;
        ensure!(
            kept == format!("{port} {security} ada Archive"),
            "{case}: the form was not kept: {kept:?}"
        );
    }
    ensure!(
        mute.accepted() >= 1 && mute_after_tls.handshakes() >= 1,
        "the silent servers were not reached: {} connections, {} TLS handshakes",
        mute.accepted(),
        mute_after_tls.handshakes()
    );
    let stored = site
        .store
        .list_mailboxes(&MailboxFilter {
            owner: Some(owner.id),
            kind: None,
        })
        .await?;
    ensure!(stored.is_empty(), "a hanging server's mailbox was stored");
    browser.close().await?;
    site.stop().await
}

/// The rest of linking and the pages around it, as a person meets them: a provider's settings
/// filled in from an address and from a preset; STARTTLS left on port 993 goes to 143; the
/// optional recent-mail scan reads mail that was there before linking; the mailbox's page in
/// words, keeping refused input and confirming a save; a duplicate list name refused beside
/// the field and a rename confirmed; unlinking only with its confirmation box.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presets_port_recent_mail_and_the_mailbox_and_list_pages_speak_in_words() -> Result<()> {
    let site = Site::start(true).await?;
    let owner = site.user(EMAIL, PASSWORD).await?;
    let list = site.store.create_list(owner.id, "Customers").await?;
    let mail_user = site.env.create_mail_user()?;
    // Mail already in the mailbox before it is linked.
    let raw = signed_mail(
        "Grace Hopper",
        "grace",
        "partner.example",
        &unique_id("web-backfill"),
    );
    site.env.imap().append(&mail_user, "INBOX", &raw).await?;
    let browser = Browser::start().await?;
    site.sign_in(&browser, EMAIL, PASSWORD).await?;
    let value = |selector: &'static str| {
        let browser = &browser;
        async move {
            browser
                .eval::<String>(&format!(
                    "return document.querySelector('{selector}').value;"
                ))
                .await
        }
    };

    // A guess from the address, and a preset.
    browser
        .goto(&site.url("/mailboxes/new?address=someone%40gmail.com"))
        .await?;
    ensure!(
        value("#host").await? == "imap.gmail.com"
            && value("#port").await? == "993"
            && value("#security").await? == "tls"
            && value("#username").await? == "someone@gmail.com",
        "Gmail's settings were not filled in"
    );
    ensure!(
        browser.text("#advice").await?.contains("app password"),
        "no advice for Gmail"
    );
    browser.click("#preset-fastmail").await?;
    browser
        .wait_path(|p| p == "/mailboxes/new", Duration::from_secs(10))
        .await?;
    ensure!(
        value("#host").await? == "imap.fastmail.com",
        "the Fastmail preset: {}",
        value("#host").await?
    );

    // STARTTLS with the TLS port left in: it is tried on 143 and the form says so.
    browser.fill("#address", &mail_user.address).await?;
    browser.fill("#host", "127.0.0.1").await?;
    browser.select("#security", "starttls").await?;
    browser.fill("#port", "993").await?;
    browser.fill("#username", &mail_user.name).await?;
    browser.fill("#password", "irrelevant").await?;
    browser.select("#list", &list.id.0.to_string()).await?;
    browser.click("#link-imap").await?;
    let error = browser
        .wait_text("#port-error", "port 143", Duration::from_secs(30))
        .await?;
    ensure!(
        value("#port").await? == "143",
        "the port did not follow STARTTLS: {error}"
    );

    // Linked with a scan of the latest 50 messages.
    browser.goto(&site.url("/mailboxes/new")).await?;
    browser.fill("#address", &mail_user.address).await?;
    browser.fill("#host", "127.0.0.1").await?;
    browser.select("#security", "plaintext").await?;
    browser
        .fill("#port", &site.env.imap_port.to_string())
        .await?;
    browser.fill("#username", &mail_user.name).await?;
    browser.fill("#password", &mail_user.password).await?;
    browser.select("#backfill", "50").await?;
    browser.select("#list", &list.id.0.to_string()).await?;
    browser.click("#link-imap").await?;
    let path = browser
        .wait_path(
            |p| p.starts_with("/mailboxes/") && p[11..].bytes().all(|b| b.is_ascii_digit()),
            Duration::from_secs(30),
        )
        .await?;
    let settings = browser.text("#settings").await?;
    for words in [
        "None (a server on this machine only)",
        "the latest 50 messages",
        "INBOX",
    ] {
        ensure!(settings.contains(words), "{words:?} not in {settings}");
    }
    let page = browser.text("main").await?;
    ensure!(
        !page.contains("backfill") && !page.contains("[\"") && !page.contains("skipped:"),
        "machine keys on the mailbox page: {page}"
    );
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
            "the mail from before linking was not read within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Exclusions: refused input stays in the box with the reason; a correct list is saved.
    browser.fill("#exclusions", "not a domain").await?;
    browser.click("#save-exclusions").await?;
    browser
        .wait_text("#exclusions-error", "Not saved", Duration::from_secs(10))
        .await?;
    ensure!(
        value("#exclusions").await? == "not a domain",
        "the refused input was lost"
    );
    browser.fill("#exclusions", "newsletter.example").await?;
    browser.click("#save-exclusions").await?;
    browser
        .wait_text("#notice", "Saved", Duration::from_secs(10))
        .await?;

    // Lists: a second "customers" is refused beside the field, a rename is confirmed.
    browser.goto(&site.url("/dashboard")).await?;
    browser.fill("#new-list", "customers ").await?;
    browser.click("#create-list").await?;
    browser
        .wait_text(
            "#new-list-error",
            "name of another of your lists",
            Duration::from_secs(10),
        )
        .await?;
    ensure!(
        site.store.lists_for_user(owner.id).await?.len() == 1,
        "a duplicate list was created"
    );
    browser
        .click(&format!("#list-{} summary", list.id.0))
        .await?;
    browser
        .fill(&format!("#rename-{}", list.id.0), "Key accounts")
        .await?;
    browser
        .click(&format!("#rename-{}-save", list.id.0))
        .await?;
    browser
        .wait_text("#notice", "Key accounts", Duration::from_secs(10))
        .await?;

    // Unlinking: the button alone does nothing (the box is required); with it, unlinked.
    browser.goto(&site.url(&path)).await?;
    browser.click("#unlink").await?;
    ensure!(
        browser.current_path().await? == path,
        "unlinked without the confirmation box"
    );
    // A post without the box (the browser's check taken away) is refused by the server too.
    let _: bool = browser
        .eval("document.querySelector('#unlink-confirm').required = false; return true;")
        .await?;
    browser.click("#unlink").await?;
    browser
        .wait_text("main", "tick the box to confirm", Duration::from_secs(10))
        .await?;
    ensure!(
        site.store
            .list_mailboxes(&MailboxFilter {
                owner: Some(owner.id),
                kind: None,
            })
            .await?
            .len()
            == 1,
        "a post without the confirmation box unlinked the mailbox"
    );
    browser.goto(&site.url(&path)).await?;
    browser.click("#unlink-confirm").await?;
    browser.click("#unlink").await?;
    browser
        .wait_text("#notice", "Unlinked", Duration::from_secs(10))
        .await?;
    ensure!(
        site.store
            .list_mailboxes(&MailboxFilter {
                owner: Some(owner.id),
                kind: None,
            })
            .await?
            .is_empty(),
        "the mailbox is still linked"
    );
    browser.close().await?;
    site.stop().await
}
