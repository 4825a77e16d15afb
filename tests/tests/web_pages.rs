//! The pages' protections, in Chromium and over raw HTTPS: text from mail is escaped (a company
//! called `<script>alert(1)</script>` shows as text and runs nothing), a viewer of a shared
//! list sees its suggestions without any button that changes them, and a forged POST is refused
//! whether it lacks the CSRF token or comes from a viewer with one. Every page carries the
//! security headers; the Microsoft 365 button says plainly that it is not configured.

mod web_support;

use anyhow::{Context, Result, ensure};
use mailsig_daemon::http::auth;
use mailsig_daemon::store::{
    CommitMessage, Cursor, ListId, MailboxKind, NewMailbox, NewSuggestion, Outcome, Role, StoredField,
    SuggestionFields, SuggestionId, SuggestionStatus, UserId,
};
use mailsig_tests::browser::Browser;
use mailsig_tests::https::{Reply, Request, https};
use web_support::{Site, screenshot_path};

const SCRIPT: &str = "<script>alert(1)</script>";

/// A suggestion in `list` whose company is a script tag, as if a hostile signature said so.
async fn hostile_suggestion(site: &Site, owner: UserId, list: ListId) -> Result<SuggestionId> {
    let mailbox = site
        .store
        .create_mailbox(NewMailbox {
            owner,
            kind: MailboxKind::Imap,
            address: "owner@mycorp.example".to_owned(),
            display_name: None,
            target_list: list,
            excluded_domains: vec![],
            settings: serde_json::json!({}),
            secret: None,
        })
        .await?;
    let field = |value: &str| Some(StoredField { value: value.to_owned(), confidence: 0.9, rule: "test".to_owned() });
    let committed = site
        .store
        .commit_message(CommitMessage {
            mailbox: mailbox.id,
            folder: "INBOX".to_owned(),
            cursor: Cursor::Imap { uidvalidity: 1, uid: 1 },
            message_id_hash: format!("{:016x}", rand::random::<u64>()),
            outcome: Outcome::Suggestion(NewSuggestion {
                sender_email: "mallory@evil.example".to_owned(),
                fields: SuggestionFields {
                    name: field("Mallory \"Bobby\" Tables"),
                    company: field(SCRIPT),
                    title: field("<img src=x onerror=alert(2)>"),
                    ..SuggestionFields::default()
                },
                confidence: 0.9,
            }),
            fencing: None,
        })
        .await?;
    match committed {
        mailsig_daemon::store::CommitResult::Inserted { suggestion } => Ok(suggestion),
        other => anyhow::bail!("unexpected commit result {other:?}"),
    }
}

fn cookie(session: &auth::NewSession) -> String {
    format!("{}={}", auth::SESSION_COOKIE, session.cookie_value())
}

async fn post_form(site: &Site, path: &str, cookie: &str, body: String) -> Result<Reply> {
    https(
        site.addr,
        site.env.tls_client_config(),
        &Request {
            method: "POST",
            path,
            headers: vec![("Cookie", cookie.to_owned()), ("Content-Type", "application/x-www-form-urlencoded".to_owned())],
            body,
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_escaped_text_and_no_buttons_and_forged_posts_are_refused() -> Result<()> {
    let site = Site::start(false).await?;
    let owner = site.user("olga@mycorp.example", "owner password 1").await?;
    let viewer = site.user("victor@mycorp.example", "viewer password 1").await?;
    let list = site.store.create_list(owner.id, "Shared leads").await?;
    site.store.share_list(list.id, viewer.id, Role::Viewer).await?;
    let suggestion = hostile_suggestion(&site, owner.id, list.id).await?;

    // The viewer, in Chromium: the list is there, the text is shown as text, nothing runs.
    let browser = Browser::start().await?;
    site.sign_in(&browser, "victor@mycorp.example", "viewer password 1").await?;
    ensure!(browser.text("main").await?.contains("Shared leads"), "the shared list is not on the dashboard");
    browser.goto(&site.url(&format!("/lists/{}/review", list.id.0))).await?;
    let company = browser.text(&format!("#suggestion-{} .company", suggestion.0)).await?;
    ensure!(company == SCRIPT, "the company is not shown as text: {company:?}");
    ensure!(browser.client.get_alert_text().await.is_err(), "a script ran: an alert is open");
    let source = browser.source().await?;
    ensure!(source.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the company is not escaped in the HTML");
    ensure!(!source.contains(SCRIPT), "raw script tag in the page");
    ensure!(!source.contains("<img src=x"), "raw img tag in the page");
    // No button that changes anything, on the list and on the suggestion's page.
    ensure!(!browser.exists("button.accept").await? && !browser.exists("button.dismiss").await?, "viewer has buttons");
    browser.goto(&site.url(&format!("/suggestions/{}/merge", suggestion.0))).await?;
    ensure!(!browser.exists("#merge-form").await?, "the viewer gets a merge form");
    ensure!(browser.text("main").await?.contains(SCRIPT), "details page does not show the company as text");
    browser.screenshot(&screenshot_path("viewer-review")).await?;
    browser.close().await?;

    // Forged POSTs with the viewer's session: without the CSRF token, then with it.
    let session = auth::sign_in(&site.store, "victor@mycorp.example", "viewer password 1").await?;
    let viewer_cookie = cookie(&session);
    let accept = format!("/suggestions/{}/accept", suggestion.0);
    let no_token = post_form(&site, &accept, &viewer_cookie, String::new()).await?;
    ensure!(no_token.status == 403, "POST without CSRF token: {}", no_token.status);
    let token = auth::csrf_token(&session.session).to_owned();
    let with_token = post_form(&site, &accept, &viewer_cookie, format!("csrf_token={token}")).await?;
    ensure!(with_token.status == 403, "viewer accept with CSRF token: {} {}", with_token.status, with_token.body);
    ensure!(with_token.body.contains("Not allowed"), "refusal page: {}", with_token.body);
    let merge = format!("/suggestions/{}/merge", suggestion.0);
    let forged_merge =
        post_form(&site, &merge, &viewer_cookie, format!("csrf_token={token}&choice_company=typed&value_company=Pwned")).await?;
    ensure!(forged_merge.status == 403, "viewer merge: {}", forged_merge.status);
    let stored = site.store.get_suggestion(suggestion).await?;
    ensure!(stored.status == SuggestionStatus::New, "status changed to {:?}", stored.status);
    ensure!(stored.fields.company.as_ref().map(|f| f.value.as_str()) == Some(SCRIPT), "company changed");

    // The owner with the token may accept: the refusals above were about the role, not the form.
    let owner_session = auth::sign_in(&site.store, "olga@mycorp.example", "owner password 1").await?;
    let owner_token = auth::csrf_token(&owner_session.session).to_owned();
    let accepted = post_form(&site, &accept, &cookie(&owner_session), format!("csrf_token={owner_token}")).await?;
    ensure!(accepted.status == 303, "owner accept: {} {}", accepted.status, accepted.body);
    ensure!(site.store.get_suggestion(suggestion).await?.status == SuggestionStatus::Accepted, "owner accept not stored");

    site.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers_and_microsoft_says_it_is_not_configured() -> Result<()> {
    let site = Site::start(false).await?;
    site.user("mia@mycorp.example", "mia password 1").await?;

    let sign_in = https(site.addr, site.env.tls_client_config(), &Request::get("/sign-in")).await?;
    ensure!(sign_in.status == 200, "sign-in page: {}", sign_in.status);
    let csp = sign_in.header("content-security-policy").context("no CSP")?;
    ensure!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "CSP {csp}");
    ensure!(!csp.contains("unsafe-inline"), "CSP allows inline code: {csp}");
    ensure!(sign_in.header("x-content-type-options") == Some("nosniff"), "{:?}", sign_in.headers);
    ensure!(sign_in.header("referrer-policy").is_some(), "no Referrer-Policy");
    ensure!(sign_in.header("strict-transport-security").is_some(), "no HSTS on a page");
    ensure!(sign_in.body.contains("<label for=\"email\">"), "the e-mail field has no label");

    // Not signed in: pages send the visitor to the sign-in form.
    let dashboard = https(site.addr, site.env.tls_client_config(), &Request::get("/dashboard")).await?;
    ensure!(dashboard.status == 303 && dashboard.header("location") == Some("/sign-in"), "{dashboard:?}");

    // The Microsoft 365 button, in Chromium.
    let browser = Browser::start().await?;
    site.sign_in(&browser, "mia@mycorp.example", "mia password 1").await?;
    browser.goto(&site.url("/mailboxes/new")).await?;
    browser.click("#connect-microsoft").await?;
    browser.wait_path(|p| p == "/mailboxes/microsoft", std::time::Duration::from_secs(10)).await?;
    let heading = browser.text("h1").await?;
    ensure!(heading == "Microsoft 365 is not configured", "heading {heading:?}");

    // Signing out ends the session: the dashboard sends back to sign-in.
    browser.goto(&site.url("/dashboard")).await?;
    browser.click("nav button").await?;
    browser.wait_path(|p| p == "/sign-in", std::time::Duration::from_secs(10)).await?;
    browser.goto(&site.url("/dashboard")).await?;
    ensure!(browser.current_path().await? == "/sign-in", "still signed in after signing out");
    browser.close().await?;
    site.stop().await
}
