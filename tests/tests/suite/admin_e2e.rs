//! The organisation's roll-out in one run, as an IT admin and the people of the company live it,
//! in headless Chromium against a real daemon over HTTPS, the real OpenID provider of the test
//! servers, the real Postfix and the real Dovecot:
//!
//! 1. the admin signs in through the provider (its `admins` group makes an org admin);
//! 2. invites a person on the users page; the notifier sends the invitation through Postfix
//!    into the person's Dovecot INBOX;
//! 3. the person follows the mail's link, signs in through the provider too, makes a list and
//!    links that IMAP mailbox on the page; its watcher connects to Dovecot;
//! 4. the admin blocks a sender domain and a sender address on the blocklist page: the next
//!    message from each is skipped and counted on the mailbox under its own reason
//!    (`excluded_domain`, `blocked_address`), while another sender becomes a suggestion;
//! 5. the admin offboards the person on the page: the watcher's Dovecot connection is gone
//!    within 5 s (`doveadm who`) and the person's secrets are wiped;
//! 6. a password user turns two-step verification on and signs in with a code, then with a
//!    recovery code;
//! 7. the admin exports the audit log on the audit page; the CSV lists each of these actions
//!    with its actor and object.
//!
//! Every wait is for an event (a page, a row, a counter, a connection), bounded.

use crate::pipeline_support::{signed_mail, unique_id};
use crate::second_factor;
use crate::web_support::{Site, dovecot_connections, wait_until};

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use mailsig_daemon::domain::{AuditAction, OrgRole, SkipReason};
use mailsig_daemon::http::app::ApiSettings;
use mailsig_daemon::http::auth::oidc::Identity;
use mailsig_daemon::store::{MailboxFilter, MailboxId, SuggestionFilter};
use mailsig_tests::browser::Browser;
use mailsig_tests::oidc::OidcProvider;
use mailsig_tests::servers::TestEnv;

const WAIT: Duration = Duration::from_secs(30);

/// The invitation link in a delivered mail's text, on `site`.
fn invitation_link(raw: &[u8], site: &Site) -> Result<String> {
    let message = mail_parser::MessageParser::default()
        .parse(raw)
        .context("the invitation mail parses")?;
    ensure!(
        message.subject() == Some("You are invited to mailsig"),
        "subject {:?}",
        message.subject()
    );
    let text = message.body_text(0).context("a text part")?.into_owned();
    let prefix = site.url("/invitation?token=");
    let start = text
        .find(&prefix)
        .context("no invitation link in the mail")?;
    let token: String = text[start + prefix.len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    ensure!(token.len() == 64, "token {token:?}");
    Ok(format!("{prefix}{token}"))
}

/// The records of an RFC 4180 text (quoted cells, `""` inside quotes, CRLF line ends).
fn parse_csv(text: &str) -> Result<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    ensure!(!quoted, "the CSV ends inside a quoted cell");
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    Ok(rows)
}

/// One audit row as the export names it.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    actor: String,
    action: String,
    object_kind: String,
    object_id: String,
    detail: String,
}

/// The export's rows, checked against its header.
fn audit_rows(csv: &str) -> Result<Vec<Row>> {
    let mut rows = parse_csv(csv)?.into_iter();
    let header = rows.next().context("an empty export")?;
    ensure!(
        header
            == [
                "id",
                "at",
                "actor_id",
                "actor",
                "action",
                "object_kind",
                "object_id",
                "detail"
            ],
        "header {header:?}"
    );
    rows.map(|r| {
        ensure!(r.len() == 8, "a row of {} cells: {r:?}", r.len());
        let mut r = r.into_iter().skip(3);
        let mut next = || r.next().unwrap_or_default();
        Ok(Row {
            actor: next(),
            action: next(),
            object_kind: next(),
            object_id: next(),
            detail: next(),
        })
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_rolls_out_through_the_provider_blocks_offboards_and_audits_it_all_in_chromium()
-> Result<()> {
    // The daemon signs in through the shared provider of the test servers only.
    let provider = OidcProvider::from_env()?;
    let port = mailsig_tests::servers::free_port()?;
    let identity = Identity::new(
        true,
        vec![crate::oidc::corp(
            &provider.issuer,
            &["email", "profile", "groups"],
        )],
        &format!("https://localhost:{port}"),
    )?;
    let site = Site::start_on(
        port,
        true,
        ApiSettings {
            identity,
            ..ApiSettings::default()
        },
    )
    .await?;

    // 1. The admin signs in through the provider; the `admins` group makes an org admin.
    let admin_login = format!("{}+admins", crate::oidc::unique("ida"));
    let admin_email = format!("{admin_login}@example.test");
    let admin_browser = Browser::start().await?;
    crate::oidc::sign_in_with_corp(&site, &admin_browser, &admin_login).await?;
    admin_browser
        .wait_path(|p| p == "/dashboard", WAIT)
        .await
        .context("the admin's sign-in did not open the dashboard")?;
    let admin = site.store.user_by_email(&admin_email).await?;
    ensure!(
        site.store.org_role(admin.id).await? == OrgRole::Admin,
        "the provider's admins group did not make an org admin"
    );

    // 2. The admin invites a person on the users page; the notifier sends the link by mail
    //    through the real Postfix into the person's real Dovecot INBOX.
    let invitee = site.env.create_mail_user()?;
    let sender = site.env.create_mail_user()?;
    // The main navigation's "Admin" link leads there.
    admin_browser.click("#nav-admin").await?;
    admin_browser.wait_path(|p| p == "/admin", WAIT).await?;
    admin_browser.click("#section-users a").await?;
    admin_browser
        .wait_path(|p| p == "/admin/users", WAIT)
        .await?;
    admin_browser
        .fill("#invite-email", &invitee.address)
        .await?;
    admin_browser.fill("#invite-name", "Ivo").await?;
    admin_browser.click("#invite").await?;
    admin_browser
        .wait_text("#notice", "is invited", WAIT)
        .await?;
    let ivo = site.store.user_by_email(&invitee.address).await?;
    let report = crate::admin::notifier_for(&site.store, &sender, &site.url("/"))?
        .run_once()
        .await?;
    ensure!(report.sent == 1, "the notifier sent {report:?}");
    let delivered = site
        .env
        .imap()
        .wait_for_messages(&invitee, "INBOX", 1, WAIT)
        .await?;
    let link = invitation_link(&delivered[0].raw, &site)?;

    // 3. The person follows the link and signs in through the provider (which vouches for the
    //    invited address), makes a list and links the mailbox on the page.
    let user_browser = Browser::start().await?;
    user_browser.goto(&link).await?;
    user_browser.click("#oidc-corp").await?;
    crate::oidc::at_provider(&site, &user_browser, &invitee.name).await?;
    user_browser
        .wait_path(|p| p == "/dashboard", WAIT)
        .await
        .context("the invitee's sign-in did not open the dashboard")?;
    ensure!(
        site.store.oidc_identities_of(ivo.id).await?
            == vec![("corp".to_owned(), invitee.name.clone())],
        "the provider account was not linked to the invited account"
    );
    user_browser.fill("#new-list", "Ivo's leads").await?;
    user_browser.click("#create-list").await?;
    user_browser.wait_text("main", "Ivo's leads", WAIT).await?;
    let list = site
        .store
        .lists_for_user(ivo.id)
        .await?
        .into_iter()
        .map(|access| access.list)
        .find(|l| l.name == "Ivo's leads")
        .context("the list was not made")?;
    user_browser.goto(&site.url("/mailboxes/new")).await?;
    user_browser.fill("#address", &invitee.address).await?;
    user_browser.fill("#host", "127.0.0.1").await?;
    user_browser
        .fill("#port", &site.env.imap_port.to_string())
        .await?;
    user_browser.select("#security", "plaintext").await?;
    user_browser.fill("#username", &invitee.name).await?;
    user_browser.fill("#password", &invitee.password).await?;
    user_browser.fill("#folders", "INBOX").await?;
    user_browser.select("#list", &list.id.0.to_string()).await?;
    user_browser.click("#link-imap").await?;
    let path = user_browser
        .wait_path(
            |p| p.starts_with("/mailboxes/") && p[11..].bytes().all(|b| b.is_ascii_digit()),
            WAIT,
        )
        .await
        .context("linking the mailbox did not open its page")?;
    let mailbox = MailboxId(path[11..].parse()?);
    let stored = site.store.get_mailbox(mailbox).await?;
    ensure!(stored.owner == ivo.id && stored.target_list == list.id);
    let mailbox_secret = stored.secret.context("no sealed mailbox password")?;
    let env = TestEnv::from_env()?;
    wait_until(
        Duration::from_secs(60),
        "the watcher never connected to Dovecot",
        async || Ok(dovecot_connections(&env, &invitee)? > 0),
    )
    .await?;
    wait_until(
        Duration::from_secs(60),
        "the watcher did not start on INBOX",
        async || Ok(site.store.get_cursor(mailbox, "INBOX").await?.is_some()),
    )
    .await?;

    // 4. The admin blocks a domain and an address on the page: the next message from each is
    //    skipped and counted on the mailbox under its own reason, another sender's becomes a
    //    suggestion.
    admin_browser.goto(&site.url("/admin/blocklist")).await?;
    for value in ["blocked.example", "Dora@Allowed.example"] {
        admin_browser.fill("#blocklist-value", value).await?;
        admin_browser.click("#add-blocklist").await?;
        admin_browser
            .wait_text("#blocklist", &value.to_lowercase(), WAIT)
            .await
            .with_context(|| format!("{value} was not added"))?;
    }
    let skipped = async |reason: SkipReason| -> Result<i64> {
        Ok(site
            .store
            .mailbox_stats(mailbox)
            .await?
            .skipped
            .get(reason.as_str())
            .copied()
            .unwrap_or(0))
    };
    let domain_before = skipped(SkipReason::ExcludedDomain).await?;
    let address_before = skipped(SkipReason::BlockedAddress).await?;
    for (name, local, domain, tag) in [
        ("Bert Brandt", "bert", "blocked.example", "e2e-blocked"),
        (
            "Dora Dahl",
            "dora",
            "allowed.example",
            "e2e-blocked-address",
        ),
        ("Carl Dorn", "carl", "allowed.example", "e2e-allowed"),
    ] {
        site.env
            .imap()
            .append(
                &invitee,
                "INBOX",
                &signed_mail(name, local, domain, &unique_id(tag)),
            )
            .await?;
    }
    wait_until(
        Duration::from_secs(90),
        "the other sender's message did not become a suggestion",
        async || {
            Ok(site
                .store
                .list_suggestions(list.id, &SuggestionFilter::default())
                .await?
                .iter()
                .any(|s| s.sender_email == "carl@allowed.example"))
        },
    )
    .await?;
    // Appended in order, so both blocked messages were read before the allowed one.
    ensure!(
        skipped(SkipReason::ExcludedDomain).await? == domain_before + 1,
        "the blocked domain's message was not counted once as excluded_domain"
    );
    ensure!(
        skipped(SkipReason::BlockedAddress).await? == address_before + 1,
        "the blocked address's message was not counted once as blocked_address"
    );
    let suggested = site
        .store
        .list_suggestions(list.id, &SuggestionFilter::default())
        .await?;
    ensure!(
        !suggested
            .iter()
            .any(|s| s.sender_email == "bert@blocked.example"
                || s.sender_email == "dora@allowed.example"),
        "a blocked sender became a suggestion"
    );

    // 5. The admin offboards the person on the page, handing the list to themself: the
    //    watcher's connection is gone within 5 s and the secrets are wiped.
    admin_browser.goto(&site.url("/admin/users")).await?;
    admin_browser
        .click(&format!("#offboard-{}", ivo.id.0))
        .await?;
    admin_browser
        .wait_path(|p| p.ends_with("/offboard"), WAIT)
        .await?;
    admin_browser
        .select("#new-owner", &admin.id.0.to_string())
        .await?;
    admin_browser.click("#confirm-offboard").await?;
    admin_browser
        .wait_text("#notice", "is offboarded", WAIT)
        .await?;
    let took = wait_until(
        Duration::from_secs(5),
        "the watcher's connection to Dovecot is still open 5 s after offboarding",
        async || Ok(dovecot_connections(&env, &invitee)? == 0),
    )
    .await?;
    println!("the watcher's Dovecot connection was gone {took:?} after the offboarding answer");
    ensure!(
        site.store.get_secret(mailbox_secret).await.is_err(),
        "the sealed mailbox password is still in the vault"
    );
    ensure!(
        site.store.oidc_identities_of(ivo.id).await?.is_empty(),
        "the provider link is still stored"
    );
    ensure!(
        site.store.sessions_of(ivo.id).await?.is_empty(),
        "the person's sessions are still stored"
    );
    ensure!(
        site.store
            .list_mailboxes(&MailboxFilter {
                owner: Some(ivo.id),
                kind: None,
            })
            .await?
            .is_empty(),
        "the person's mailbox is still linked"
    );
    ensure!(
        site.store.get_list(list.id).await?.owner == admin.id,
        "the list was not handed to the admin"
    );
    // The person's old session no longer opens a page.
    user_browser.goto(&site.url("/dashboard")).await?;
    ensure!(
        user_browser.current_path().await? == "/sign-in",
        "the offboarded person's session still works"
    );

    // 6. A password user turns two-step verification on, then signs in with a code and with a
    //    recovery code.
    const TESS: &str = "tess@example.test";
    const TESS_PASSWORD: &str = "tess password 1";
    let tess = site.user(TESS, TESS_PASSWORD).await?;
    user_browser.forget_cookies().await?;
    site.sign_in(&user_browser, TESS, TESS_PASSWORD).await?;
    let (app, recovery) = second_factor::enrol(&site, &user_browser).await?;
    second_factor::sign_out(&site, &user_browser).await?;
    second_factor::password_step(&site, &user_browser, TESS, TESS_PASSWORD).await?;
    ensure!(
        second_factor::enter_code(&user_browser, &app.code(1)).await? == "/dashboard",
        "the app's code did not sign in"
    );
    second_factor::sign_out(&site, &user_browser).await?;
    second_factor::password_step(&site, &user_browser, TESS, TESS_PASSWORD).await?;
    ensure!(
        second_factor::enter_code(&user_browser, &recovery[0]).await? == "/dashboard",
        "the recovery code did not sign in"
    );

    // 7. The admin exports the audit log on its page: the CSV the link gives lists every one
    //    of these actions with its actor and object.
    admin_browser.goto(&site.url("/admin/audit")).await?;
    // The link is a download (`Content-Disposition: attachment`), which headless Chromium
    // does not show: it is fetched with the admin's browser session, as the browser would.
    let href: String = admin_browser
        .eval("return document.querySelector('#audit-export').href;")
        .await?;
    let ca = std::fs::read(site.env.ca_path())?;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .build()?;
    let reply = client
        .get(&href)
        .header("cookie", admin_browser.cookie_header().await?)
        .send()
        .await?;
    ensure!(reply.status() == 200, "export: {}", reply.status());
    ensure!(
        reply
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/csv")),
        "the export is not CSV: {:?}",
        reply.headers().get("content-type")
    );
    let csv = reply.text().await?;
    let rows = audit_rows(&csv).with_context(|| format!("the export: {csv}"))?;
    let find = |actor: &str, action: AuditAction, kind: &str, id: Option<i64>| -> Result<&Row> {
        let id = id.map(|i| i.to_string()).unwrap_or_default();
        rows.iter()
            .find(|r| {
                r.actor == actor
                    && r.action == action.as_str()
                    && r.object_kind == kind
                    && (id.is_empty() || r.object_id == id)
            })
            .with_context(|| format!("no row {actor} {action} {kind} {id} in {rows:#?}"))
    };
    let blocklist_entry = site
        .store
        .audit_log(500)
        .await?
        .into_iter()
        .find(|e| {
            e.action == AuditAction::BlocklistAdd
                && e.detail.as_deref() == Some("domain blocked.example")
        })
        .and_then(|e| e.object_id);
    let expected = [
        // The admin: signed in through the provider, invited, blocked, offboarded.
        (
            &admin_email,
            AuditAction::UserLinkIdentity,
            "user",
            Some(admin.id.0),
        ),
        (
            &admin_email,
            AuditAction::SessionSignIn,
            "user",
            Some(admin.id.0),
        ),
        (
            &admin_email,
            AuditAction::UserInvite,
            "user",
            Some(ivo.id.0),
        ),
        (
            &admin_email,
            AuditAction::BlocklistAdd,
            "blocklist",
            blocklist_entry,
        ),
        (
            &admin_email,
            AuditAction::UserOffboard,
            "user",
            Some(ivo.id.0),
        ),
        // The invitee: signed in through the provider, made a list, linked the mailbox.
        (
            &invitee.address,
            AuditAction::UserLinkIdentity,
            "user",
            Some(ivo.id.0),
        ),
        (
            &invitee.address,
            AuditAction::SessionSignIn,
            "user",
            Some(ivo.id.0),
        ),
        (
            &invitee.address,
            AuditAction::ListCreate,
            "list",
            Some(list.id.0),
        ),
        (
            &invitee.address,
            AuditAction::MailboxAdd,
            "mailbox",
            Some(mailbox.0),
        ),
        // The password user: two-step verification on, a code, a recovery code.
        (
            &TESS.to_owned(),
            AuditAction::SecondFactorEnable,
            "user",
            Some(tess.id.0),
        ),
        (
            &TESS.to_owned(),
            AuditAction::SessionSignIn,
            "user",
            Some(tess.id.0),
        ),
        (
            &TESS.to_owned(),
            AuditAction::SessionRecoveryCodeUsed,
            "user",
            Some(tess.id.0),
        ),
    ];
    for (actor, action, kind, id) in expected {
        find(actor, action, kind, id)?;
    }
    ensure!(
        find(
            &admin_email,
            AuditAction::BlocklistAdd,
            "blocklist",
            blocklist_entry
        )?
        .detail
            == "domain blocked.example",
        "the blocklist row does not name the domain"
    );
    ensure!(
        rows.iter().any(|r| r.actor == admin_email
            && r.action == AuditAction::BlocklistAdd.as_str()
            && r.detail == "address"),
        "no row for the blocked address"
    );
    ensure!(
        !csv.to_lowercase().contains("dora@"),
        "the blocked address reached the audit log"
    );
    // Nobody else did any of these: no row of the admin's actions names another actor.
    for r in &rows {
        let admins_only = [
            AuditAction::UserInvite,
            AuditAction::BlocklistAdd,
            AuditAction::UserOffboard,
        ]
        .iter()
        .any(|a| r.action == a.as_str());
        if admins_only && r.actor != admin_email {
            bail!("an admin action under another actor: {r:?}");
        }
    }
    // The export itself is audited, as the admin's.
    ensure!(
        site.store
            .audit_log(5)
            .await?
            .iter()
            .any(|e| e.action == AuditAction::AuditExport && e.actor == Some(admin.id)),
        "the export was not audited"
    );

    admin_browser.close().await?;
    user_browser.close().await?;
    site.stop().await
}

/// The main navigation links to `/admin` for an org admin only: a plain user's pages have no such
/// link, and it comes and goes with the role on the next page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_navigation_links_to_the_admin_pages_for_org_admins_only_in_chromium() -> Result<()>
{
    let site = Site::start(false).await?;
    let admin = site.user("ada@mycorp.example", "ada password 12").await?;
    site.store.set_org_role(admin.id, OrgRole::Admin).await?;
    let plain = site.user("pia@mycorp.example", "pia password 12").await?;
    let browser = Browser::start().await?;

    site.sign_in(&browser, "pia@mycorp.example", "pia password 12")
        .await?;
    for path in ["/dashboard", "/mailboxes/new", "/account/security"] {
        browser.goto(&site.url(path)).await?;
        ensure!(
            browser.exists("nav[aria-label=Main]").await?,
            "{path} has no main navigation"
        );
        ensure!(
            !browser.exists("#nav-admin").await?,
            "a plain user sees the Admin link on {path}"
        );
    }
    // Made an admin: the next page has the link.
    site.store.set_org_role(plain.id, OrgRole::Admin).await?;
    browser.goto(&site.url("/dashboard")).await?;
    ensure!(
        browser.exists("#nav-admin").await?,
        "the new admin sees no link"
    );
    browser.forget_cookies().await?;

    site.sign_in(&browser, "ada@mycorp.example", "ada password 12")
        .await?;
    for path in [
        "/dashboard",
        "/mailboxes/new",
        "/account/security",
        "/admin/users",
    ] {
        browser.goto(&site.url(path)).await?;
        ensure!(
            browser.text("#nav-admin").await? == "Admin",
            "the admin sees no Admin link on {path}"
        );
    }
    browser.click("#nav-admin").await?;
    browser.wait_path(|p| p == "/admin", WAIT).await?;
    ensure!(
        browser
            .eval::<Option<String>>(
                "return document.querySelector('#nav-admin').getAttribute('aria-current');"
            )
            .await?
            .as_deref()
            == Some("page"),
        "the Admin link is not marked as the current page on /admin"
    );
    // The role taken away: the link goes with it.
    site.store.set_org_role(admin.id, OrgRole::User).await?;
    browser.goto(&site.url("/dashboard")).await?;
    ensure!(
        !browser.exists("#nav-admin").await?,
        "the link stayed after the role went"
    );
    browser.close().await?;
    site.stop().await
}
