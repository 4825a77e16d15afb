//! The accessibility audit: axe-core (pinned in `tests/a11y/package-lock.json`, installed by
//! `scripts/test-tools.sh`) run in the system Chromium over every page, signed out and signed
//! in, at a desktop's 1280 x 900 and a phone's 390 x 844. Any violation of any impact fails
//! the test, listed with its rule, the elements and axe-core's summary.
//!
//! [`PAGES`] is the one table of audited pages: a page added to the site gets a row there (a
//! path, or steps for a page that only a form leads to), and [`Fixture`] gets whatever the
//! page needs to exist.

use crate::web_support;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use mailsig_daemon::http::auth::second_factor;
use mailsig_daemon::store::{Role, SuggestionFields, UserId};
use mailsig_tests::browser::{Browser, Screen};
use web_support::{Site, field, full_signature, wait_exists};

const EMAIL: &str = "rita@mycorp.example";
const PASSWORD: &str = "owner password 1";
/// A second user whose account has two-step verification on (for the sign-in's second step).
const TWO_STEP_EMAIL: &str = "vic@mycorp.example";
const TWO_STEP_PASSWORD: &str = "vic password 1";
/// The link token of an open invitation in the fixture.
const INVITATION_TOKEN: &str = "a11y0invitation0token";
const WAIT: Duration = Duration::from_secs(30);

/// Who the browser is when a page is audited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// No session cookie.
    SignedOut,
    /// Signed in as the owner of the fixture's lists ([`EMAIL`]).
    Owner,
}

type Steps = for<'a> fn(&'a Browser, &'a Fixture) -> Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

/// How the audited page is reached.
pub enum Open {
    /// A GET of this path (built from the fixture's ids).
    Path(fn(&Fixture) -> String),
    /// Steps in the browser (a form's answer, a page behind a button).
    Steps(Steps),
}

/// One row of the audit: a page by name, who sees it, how to get there.
pub struct Page {
    pub name: &'static str,
    pub who: Who,
    pub open: Open,
}

/// What the pages need to exist: lists with suggestions, a mailbox, a token, a shared list,
/// a user with two-step verification.
pub struct Fixture {
    pub site: Site,
    pub customers: i64,
    pub prospects: i64,
    pub mailbox: i64,
    /// A suggestion whose title changed in later mail (the merge view compares).
    pub rachel: i64,
    /// A mail user of the test Dovecot (the linking form's real login check).
    pub mail_user: mailsig_tests::servers::MailUser,
    /// Another account (the admin pages act on it).
    pub other: i64,
    /// A list connected to Outlook contacts of the owner's Microsoft 365 mailbox.
    pub partners: i64,
    /// A suggestion in `partners` whose book entry differs (the merge view's book column).
    pub nina: i64,
}

/// Every page of the site. Keep in step with the routes in `daemon/src/http/web/`.
pub const PAGES: &[Page] = &[
    // Signed out.
    Page {
        name: "sign-in",
        who: Who::SignedOut,
        open: Open::Path(|_| "/sign-in".to_owned()),
    },
    Page {
        name: "sign-in-refused",
        who: Who::SignedOut,
        open: Open::Steps(|b, f| Box::pin(sign_in_refused(b, f))),
    },
    Page {
        name: "sign-in-second-factor",
        who: Who::SignedOut,
        open: Open::Steps(|b, f| Box::pin(second_factor_step(b, f))),
    },
    Page {
        name: "not-found-signed-out",
        who: Who::SignedOut,
        open: Open::Path(|_| "/no/such/page".to_owned()),
    },
    // Signed in.
    Page {
        name: "dashboard",
        who: Who::Owner,
        open: Open::Path(|_| "/dashboard".to_owned()),
    },
    Page {
        name: "review",
        who: Who::Owner,
        open: Open::Path(|f| format!("/lists/{}/review", f.customers)),
    },
    Page {
        name: "review-all",
        who: Who::Owner,
        open: Open::Path(|f| format!("/lists/{}/review?status=all", f.customers)),
    },
    Page {
        name: "review-empty",
        who: Who::Owner,
        open: Open::Path(|f| format!("/lists/{}/review", f.prospects)),
    },
    Page {
        name: "review-confirmation",
        who: Who::Owner,
        open: Open::Steps(|b, f| Box::pin(accepted_with_undo(b, f))),
    },
    Page {
        name: "merge",
        who: Who::Owner,
        open: Open::Path(|f| format!("/suggestions/{}/merge", f.rachel)),
    },
    Page {
        name: "merge-refused",
        who: Who::Owner,
        open: Open::Steps(|b, f| Box::pin(merge_refused(b, f))),
    },
    Page {
        name: "erase-suggestion",
        who: Who::Owner,
        open: Open::Path(|f| format!("/suggestions/{}/erase?status=new", f.rachel)),
    },
    Page {
        name: "link-mailbox",
        who: Who::Owner,
        open: Open::Steps(|b, f| Box::pin(link_form_with_a_provider(b, f))),
    },
    Page {
        name: "link-mailbox-preset",
        who: Who::Owner,
        open: Open::Path(|_| "/mailboxes/new?address=someone%40gmail.com".to_owned()),
    },
    Page {
        name: "link-mailbox-refused",
        who: Who::Owner,
        open: Open::Steps(|b, f| Box::pin(link_refused(b, f))),
    },
    Page {
        name: "mailbox",
        who: Who::Owner,
        open: Open::Path(|f| format!("/mailboxes/{}", f.mailbox)),
    },
    Page {
        name: "mailbox-password",
        who: Who::Owner,
        open: Open::Path(|f| format!("/mailboxes/{}/password", f.mailbox)),
    },
    Page {
        name: "share",
        who: Who::Owner,
        open: Open::Path(|f| format!("/lists/{}/share", f.customers)),
    },
    Page {
        name: "address-book",
        who: Who::Owner,
        open: Open::Path(|f| format!("/lists/{}/book", f.customers)),
    },
    Page {
        name: "address-book-outlook",
        who: Who::Owner,
        open: Open::Path(|f| format!("/lists/{}/book", f.partners)),
    },
    Page {
        name: "merge-with-book",
        who: Who::Owner,
        open: Open::Steps(|b, f| Box::pin(merge_with_book(b, f))),
    },
    Page {
        name: "delete-list",
        who: Who::Owner,
        open: Open::Path(|f| format!("/lists/{}/delete", f.prospects)),
    },
    Page {
        name: "account-security",
        who: Who::Owner,
        open: Open::Path(|_| "/account/security".to_owned()),
    },
    Page {
        name: "two-factor-enrolment",
        who: Who::Owner,
        open: Open::Steps(|b, f| Box::pin(enrolment(b, f))),
    },
    // The org admin's pages (the fixture's owner is an org admin).
    Page {
        name: "admin",
        who: Who::Owner,
        open: Open::Path(|_| "/admin".to_owned()),
    },
    Page {
        name: "admin-users",
        who: Who::Owner,
        open: Open::Path(|_| "/admin/users".to_owned()),
    },
    Page {
        name: "admin-offboard",
        who: Who::Owner,
        open: Open::Path(|f| format!("/admin/users/{}/offboard", f.other)),
    },
    Page {
        name: "admin-mailboxes",
        who: Who::Owner,
        open: Open::Path(|_| "/admin/mailboxes".to_owned()),
    },
    Page {
        name: "admin-blocklist",
        who: Who::Owner,
        open: Open::Path(|_| "/admin/blocklist".to_owned()),
    },
    Page {
        name: "admin-blocklist-refused",
        who: Who::Owner,
        open: Open::Steps(|b, f| Box::pin(blocklist_refused(b, f))),
    },
    Page {
        name: "admin-microsoft-365",
        who: Who::Owner,
        open: Open::Path(|_| "/admin/microsoft-365".to_owned()),
    },
    Page {
        name: "admin-notifications",
        who: Who::Owner,
        open: Open::Path(|_| "/admin/notifications".to_owned()),
    },
    Page {
        name: "admin-audit",
        who: Who::Owner,
        open: Open::Path(|_| "/admin/audit?limit=5".to_owned()),
    },
    Page {
        name: "admin-audit-refused",
        who: Who::Owner,
        open: Open::Path(|_| "/admin/audit?from=yesterday&action=made.up".to_owned()),
    },
    Page {
        name: "invitation",
        who: Who::SignedOut,
        open: Open::Path(|_| format!("/invitation?token={INVITATION_TOKEN}")),
    },
    Page {
        name: "invitation-signed-in",
        who: Who::Owner,
        open: Open::Path(|_| format!("/invitation?token={INVITATION_TOKEN}")),
    },
    Page {
        name: "invitation-invalid",
        who: Who::SignedOut,
        open: Open::Path(|_| "/invitation?token=0000".to_owned()),
    },
    Page {
        name: "not-found",
        who: Who::Owner,
        open: Open::Path(|_| "/no/such/page".to_owned()),
    },
    Page {
        name: "error",
        who: Who::Owner,
        open: Open::Path(|_| "/lists/999999/review".to_owned()),
    },
];

/// Settings with one mail OAuth provider, so the link form offers signing in there (never
/// contacted: the audit does not submit the form).
fn with_a_mail_oauth_provider() -> Result<mailsig_daemon::http::app::ApiSettings> {
    use mailsig_daemon::service::imap_oauth::MailOAuthLinking;
    use mailsig_daemon::sources::oauth::{ClientAuth, OAuthProfile, OAuthProvider, OAuthProviders};
    let corp = OAuthProvider {
        name: "corp".to_owned(),
        profile: OAuthProfile::Generic,
        client_id: "mailsig".to_owned(),
        client_secret: secrecy::SecretString::from("unused"),
        client_auth: ClientAuth::Basic,
        authorization_url: url::Url::parse("https://login.corp.example/authorize")?,
        token_url: url::Url::parse("https://login.corp.example/token")?,
        scopes: vec!["offline_access".to_owned()],
    };
    // Microsoft 365 configured (never contacted), so the address book page offers Outlook.
    let graph = mailsig_daemon::sources::graph::GraphConfig::new(
        "mailsig",
        url::Url::parse("https://login.microsoftonline.com/common")?,
        url::Url::parse("https://graph.microsoft.com/v1.0")?,
        "https://mailsig.corp.example",
    );
    Ok(mailsig_daemon::http::app::ApiSettings {
        mail_oauth: MailOAuthLinking::new(
            OAuthProviders::new([corp]),
            "https://mailsig.corp.example",
        ),
        graph: Some(std::sync::Arc::new(graph)),
        ..mailsig_daemon::http::app::ApiSettings::default()
    })
}

/// A list connected to Outlook contacts of a Microsoft 365 mailbox of `owner`, and a
/// suggestion in it whose entry in the book's index has other values: the list and the
/// suggestion.
async fn partners_with_a_book(site: &Site, owner: UserId) -> Result<(i64, i64)> {
    use mailsig_daemon::books::outlook::OutlookSettings;
    use mailsig_daemon::domain::address_book::{
        BookContact, BookEntry, BookEntryId, BookKeys, BookKind, BookPhone, ETag,
    };
    use mailsig_daemon::store::{IndexedEntry, MailboxKind, NewBook, NewMailbox};
    let partners = site.store.create_list(owner, "Partners").await?;
    let mailbox = site
        .store
        .create_mailbox(NewMailbox {
            owner,
            kind: MailboxKind::Graph,
            address: "rita@contoso.example".to_owned(),
            display_name: None,
            target_list: partners.id,
            excluded_domains: vec![],
            settings: serde_json::json!({}),
            secret: None,
        })
        .await?;
    let nina = site
        .suggestion(
            mailbox.id,
            1,
            "nina.berg@fjord.example",
            full_signature("Nina Berg", "Fjord Shipping", "fjord.example"),
        )
        .await?;
    let settings = OutlookSettings {
        mailbox: mailbox.id,
        folder_id: "AQMkADAwATM0MDAAFolder".to_owned(),
        folder_name: "From mailsig".to_owned(),
    };
    site.store
        .connect_book(&NewBook {
            list: partners.id,
            kind: BookKind::Outlook,
            location: &settings.location(),
            settings: &settings.to_json(),
            secret: None,
            created_by: owner,
        })
        .await?;
    let contact = BookContact {
        name: Some("Nina Berg-Olsen".to_owned()),
        company: Some("Fjord Shipping AS".to_owned()),
        title: Some("Chartering Manager".to_owned()),
        emails: vec!["nina.berg@fjord.example".to_owned()],
        phones: vec![BookPhone {
            kind: "work".to_owned(),
            number: "+47 22 12 34 56".to_owned(),
        }],
        ..BookContact::default()
    };
    let keys = BookKeys::of_contact(&contact, None);
    site.store
        .record_book_entry(
            partners.id,
            &IndexedEntry {
                entry: BookEntry {
                    id: BookEntryId("AAMkADcNina".to_owned()),
                    etag: ETag("W/\"EQAAABYAAAD1\"".to_owned()),
                    contact,
                },
                keys,
            },
            false,
        )
        .await?;
    Ok((partners.id.0, nina.0))
}

async fn fixture() -> Result<Fixture> {
    let site = Site::start_with(false, with_a_mail_oauth_provider()?).await?;
    let owner = site.user(EMAIL, PASSWORD).await?;
    site.store
        .set_org_role(owner.id, mailsig_daemon::domain::OrgRole::Admin)
        .await?;
    let customers = site.store.create_list(owner.id, "Customers").await?;
    let prospects = site.store.create_list(owner.id, "Prospects").await?;
    let mailbox = site
        .mailbox(owner.id, customers.id, "rita@mycorp.example")
        .await?;
    let rachel = site
        .suggestion(
            mailbox,
            1,
            "rachel.kim@harbor.example",
            full_signature("Rachel Kim", "Harbor Freight Lines", "harbor.example"),
        )
        .await?;
    let mut newer = full_signature("Rachel Kim", "Harbor Freight Lines", "harbor.example");
    newer.title = field("Director of Logistics", 0.9);
    site.mail(mailbox, 2, "rachel.kim@harbor.example", newer)
        .await?;
    site.suggestion(
        mailbox,
        3,
        "omar.haddad@harbor.example",
        full_signature("Omar Haddad", "Harbor Freight Lines", "harbor.example"),
    )
    .await?;
    site.suggestion(
        mailbox,
        4,
        "lena.vogt@vogt-logistik.example",
        SuggestionFields {
            name: field("Lena Vogt", 0.96),
            title: field("Head of Procurement", 0.55),
            ..SuggestionFields::default()
        },
    )
    .await?;
    // A token and a list shared with the owner by someone else, so that their tables show.
    site.store.create_token(owner.id, "crm sync").await?;
    let other = site.user("sam@othercorp.example", "sam password 1").await?;
    let shared = site.store.create_list(other.id, "Sam's leads").await?;
    site.store
        .share_list(shared.id, owner.id, Role::Editor)
        .await?;
    site.store
        .share_list(customers.id, other.id, Role::Viewer)
        .await?;
    // The second step of signing in needs an account with a factor.
    let vic = site.user(TWO_STEP_EMAIL, TWO_STEP_PASSWORD).await?;
    second_factor::start_enrolment(&site.store, &site.vault, vic.id).await?;
    let key = second_factor::pending_enrolment(&site.store, &site.vault, vic.id, TWO_STEP_EMAIL)
        .await?
        .context("no pending enrolment")?;
    let code = totp_code(&key.manual_key)?;
    second_factor::confirm_enrolment(&site.store, &site.vault, vic.id, &code, None).await?;
    let invitee = site.store.create_user("ivy@mycorp.example", None).await?;
    let week = site.store.now_ms() + 7 * 24 * 3_600_000;
    site.store
        .create_account_invitation(invitee.id, INVITATION_TOKEN, week)
        .await?;
    // The organisation's pages have something to show: a blocked domain, a failed notification.
    site.store
        .add_blocklist_entry(
            mailsig_daemon::store::BlocklistKind::Domain,
            "newsletter.example",
            usize::MAX,
        )
        .await?;
    let failed = site
        .store
        .enqueue(
            &mailsig_daemon::domain::OutboxMessage::Digest(Default::default()),
            owner.id,
            0,
        )
        .await?;
    site.store
        .mark_failed(failed, "550 5.1.1 mailbox unavailable")
        .await?;
    let (partners, nina) = partners_with_a_book(&site, owner.id).await?;
    let mail_user = site.env.create_mail_user()?;
    Ok(Fixture {
        partners,
        nina,
        site,
        customers: customers.id.0,
        prospects: prospects.id.0,
        mailbox: mailbox.0,
        rachel: rachel.0,
        mail_user,
        other: other.id.0,
    })
}

/// The code an authenticator app shows now for the base32 key `shown`.
fn totp_code(shown: &str) -> Result<String> {
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

async fn blocklist_refused(browser: &Browser, f: &Fixture) -> Result<()> {
    browser.goto(&f.site.url("/admin/blocklist")).await?;
    browser.fill("#blocklist-value", "not a domain").await?;
    browser.click("#add-blocklist").await?;
    wait_exists(browser, "#blocklist-error", WAIT).await
}

async fn sign_in_refused(browser: &Browser, f: &Fixture) -> Result<()> {
    browser.goto(&f.site.url("/sign-in")).await?;
    browser.fill("#email", EMAIL).await?;
    browser.fill("#password", "not the password").await?;
    browser.click("#sign-in").await?;
    wait_exists(browser, "[role=alert]", WAIT).await
}

async fn second_factor_step(browser: &Browser, f: &Fixture) -> Result<()> {
    browser.goto(&f.site.url("/sign-in")).await?;
    browser.fill("#email", TWO_STEP_EMAIL).await?;
    browser.fill("#password", TWO_STEP_PASSWORD).await?;
    browser.click("#sign-in").await?;
    browser
        .wait_path(|p| p == "/sign-in/second-factor", WAIT)
        .await?;
    // A wrong code, so that the page's error is audited too.
    browser.fill("#code", "000000").await?;
    browser.click("form button[type=submit]").await?;
    wait_exists(browser, "#second-factor-error", WAIT).await
}

async fn accepted_with_undo(browser: &Browser, f: &Fixture) -> Result<()> {
    browser
        .goto(
            &f.site
                .url(&format!("/lists/{}/review?status=all", f.customers)),
        )
        .await?;
    browser.click("button.accept").await?;
    browser.wait_text("#notice", "Undo", WAIT).await?;
    Ok(())
}

/// The link form, offering to sign in at the configured provider instead of a password.
async fn link_form_with_a_provider(browser: &Browser, f: &Fixture) -> Result<()> {
    browser.goto(&f.site.url("/mailboxes/new")).await?;
    ensure!(
        browser.exists("#sign_in option[value=corp]").await?,
        "the form does not offer the provider"
    );
    Ok(())
}

/// The merge view of a contact the connected book holds: its values offered beside the
/// suggested ones (the name's and the phones' book choices are there before the audit runs).
async fn merge_with_book(browser: &Browser, f: &Fixture) -> Result<()> {
    browser
        .goto(&f.site.url(&format!("/suggestions/{}/merge", f.nina)))
        .await?;
    wait_exists(browser, "#name-book", WAIT).await?;
    wait_exists(browser, "#side-phones-book", WAIT).await
}

async fn merge_refused(browser: &Browser, f: &Fixture) -> Result<()> {
    browser
        .goto(&f.site.url(&format!("/suggestions/{}/merge", f.rachel)))
        .await?;
    browser.fill("#company-value", "").await?;
    browser.click("#merge").await?;
    wait_exists(browser, "#form-error", WAIT).await
}

async fn link_refused(browser: &Browser, f: &Fixture) -> Result<()> {
    let user = &f.mail_user;
    browser.goto(&f.site.url("/mailboxes/new")).await?;
    browser.fill("#address", &user.address).await?;
    browser.fill("#host", "127.0.0.1").await?;
    browser
        .fill("#port", &f.site.env.imap_port.to_string())
        .await?;
    browser.select("#security", "plaintext").await?;
    browser.fill("#username", &user.name).await?;
    browser
        .fill("#password", &format!("{}-wrong", user.password))
        .await?;
    browser.click("#link-imap").await?;
    wait_exists(browser, "#link-error", WAIT).await
}

async fn enrolment(browser: &Browser, f: &Fixture) -> Result<()> {
    browser.goto(&f.site.url("/account/security")).await?;
    if browser.exists("#two-factor-start").await? {
        browser.click("#two-factor-start").await?;
    }
    wait_exists(browser, "#manual-key", WAIT).await
}

/// Where `scripts/test-tools.sh` put axe-core.
fn axe_js(site: &Site) -> PathBuf {
    site.env.dir.join("axe/node_modules/axe-core/axe.min.js")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_the_axe_core_audit_on_a_desktop_and_a_phone() -> Result<()> {
    let fixture = fixture().await?;
    let axe = axe_js(&fixture.site);
    let mut failures = Vec::new();
    let mut audited = 0;
    for screen in Screen::ALL {
        let browser = Browser::on(screen).await?;
        let mut who = Who::SignedOut;
        for page in PAGES {
            if page.who != who {
                // Cookies belong to the site: be on it before forgetting them.
                browser.goto(&fixture.site.url("/sign-in")).await?;
                browser.forget_cookies().await?;
                if page.who == Who::Owner {
                    fixture.site.sign_in(&browser, EMAIL, PASSWORD).await?;
                }
                who = page.who;
            }
            match &page.open {
                Open::Path(path) => browser.goto(&fixture.site.url(&path(&fixture))).await?,
                Open::Steps(steps) => steps(&browser, &fixture)
                    .await
                    .with_context(|| format!("open {} on {screen:?}", page.name))?,
            }
            let violations = browser
                .audit(&axe)
                .await
                .with_context(|| format!("audit {} on {screen:?}", page.name))?;
            audited += 1;
            // The window's title is text (a screen reader announces it first).
            let title: String = browser.eval("return document.title;").await?;
            if title.contains('<') || !title.ends_with("· mailsig") {
                failures.push(format!(
                    "{} on {}: title {title:?}",
                    page.name,
                    screen.name()
                ));
            }
            for v in violations {
                failures.push(format!(
                    "{} on {} ({}): {v}",
                    page.name,
                    screen.name(),
                    browser.current_path().await?
                ));
            }
        }
        browser.close().await?;
    }
    ensure!(
        audited == PAGES.len() * Screen::ALL.len(),
        "audited {audited} pages"
    );
    ensure!(
        failures.is_empty(),
        "{} axe-core violations:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    fixture.site.stop().await
}

/// The audit finds what it should: a page with a known violation (an image without a text
/// alternative, an unlabelled field) is reported, so a clean audit means something.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_reports_a_known_violation() -> Result<()> {
    let env = mailsig_tests::servers::TestEnv::from_env()?;
    let axe = env.dir.join("axe/node_modules/axe-core/axe.min.js");
    let browser = Browser::on(Screen::Desktop).await?;
    browser
        .goto(
            "data:text/html,<!doctype html><html lang=en><title>t</title><main><h1>t</h1>\
             <img src=x.png><input type=text></main></html>",
        )
        .await?;
    let violations = browser.audit(&axe).await?;
    let rules: Vec<&str> = violations.iter().map(|v| v.rule.as_str()).collect();
    ensure!(
        rules.contains(&"image-alt") && rules.contains(&"label"),
        "axe-core did not report the known violations: {rules:?}"
    );
    browser.close().await
}
