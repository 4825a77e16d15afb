//! The pages' protections, in Chromium and over raw HTTPS: text from mail is escaped (a company
//! called `<script>alert(1)</script>` shows as text and runs nothing), a viewer of a shared
//! list sees its suggestions without any button that changes them, and a forged POST is refused
//! whether it lacks the CSRF token or comes from a viewer with one. Every page carries the
//! security headers; without Microsoft 365 configured the linking page offers no button for it.

use crate::web_support;

use anyhow::{Context, Result, ensure};
use mailsig_daemon::http::auth;
use mailsig_daemon::store::{
    CommitMessage, Cursor, ListId, MailboxKind, NewMailbox, NewSuggestion, Outcome, Role,
    StoredField, StoredPhone, SuggestionFields, SuggestionId, SuggestionStatus, UserId,
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
    let field = |value: &str| {
        Some(StoredField {
            value: value.to_owned(),
            confidence: 0.9,
            rule: "test".to_owned(),
        })
    };
    let committed = site
        .store
        .commit_message(CommitMessage {
            mailbox: mailbox.id,
            folder: "INBOX".to_owned(),
            cursor: Cursor::Imap {
                uidvalidity: 1,
                uid: 1,
            },
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
                auth: mailsig_daemon::domain::SenderAuth::new(
                    mailsig_daemon::domain::AuthResult::Authenticated,
                    mailsig_daemon::domain::AuthMethod::Dmarc,
                ),
            }),
            fencing: None,
        })
        .await?;
    match committed {
        mailsig_daemon::store::CommitResult::Inserted { suggestion } => Ok(suggestion),
        other => anyhow::bail!("unexpected commit result {other:?}"),
    }
}

/// A suggestion in `list` with its own confidence per field, as the engine would store them.
async fn suggestion_with_confidences(
    site: &Site,
    owner: UserId,
    list: ListId,
) -> Result<SuggestionId> {
    let mailbox = site
        .store
        .create_mailbox(NewMailbox {
            owner,
            kind: MailboxKind::Imap,
            address: "reviewer@mycorp.example".to_owned(),
            display_name: None,
            target_list: list,
            excluded_domains: vec![],
            settings: serde_json::json!({}),
            secret: None,
        })
        .await?;
    let field = |value: &str, confidence: f32| {
        Some(StoredField {
            value: value.to_owned(),
            confidence,
            rule: "test".to_owned(),
        })
    };
    let committed = site
        .store
        .commit_message(CommitMessage {
            mailbox: mailbox.id,
            folder: "INBOX".to_owned(),
            cursor: Cursor::Imap {
                uidvalidity: 1,
                uid: 1,
            },
            message_id_hash: format!("{:016x}", rand::random::<u64>()),
            outcome: Outcome::Suggestion(NewSuggestion {
                sender_email: "anna.berg@nordlys.example".to_owned(),
                fields: SuggestionFields {
                    name: field("Anna Berg", 0.97),
                    title: field("Varvschef", 0.62),
                    company: field("Nordlys AB", 0.88),
                    phones: vec![StoredPhone {
                        kind: "work".to_owned(),
                        e164: "+46855541230".to_owned(),
                        confidence: 0.991,
                        rule: "test".to_owned(),
                    }],
                    ..SuggestionFields::default()
                },
                confidence: 0.8,
                auth: mailsig_daemon::domain::SenderAuth::new(
                    mailsig_daemon::domain::AuthResult::Authenticated,
                    mailsig_daemon::domain::AuthMethod::Dmarc,
                ),
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
            headers: vec![
                ("Cookie", cookie.to_owned()),
                (
                    "Content-Type",
                    "application/x-www-form-urlencoded".to_owned(),
                ),
            ],
            body,
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_escaped_text_and_no_buttons_and_forged_posts_are_refused() -> Result<()> {
    let site = Site::start(false).await?;
    let owner = site.user("olga@mycorp.example", "owner password 1").await?;
    let viewer = site
        .user("victor@mycorp.example", "viewer password 1")
        .await?;
    let list = site.store.create_list(owner.id, "Shared leads").await?;
    site.store
        .share_list(list.id, viewer.id, Role::Viewer)
        .await?;
    let suggestion = hostile_suggestion(&site, owner.id, list.id).await?;

    // The viewer, in Chromium: the list is there, the text is shown as text, nothing runs.
    let browser = Browser::start().await?;
    site.sign_in(&browser, "victor@mycorp.example", "viewer password 1")
        .await?;
    ensure!(
        browser.text("main").await?.contains("Shared leads"),
        "the shared list is not on the dashboard"
    );
    browser
        .goto(&site.url(&format!("/lists/{}/review", list.id.0)))
        .await?;
    let company = browser
        .text(&format!(
            "#suggestion-{} .company .field-value",
            suggestion.0
        ))
        .await?;
    ensure!(
        company == SCRIPT,
        "the company is not shown as text: {company:?}"
    );
    ensure!(
        browser.client.get_alert_text().await.is_err(),
        "a script ran: an alert is open"
    );
    let source = browser.source().await?;
    ensure!(
        source.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the company is not escaped in the HTML"
    );
    ensure!(!source.contains(SCRIPT), "raw script tag in the page");
    ensure!(!source.contains("<img src=x"), "raw img tag in the page");
    // No button that changes anything, on the list and on the suggestion's page.
    ensure!(
        !browser.exists("button.accept").await? && !browser.exists("button.dismiss").await?,
        "viewer has buttons"
    );
    browser
        .goto(&site.url(&format!("/suggestions/{}/merge", suggestion.0)))
        .await?;
    ensure!(
        !browser.exists("#merge-form").await?,
        "the viewer gets a merge form"
    );
    // The suggestion's provenance: one message, with its own sender authentication.
    let seen = browser.text("#provenance").await?;
    ensure!(
        seen.starts_with("Seen once; last: authenticated (DMARC) on "),
        "{seen:?}"
    );
    ensure!(
        browser.text("main").await?.contains(SCRIPT),
        "details page does not show the company as text"
    );
    browser
        .screenshot(&screenshot_path("viewer-review"))
        .await?;
    browser.close().await?;

    // Forged POSTs with the viewer's session: without the CSRF token, then with it.
    let session = auth::sign_in(&site.store, "victor@mycorp.example", "viewer password 1").await?;
    let viewer_cookie = cookie(&session);
    let accept = format!("/suggestions/{}/accept", suggestion.0);
    let no_token = post_form(&site, &accept, &viewer_cookie, String::new()).await?;
    ensure!(
        no_token.status == 403,
        "POST without CSRF token: {}",
        no_token.status
    );
    ensure!(
        no_token.body.contains("Form refused"),
        "the refusal is not a page: {}",
        no_token.body
    );
    let token = auth::csrf_token(&session.session).to_owned();
    let with_token = post_form(
        &site,
        &accept,
        &viewer_cookie,
        format!("csrf_token={token}"),
    )
    .await?;
    ensure!(
        with_token.status == 403,
        "viewer accept with CSRF token: {} {}",
        with_token.status,
        with_token.body
    );
    ensure!(
        with_token.body.contains("Not allowed"),
        "refusal page: {}",
        with_token.body
    );
    let merge = format!("/suggestions/{}/merge", suggestion.0);
    let forged_merge = post_form(
        &site,
        &merge,
        &viewer_cookie,
        format!("csrf_token={token}&choice_company=typed&value_company=Pwned"),
    )
    .await?;
    ensure!(
        forged_merge.status == 403,
        "viewer merge: {}",
        forged_merge.status
    );
    let stored = site.store.get_suggestion(suggestion).await?;
    ensure!(
        stored.status == SuggestionStatus::New,
        "status changed to {:?}",
        stored.status
    );
    ensure!(
        stored.fields.company.as_ref().map(|f| f.value.as_str()) == Some(SCRIPT),
        "company changed"
    );

    // The owner with the token may accept: the refusals above were about the role, not the form.
    let owner_session =
        auth::sign_in(&site.store, "olga@mycorp.example", "owner password 1").await?;
    let owner_token = auth::csrf_token(&owner_session.session).to_owned();
    let accepted = post_form(
        &site,
        &accept,
        &cookie(&owner_session),
        format!("csrf_token={owner_token}"),
    )
    .await?;
    ensure!(
        accepted.status == 303,
        "owner accept: {} {}",
        accepted.status,
        accepted.body
    );
    ensure!(
        site.store.get_suggestion(suggestion).await?.status == SuggestionStatus::Accepted,
        "owner accept not stored"
    );

    site.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_page_shows_each_fields_confidence() -> Result<()> {
    let site = Site::start(false).await?;
    let owner = site.user("rita@mycorp.example", "owner password 1").await?;
    let list = site.store.create_list(owner.id, "Boatyards").await?;
    let suggestion = suggestion_with_confidences(&site, owner.id, list.id).await?;
    let session = auth::sign_in(&site.store, "rita@mycorp.example", "owner password 1").await?;
    let page = https(
        site.addr,
        site.env.tls_client_config(),
        &Request {
            method: "GET",
            path: &format!("/lists/{}/review", list.id.0),
            headers: vec![("Cookie", cookie(&session))],
            body: String::new(),
        },
    )
    .await?;
    ensure!(page.status == 200, "review page: {}", page.status);
    let card_start = page
        .body
        .find(&format!("id=\"suggestion-{}\"", suggestion.0))
        .context("the suggestion's card is missing")?;
    let card = &page.body[card_start..];
    let card = &card[..card.find("</li>").context("unclosed card")?];
    // Each value carries its own confidence, next to it, rounded to a whole percent; a value
    // below 70% is marked for checking.
    for (class, value, percent) in [
        (
            "name",
            "<span class=\"field-value\">Anna Berg</span>",
            "97%",
        ),
        (
            "title",
            "<span class=\"field-value\">Varvschef</span>",
            "62% · check",
        ),
        (
            "company",
            "<span class=\"field-value\">Nordlys AB</span>",
            "88%",
        ),
        (
            "phones",
            "<span class=\"kind\">Work</span> <a class=\"field-value\" href=\"tel:+46855541230\">+46855541230</a>",
            "99%",
        ),
    ] {
        let start = card
            .find(&format!("<dd class=\"{class}\">"))
            .with_context(|| format!("no {class} field in the card: {card}"))?;
        let cell = &card[start..];
        let cell = &cell[..cell.find("</dd>").context("unclosed field")?];
        ensure!(
            cell.contains(value) && cell.contains(&format!("{percent}</small>")),
            "{class} should show {value} with {percent}: {cell}"
        );
    }
    ensure!(
        card.contains("<span class=\"overall\">80%</span>"),
        "the overall confidence is missing: {card}"
    );
    site.stop().await
}

/// The list's page shows auto-accept with the expected error rate at the chosen threshold
/// (from the calibrated confidences of the list's authenticated suggestions), and its owner
/// sets mode and threshold there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_page_shows_auto_accept_and_its_expected_error_rate() -> Result<()> {
    let site = Site::start(false).await?;
    let owner = site.user("olle@mycorp.example", "owner password 1").await?;
    let list = site.store.create_list(owner.id, "Yards").await?;
    suggestion_with_confidences(&site, owner.id, list.id).await?;
    let session = auth::sign_in(&site.store, "olle@mycorp.example", "owner password 1").await?;
    let review = format!("/lists/{}/review", list.id.0);
    let get_page = || async {
        https(
            site.addr,
            site.env.tls_client_config(),
            &Request {
                method: "GET",
                path: &review,
                headers: vec![("Cookie", cookie(&session))],
                body: String::new(),
            },
        )
        .await
    };
    let page = get_page().await?;
    ensure!(page.status == 200, "review page: {}", page.status);
    ensure!(
        page.body
            .contains("<strong id=\"auto-accept-mode\">off</strong>, threshold 0.95"),
        "{}",
        page.body
    );
    // The one suggestion's least sure field is 62%: nothing reaches 0.95.
    ensure!(
        page.body
            .contains("not known yet (none of the list&#x27;s 1 recent")
            || page
                .body
                .contains("not known yet (none of the list's 1 recent"),
        "{}",
        page.body
    );
    let token = auth::csrf_token(&session.session).to_owned();
    let saved = post_form(
        &site,
        &format!("/lists/{}/auto-accept", list.id.0),
        &cookie(&session),
        format!("csrf_token={token}&mode=dry_run&threshold=0.6"),
    )
    .await?;
    ensure!(saved.status == 303, "{} {}", saved.status, saved.body);
    let setting = site.store.auto_accept(list.id).await?;
    ensure!(setting.mode == mailsig_daemon::store::AutoAcceptMode::DryRun);
    let page = get_page().await?;
    // 1 - 0.97 x 0.62 x 0.88 x 0.991 = 47.6 %.
    ensure!(
        page.body
            .contains("Expected error rate at this threshold: <strong>47.6%</strong>"),
        "{}",
        page.body
    );
    ensure!(
        page.body
            .contains("<strong id=\"auto-accept-mode\">dry_run</strong>, threshold 0.60")
    );
    site.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers_and_microsoft_says_it_is_not_configured() -> Result<()> {
    let site = Site::start(false).await?;
    site.user("mia@mycorp.example", "mia password 1").await?;

    let sign_in = https(
        site.addr,
        site.env.tls_client_config(),
        &Request::get("/sign-in"),
    )
    .await?;
    ensure!(sign_in.status == 200, "sign-in page: {}", sign_in.status);
    let csp = sign_in
        .header("content-security-policy")
        .context("no CSP")?;
    ensure!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "CSP {csp}"
    );
    ensure!(
        !csp.contains("unsafe-inline"),
        "CSP allows inline code: {csp}"
    );
    ensure!(
        sign_in.header("x-content-type-options") == Some("nosniff"),
        "{:?}",
        sign_in.headers
    );
    ensure!(
        sign_in.header("referrer-policy").is_some(),
        "no Referrer-Policy"
    );
    ensure!(
        sign_in.header("strict-transport-security").is_some(),
        "no HSTS on a page"
    );
    ensure!(
        sign_in.body.contains("<label for=\"email\">"),
        "the e-mail field has no label"
    );

    // Not signed in: pages send the visitor to the sign-in form.
    let dashboard = https(
        site.addr,
        site.env.tls_client_config(),
        &Request::get("/dashboard"),
    )
    .await?;
    ensure!(
        dashboard.status == 303
            && dashboard.header("location") == Some("/sign-in?next=%2Fdashboard"),
        "{dashboard:?}"
    );

    // The Microsoft 365 button, in Chromium.
    let browser = Browser::start().await?;
    site.sign_in(&browser, "mia@mycorp.example", "mia password 1")
        .await?;
    browser.goto(&site.url("/mailboxes/new")).await?;
    ensure!(
        !browser.exists("#connect-microsoft").await?,
        "the Microsoft 365 button is offered although it is not configured"
    );
    ensure!(
        browser
            .text("#microsoft-unconfigured")
            .await?
            .contains("not set up"),
        "the linking page does not say Microsoft 365 is not set up"
    );

    // Signing out ends the session: the dashboard sends back to sign-in.
    browser.goto(&site.url("/dashboard")).await?;
    browser.click("nav button").await?;
    browser
        .wait_path(|p| p == "/sign-in", std::time::Duration::from_secs(10))
        .await?;
    browser.goto(&site.url("/dashboard")).await?;
    ensure!(
        browser.current_path().await? == "/sign-in",
        "still signed in after signing out"
    );
    browser.close().await?;
    site.stop().await
}

/// The `Set-Cookie` value of cookie `name` in `reply` (`None` when it sets none).
fn set_cookie<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .filter_map(|(_, v)| v.strip_prefix(name)?.strip_prefix('='))
        .map(|v| v.split(';').next().unwrap_or_default())
        .next()
}

async fn post_sign_in(site: &Site, cookie: Option<String>, body: String) -> Result<Reply> {
    let mut headers = vec![(
        "Content-Type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    if let Some(cookie) = cookie {
        headers.push(("Cookie", cookie));
    }
    https(
        site.addr,
        site.env.tls_client_config(),
        &Request {
            method: "POST",
            path: "/sign-in",
            headers,
            body,
        },
    )
    .await
}

/// Login CSRF: the sign-in form carries a pre-session token that must match its `__Host-`
/// cookie. A post without it, with a wrong one, with the field but not the cookie (what a
/// third-party page can do) or with an expired one is a 403 page and signs nobody in, even with
/// the right password; the form's own pair signs in and the pre-session cookie is cleared.
/// Signing out needs the session's CSRF token: without it the session stays alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_needs_the_forms_token_and_sign_out_the_sessions_token() -> Result<()> {
    let site = Site::start(false).await?;
    site.user("sam@mycorp.example", "sam password 1").await?;
    let credentials = "email=sam%40mycorp.example&password=sam+password+1";

    let page = https(
        site.addr,
        site.env.tls_client_config(),
        &Request::get("/sign-in"),
    )
    .await?;
    ensure!(page.status == 200, "sign-in page: {}", page.status);
    let token = set_cookie(&page, auth::SIGN_IN_COOKIE)
        .context("no sign-in cookie on the form")?
        .to_owned();
    let raw_cookie = page
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with(auth::SIGN_IN_COOKIE))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    ensure!(
        raw_cookie.contains("Secure")
            && raw_cookie.contains("HttpOnly")
            && raw_cookie.contains("SameSite=Strict"),
        "sign-in cookie attributes: {raw_cookie}"
    );
    ensure!(
        page.body
            .contains(&format!("name=\"csrf_token\" value=\"{token}\"")),
        "the form does not carry the cookie's token"
    );
    let pair = format!("{}={token}", auth::SIGN_IN_COOKIE);

    // Pages have a body limit too (64 KiB), before anything else is looked at.
    let huge = post_sign_in(
        &site,
        None,
        format!("{credentials}&pad={}", "x".repeat(100 * 1024)),
    )
    .await?;
    ensure!(
        huge.status == 413,
        "a 100 KiB sign-in form: {}",
        huge.status
    );

    let other = auth::SignInToken::issue()?;
    let expired = format!("{}.{}", 1_000_000_000, "ab".repeat(32));
    let forged = [
        ("no token at all", None, credentials.to_owned()),
        (
            "a cookie but no field",
            Some(pair.clone()),
            credentials.to_owned(),
        ),
        (
            "a wrong field",
            Some(pair.clone()),
            format!("{credentials}&csrf_token={}", other.value()),
        ),
        (
            "a field but no cookie",
            None,
            format!("{credentials}&csrf_token={token}"),
        ),
        (
            "an expired pair",
            Some(format!("{}={expired}", auth::SIGN_IN_COOKIE)),
            format!("{credentials}&csrf_token={expired}"),
        ),
    ];
    for (what, cookie, body) in forged {
        let reply = post_sign_in(&site, cookie, body).await?;
        ensure!(
            reply.status == 403,
            "{what}: {} {}",
            reply.status,
            reply.body
        );
        ensure!(
            set_cookie(&reply, auth::SESSION_COOKIE).is_none(),
            "{what}: a session cookie was set"
        );
        ensure!(
            reply.body.contains("did not come from this site"),
            "{what}: no explanation: {}",
            reply.body
        );
    }
    ensure!(
        !site
            .store
            .audit_log(50)
            .await?
            .iter()
            .any(|e| e.action.as_str() == "session.sign_in"),
        "a forged sign-in opened a session"
    );

    // The form's own pair signs in and clears the pre-session cookie.
    let signed_in = post_sign_in(
        &site,
        Some(pair),
        format!("{credentials}&csrf_token={token}"),
    )
    .await?;
    ensure!(
        signed_in.status == 303 && signed_in.header("location") == Some("/dashboard"),
        "sign-in with the form's token: {} {}",
        signed_in.status,
        signed_in.body
    );
    let session = set_cookie(&signed_in, auth::SESSION_COOKIE)
        .context("no session cookie")?
        .to_owned();
    ensure!(
        set_cookie(&signed_in, auth::SIGN_IN_COOKIE) == Some(""),
        "the sign-in cookie was not cleared"
    );
    let session_cookie = format!("{}={session}", auth::SESSION_COOKIE);
    let (addr, tls) = (site.addr, site.env.tls_client_config());
    let dashboard = |cookie: String| {
        let tls = tls.clone();
        async move {
            https(
                addr,
                tls,
                &Request::get("/dashboard").header("Cookie", cookie),
            )
            .await
        }
    };
    ensure!(
        dashboard(session_cookie.clone()).await?.status == 200,
        "not signed in after signing in"
    );

    // Sign-out without the session's CSRF token is refused and the session lives on.
    let forged_out = post_form(&site, "/sign-out", &session_cookie, String::new()).await?;
    ensure!(
        forged_out.status == 403,
        "sign-out without CSRF token: {}",
        forged_out.status
    );
    let page = dashboard(session_cookie.clone()).await?;
    ensure!(
        page.status == 200,
        "a forged sign-out ended the session: {}",
        page.status
    );
    let csrf = page
        .body
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("no CSRF token on the dashboard")?
        .to_owned();
    let out = post_form(
        &site,
        "/sign-out",
        &session_cookie,
        format!("csrf_token={csrf}"),
    )
    .await?;
    ensure!(
        out.status == 303 && out.header("location") == Some("/sign-in?why=signed-out"),
        "sign-out: {}",
        out.status
    );
    let after = dashboard(session_cookie).await?;
    ensure!(
        after.status == 303,
        "still signed in after signing out: {}",
        after.status
    );
    site.stop().await
}

/// Deleting a list from its share page: a confirm step, CSRF, 409 page while a mailbox still
/// delivers into it, then gone for the owner and for the people it was shared with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_deletes_a_list_after_a_confirm_step() -> Result<()> {
    let site = Site::start(false).await?;
    let owner = site.user("dora@mycorp.example", "dora password 1").await?;
    let viewer = site.user("vera@mycorp.example", "vera password 1").await?;
    let list = site.store.create_list(owner.id, "Old leads").await?;
    site.store
        .share_list(list.id, viewer.id, Role::Viewer)
        .await?;
    let suggestion = hostile_suggestion(&site, owner.id, list.id).await?;
    let mailbox = site
        .store
        .get_suggestion(suggestion)
        .await?
        .mailbox
        .context("the suggestion's mailbox")?;

    let session = auth::sign_in(&site.store, "dora@mycorp.example", "dora password 1").await?;
    let owner_cookie = cookie(&session);
    let token = auth::csrf_token(&session.session).to_owned();
    let (addr, tls) = (site.addr, site.env.tls_client_config());
    let get = |path: String, cookie: String| {
        let tls = tls.clone();
        async move { https(addr, tls, &Request::get(&path).header("Cookie", cookie)).await }
    };
    // The dashboard says why the list cannot be deleted while a mailbox delivers into it.
    let dashboard = get("/dashboard".to_owned(), owner_cookie.clone()).await?;
    ensure!(
        dashboard
            .body
            .contains(&format!("id=\"delete-{}-blocked\"", list.id.0))
            && !dashboard
                .body
                .contains(&format!("href=\"/lists/{}/delete\"", list.id.0)),
        "the dashboard offers Delete while a mailbox delivers into the list"
    );
    let confirm = get(format!("/lists/{}/delete", list.id.0), owner_cookie.clone()).await?;
    ensure!(
        confirm.status == 200 && confirm.body.contains("Old leads"),
        "confirm page: {}",
        confirm.status
    );
    ensure!(
        confirm.body.contains("id=\"delete-blocked\""),
        "the confirm page does not warn about the mailbox"
    );

    let path = format!("/lists/{}/delete", list.id.0);
    let no_csrf = post_form(&site, &path, &owner_cookie, "confirm=yes".to_owned()).await?;
    ensure!(
        no_csrf.status == 403,
        "delete without CSRF: {}",
        no_csrf.status
    );
    let unconfirmed = post_form(&site, &path, &owner_cookie, format!("csrf_token={token}")).await?;
    ensure!(
        unconfirmed.status == 303 && unconfirmed.header("location") == Some(path.as_str()),
        "an unconfirmed delete does not go to the confirm step: {}",
        unconfirmed.status
    );
    let busy = post_form(
        &site,
        &path,
        &owner_cookie,
        format!("csrf_token={token}&confirm=yes"),
    )
    .await?;
    ensure!(
        busy.status == 409 && busy.body.contains("unlink"),
        "delete with a live mailbox: {} {}",
        busy.status,
        busy.body
    );
    ensure!(
        site.store.get_list(list.id).await.is_ok(),
        "the list went although a mailbox delivers into it"
    );

    // The viewer may not delete; after the mailbox is unlinked the owner can.
    let viewer_session =
        auth::sign_in(&site.store, "vera@mycorp.example", "vera password 1").await?;
    let viewer_token = auth::csrf_token(&viewer_session.session).to_owned();
    let by_viewer = post_form(
        &site,
        &path,
        &cookie(&viewer_session),
        format!("csrf_token={viewer_token}&confirm=yes"),
    )
    .await?;
    ensure!(
        by_viewer.status == 403,
        "viewer delete: {}",
        by_viewer.status
    );
    site.store.soft_remove_mailbox(mailbox).await?;
    let dashboard = get("/dashboard".to_owned(), owner_cookie.clone()).await?;
    ensure!(
        dashboard
            .body
            .contains(&format!("href=\"/lists/{}/delete\"", list.id.0)),
        "no Delete on the dashboard once no mailbox delivers into the list"
    );
    let deleted = post_form(
        &site,
        &path,
        &owner_cookie,
        format!("csrf_token={token}&confirm=yes"),
    )
    .await?;
    ensure!(
        deleted.status == 303
            && deleted
                .header("location")
                .is_some_and(|l| l.starts_with("/dashboard?done=deleted")),
        "delete: {} {}",
        deleted.status,
        deleted.body
    );
    let dashboard = get("/dashboard".to_owned(), owner_cookie.clone()).await?;
    ensure!(
        !dashboard.body.contains("Old leads"),
        "the deleted list is still on the dashboard"
    );
    let review = get(
        format!("/lists/{}/review", list.id.0),
        cookie(&viewer_session),
    )
    .await?;
    ensure!(
        review.status == 404,
        "the viewer still reviews the deleted list: {}",
        review.status
    );
    let export = get(format!("/lists/{}/export.csv", list.id.0), owner_cookie).await?;
    ensure!(
        export.status == 404,
        "the deleted list still exports: {}",
        export.status
    );
    site.stop().await
}

/// `[webhooks]` for a receiver on loopback over plain HTTP (as an operator's local relay).
fn loopback_webhooks() -> mailsig_daemon::webhooks::WebhookSettings {
    mailsig_daemon::webhooks::WebhookSettings {
        allow_private_hosts: true,
        allow_http: true,
        ..mailsig_daemon::webhooks::WebhookSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhooks_page_adds_shows_a_generated_secret_once_logs_and_removes() -> Result<()> {
    use mailsig_daemon::domain::{AttemptOutcome, WebhookEvent};
    use mailsig_daemon::store::{AfterAttempt, NewDelivery, QueueStep, SecretKind};
    let site = Site::start_with_webhooks(false, loopback_webhooks()).await?;
    let owner = site
        .user("wendy@mycorp.example", "wendy password 1")
        .await?;
    let viewer = site
        .user("victor@mycorp.example", "victor password 1")
        .await?;
    let list = site.store.create_list(owner.id, "Leads").await?;
    site.store
        .share_list(list.id, viewer.id, Role::Viewer)
        .await?;
    let session = auth::sign_in(&site.store, "wendy@mycorp.example", "wendy password 1").await?;
    let owner_cookie = cookie(&session);
    let token = auth::csrf_token(&session.session).to_owned();
    let (addr, tls) = (site.addr, site.env.tls_client_config());
    let get = |path: String, cookie: String| {
        let tls = tls.clone();
        async move { https(addr, tls, &Request::get(&path).header("Cookie", cookie)).await }
    };
    let page = format!("/lists/{}/webhooks", list.id.0);

    let empty = get(page.clone(), owner_cookie.clone()).await?;
    ensure!(
        empty.status == 200 && empty.body.contains("id=\"no-endpoints\""),
        "empty page: {} {}",
        empty.status,
        empty.body
    );
    ensure!(
        empty
            .header("content-security-policy")
            .is_some_and(|c| c.starts_with("default-src 'none'") && !c.contains("unsafe-inline")),
        "the page has no strict CSP"
    );
    let share = get(format!("/lists/{}/share", list.id.0), owner_cookie.clone()).await?;
    ensure!(
        share.body.contains(&format!("href=\"{page}\"")),
        "the share page links the webhooks"
    );

    // A refused target keeps what was typed and says why, on the page.
    let refused = post_form(
        &site,
        &page,
        &owner_cookie,
        format!("csrf_token={token}&url=ftp%3A%2F%2Fcrm.example%2Fx&contact_changed=on&secret="),
    )
    .await?;
    ensure!(
        refused.status == 400
            && refused.body.contains("id=\"add-errors\"")
            && refused.body.contains("value=\"ftp://crm.example/x\""),
        "refused add: {} {}",
        refused.status,
        refused.body
    );

    // No secret typed: one is generated and shown in this answer only, which is not stored.
    let added = post_form(
        &site,
        &page,
        &owner_cookie,
        format!(
            "csrf_token={token}&url=http%3A%2F%2F127.0.0.1%3A18090%2Fhook&suggestion_accepted=on&secret="
        ),
    )
    .await?;
    ensure!(added.status == 200, "add: {} {}", added.status, added.body);
    ensure!(
        added.header("cache-control") == Some("no-store"),
        "the answer with the secret may be cached"
    );
    let secret = added
        .body
        .split("<code id=\"generated-secret\">")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .context("no generated secret on the page")?
        .to_owned();
    ensure!(secret.len() >= 43, "secret {secret}");
    let hook = site.store.webhooks_of_list(list.id).await?.remove(0);
    ensure!(
        hook.events == vec![WebhookEvent::SuggestionAccepted],
        "{:?}",
        hook.events
    );
    let sealed = site.store.get_secret(hook.secret).await?.sealed;
    let opened = site.vault.open(
        &mailsig_daemon::vault::Binding::secret(SecretKind::WebhookSecret, hook.secret),
        &mailsig_daemon::vault::SealedSecret::from_bytes(sealed),
    )?;
    ensure!(
        opened.as_slice() == secret.as_bytes(),
        "the shown secret is not the sealed one"
    );
    let again = get(page.clone(), owner_cookie.clone()).await?;
    ensure!(
        again.body.contains("http://127.0.0.1:18090/hook") && !again.body.contains(&secret),
        "the listing shows the secret again or lacks the endpoint"
    );

    // A viewer of the list may not see its webhooks.
    let viewer_session =
        auth::sign_in(&site.store, "victor@mycorp.example", "victor password 1").await?;
    let viewer_page = get(page.clone(), cookie(&viewer_session)).await?;
    ensure!(viewer_page.status == 403, "viewer: {}", viewer_page.status);

    // The delivery log: an attempt answered 500.
    let upto = site.store.change_horizon().await?;
    ensure!(
        site.store
            .queue_webhook_events(
                &hook,
                QueueStep::Done { upto },
                &[NewDelivery {
                    event: WebhookEvent::SuggestionAccepted,
                    suggestion: mailsig_daemon::store::SuggestionId(42),
                    payload: "{}".into(),
                }],
            )
            .await?
    );
    let claimed = site
        .store
        .claim_webhook_deliveries(
            "page-test",
            site.store.now_ms(),
            5,
            std::time::Duration::from_secs(60),
        )
        .await?;
    site.store
        .record_webhook_attempt(
            &claimed[0],
            Some(500),
            AttemptOutcome::HttpStatus,
            AfterAttempt::RetryAt(site.store.now_ms() + 60_000),
        )
        .await?;
    let log = get(format!("{page}/{}", hook.id.0), owner_cookie.clone()).await?;
    ensure!(
        log.status == 200
            && log.body.contains("<td>500</td>")
            && log.body.contains("http_status")
            && log.body.contains("<td>42</td>"),
        "log: {} {}",
        log.status,
        log.body
    );

    // Removing: gone with its secret.
    let removed = post_form(
        &site,
        &format!("{page}/{}/remove", hook.id.0),
        &owner_cookie,
        format!("csrf_token={token}"),
    )
    .await?;
    ensure!(
        removed.status == 303
            && removed.header("location") == Some(format!("{page}?done=removed").as_str()),
        "remove: {}",
        removed.status
    );
    ensure!(site.store.webhooks_of_list(list.id).await?.is_empty());
    ensure!(
        site.store.get_secret(hook.secret).await.is_err(),
        "the secret stayed"
    );
    site.stop().await
}

/// The list's Address book page on the running daemon, without JavaScript: a wrong password is
/// refused on the form (what was typed kept, the password not), the right one connects the list
/// to a Radicale book; a suggestion accepted on the review page is then written into the book by
/// the daemon's own sync worker, and disconnecting leaves the card there.
#[tokio::test]
async fn the_address_book_page_connects_a_list_whose_accepted_contacts_reach_the_book() -> Result<()>
{
    let base = std::env::var("MAILSIG_TEST_CARDDAV_URL")
        .context("MAILSIG_TEST_CARDDAV_URL (scripts/test-servers.sh start)")?;
    let ca_path = std::env::var("MAILSIG_TEST_CA").context("MAILSIG_TEST_CA")?;
    let ca = std::fs::read_to_string(&ca_path)?;
    let site = Site::start_with_books(mailsig_daemon::books::BookSettings {
        allow_private_hosts: true,
        // An interval no test waits for: only the wake of the accept can bring the card there.
        interval: std::time::Duration::from_secs(3600),
        ..mailsig_daemon::books::BookSettings::default()
    })
    .await?;
    let owner = site.user("bea@mycorp.example", "bea password 1").await?;
    let list = site.store.create_list(owner.id, "Suppliers").await?;
    let session = auth::sign_in(&site.store, "bea@mycorp.example", "bea password 1").await?;
    let owner_cookie = cookie(&session);
    let token = auth::csrf_token(&session.session).to_owned();
    let page = format!("/lists/{}/book", list.id.0);
    let get = |path: String| {
        let (addr, tls, cookie) = (
            site.addr,
            site.env.tls_client_config(),
            owner_cookie.clone(),
        );
        async move { https(addr, tls, &Request::get(&path).header("Cookie", cookie)).await }
    };

    let empty = get(page.clone()).await?;
    ensure!(
        empty.status == 200 && empty.body.contains("id=\"no-book\""),
        "empty page: {} {}",
        empty.status,
        empty.body
    );
    ensure!(
        empty
            .header("content-security-policy")
            .is_some_and(|c| c.starts_with("default-src 'none'") && !c.contains("unsafe-inline")),
        "the page has no strict CSP"
    );
    let share = get(format!("/lists/{}/share", list.id.0)).await?;
    ensure!(
        share.body.contains(&format!("href=\"{page}\"")),
        "the share page links the address book page"
    );

    // A fresh book of the CardDAV user.
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes())?)
        .build()?;
    let book = format!("{base}/carddav/page-{:016x}/", rand::random::<u64>());
    let made = client
        .request(reqwest::Method::from_bytes(b"MKCOL")?, &book)
        .basic_auth("carddav", Some("carddav-password"))
        .header("Content-Type", "application/xml; charset=utf-8")
        .body(r#"<?xml version="1.0" encoding="utf-8"?><d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype><d:collection/><c:addressbook/></d:resourcetype><d:displayname>Suppliers book</d:displayname></d:prop></d:set></d:mkcol>"#)
        .send()
        .await?;
    ensure!(made.status().as_u16() == 201, "MKCOL: {}", made.status());
    let form = |password: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf_token", &token)
            .append_pair("url", &book)
            .append_pair("user", "carddav")
            .append_pair("password", password)
            .append_pair("ca_pem", &ca)
            .finish()
    };

    let refused = post_form(&site, &page, &owner_cookie, form("not-the-password")).await?;
    ensure!(
        refused.status == 400
            && refused.body.contains("id=\"connect-errors\"")
            && refused
                .body
                .contains("Password: the server refused this user name and password")
            && refused.body.contains(&format!("value=\"{book}\""))
            && !refused.body.contains("not-the-password"),
        "refused connect: {} {}",
        refused.status,
        refused.body
    );
    let connected = post_form(&site, &page, &owner_cookie, form("carddav-password")).await?;
    ensure!(
        connected.status == 303
            && connected
                .header("location")
                .is_some_and(|l| l == format!("{page}?done=connected")),
        "connect: {} {}",
        connected.status,
        connected.body
    );
    let shown = get(format!("{page}?done=connected")).await?;
    ensure!(
        shown.body.contains("id=\"book-url\">")
            && shown.body.contains(&book)
            && shown.body.contains("Suppliers book")
            && !shown.body.contains("carddav-password"),
        "connected page: {}",
        shown.body
    );

    // A suggestion accepted on the review page reaches the book through the daemon's worker,
    // whose round the accept starts (its interval is an hour).
    let mailbox = site
        .mailbox(owner.id, list.id, "bea@mycorp.example")
        .await?;
    let fields = SuggestionFields {
        name: Some(StoredField {
            value: "Ola Nordmann".to_owned(),
            confidence: 0.9,
            rule: "test".to_owned(),
        }),
        ..SuggestionFields::default()
    };
    let ola = site
        .suggestion(mailbox, 1, "ola@nordic.example", fields)
        .await?;
    let accepted = post_form(
        &site,
        &format!("/suggestions/{}/accept", ola.0),
        &owner_cookie,
        format!("csrf_token={token}"),
    )
    .await?;
    ensure!(
        accepted.status == 303 || accepted.status == 200,
        "accept: {}",
        accepted.status
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let link = loop {
        if let Some(link) = site.store.book_link(ola).await? {
            break link;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the accept did not wake the worker: the contact was not written in 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let card_url = url::Url::parse(&book)?.join(&link.entry.0)?;
    let card = client
        .get(card_url.clone())
        .basic_auth("carddav", Some("carddav-password"))
        .send()
        .await?;
    ensure!(card.status().is_success(), "GET card: {}", card.status());
    let text = card.text().await?;
    ensure!(
        text.contains("FN:Ola Nordmann") && text.contains("ola@nordic.example"),
        "{text}"
    );

    let disconnected = post_form(
        &site,
        &format!("{page}/disconnect"),
        &owner_cookie,
        format!("csrf_token={token}"),
    )
    .await?;
    ensure!(
        disconnected.status == 303,
        "disconnect: {}",
        disconnected.status
    );
    let after = get(format!("{page}?done=disconnected")).await?;
    ensure!(
        after.body.contains("id=\"no-book\"")
            && after
                .body
                .contains("Nothing in the address book was changed"),
        "{}",
        after.body
    );
    let still = client
        .get(card_url)
        .basic_auth("carddav", Some("carddav-password"))
        .send()
        .await?;
    ensure!(still.status().is_success(), "the card was deleted");
    Ok(())
}

/// The merge view of a contact the connected book already holds (an entry with its address)
/// offers the book's value beside the suggested one per field, the e-mails' and phones' too,
/// with the book's chosen by default; the card the daemon's worker then writes follows each
/// choice: a field chosen from the book keeps the book's value, one chosen from the suggestion
/// replaces it, the phones chosen from the book get nothing added, and a blank is filled.
#[tokio::test]
async fn the_merge_view_offers_the_books_values_and_the_written_card_follows_the_choice()
-> Result<()> {
    let base = std::env::var("MAILSIG_TEST_CARDDAV_URL")
        .context("MAILSIG_TEST_CARDDAV_URL (scripts/test-servers.sh start)")?;
    let ca = std::fs::read_to_string(std::env::var("MAILSIG_TEST_CA").context("MAILSIG_TEST_CA")?)?;
    let site = Site::start_with_books(mailsig_daemon::books::BookSettings {
        allow_private_hosts: true,
        // Rounds start only when a request wakes the worker.
        interval: std::time::Duration::from_secs(3600),
        ..mailsig_daemon::books::BookSettings::default()
    })
    .await?;
    let owner = site.user("bea@mycorp.example", "bea password 1").await?;
    let list = site.store.create_list(owner.id, "Buyers").await?;
    let session = auth::sign_in(&site.store, "bea@mycorp.example", "bea password 1").await?;
    let owner_cookie = cookie(&session);
    let token = auth::csrf_token(&session.session).to_owned();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes())?)
        .build()?;
    let book = format!("{base}/carddav/merge-{:016x}/", rand::random::<u64>());
    let made = client
        .request(reqwest::Method::from_bytes(b"MKCOL")?, &book)
        .basic_auth("carddav", Some("carddav-password"))
        .header("Content-Type", "application/xml; charset=utf-8")
        .body(r#"<?xml version="1.0" encoding="utf-8"?><d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype><d:collection/><c:addressbook/></d:resourcetype><d:displayname>Buyers book</d:displayname></d:prop></d:set></d:mkcol>"#)
        .send()
        .await?;
    ensure!(made.status().as_u16() == 201, "MKCOL: {}", made.status());
    // Ann's card, written by another client of the book.
    let card_url = url::Url::parse(&book)?.join("ann.vcf")?;
    let put = client
        .put(card_url.clone())
        .basic_auth("carddav", Some("carddav-password"))
        .header("Content-Type", "text/vcard; charset=utf-8")
        .body("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:ann\r\nFN:Ann Lee\r\nTITLE:Head of Buying\r\nEMAIL:ann@acme.example\r\nTEL;TYPE=work:+49301234567\r\nEND:VCARD\r\n")
        .send()
        .await?;
    ensure!(put.status().is_success(), "PUT: {}", put.status());

    let connect = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf_token", &token)
        .append_pair("url", &book)
        .append_pair("user", "carddav")
        .append_pair("password", "carddav-password")
        .append_pair("ca_pem", &ca)
        .finish();
    let connected = post_form(
        &site,
        &format!("/lists/{}/book", list.id.0),
        &owner_cookie,
        connect,
    )
    .await?;
    ensure!(connected.status == 303, "connect: {}", connected.status);
    // Connecting wakes the worker, whose first read puts Ann's card into the index.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while site.store.book_entry_count(list.id).await? < 1 {
        ensure!(
            std::time::Instant::now() < deadline,
            "the book was not read within 30 s of connecting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let mailbox = site
        .mailbox(owner.id, list.id, "bea@mycorp.example")
        .await?;
    let field = |value: &str| StoredField {
        value: value.to_owned(),
        confidence: 0.9,
        rule: "test".to_owned(),
    };
    let ann = site
        .suggestion(
            mailbox,
            1,
            "ann@acme.example",
            SuggestionFields {
                name: Some(field("Ann B. Lee")),
                title: Some(field("Buyer")),
                company: Some(field("Acme")),
                phones: vec![StoredPhone {
                    kind: "work".to_owned(),
                    e164: "+49301234568".to_owned(),
                    confidence: 0.9,
                    rule: "test".to_owned(),
                }],
                ..SuggestionFields::default()
            },
        )
        .await?;
    let page = format!("/suggestions/{}/merge", ann.0);
    let shown = https(
        site.addr,
        site.env.tls_client_config(),
        &Request::get(&page).header("Cookie", owner_cookie.clone()),
    )
    .await?;
    let body = &shown.body;
    ensure!(shown.status == 200, "merge view: {}", shown.status);
    for (id, value) in [
        ("name-book", "Ann Lee"),
        ("title-book", "Head of Buying"),
        ("side-phones-book", "+49301234567"),
    ] {
        let at = body
            .find(&format!("id=\"{id}\""))
            .with_context(|| format!("no {id} in the merge view: {body}"))?;
        let tail = &body[at..];
        ensure!(
            tail[..tail.find("</label>").unwrap_or(tail.len())].contains(value),
            "{id} does not offer {value}: {body}"
        );
    }
    ensure!(
        body.contains("id=\"title-book\" name=\"choice_title\" value=\"book\" checked")
            && !body.contains("id=\"company-book\""),
        "the book's title is not the default, or the book's blank company is offered: {body}"
    );

    // The reviewer takes the suggested name, keeps the book's title and the book's phones.
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf_token", &token)
        .append_pair("value_name", "Ann B. Lee")
        .append_pair("orig_name", "Ann B. Lee")
        .append_pair("choice_name", "take_new")
        .append_pair("value_title", "Buyer")
        .append_pair("orig_title", "Buyer")
        .append_pair("choice_title", "book")
        .append_pair("value_company", "Acme")
        .append_pair("orig_company", "Acme")
        .append_pair("value_address", "")
        .append_pair("orig_address", "")
        .append_pair("listed_phones", "yes")
        .append_pair("keep_phones", "+49301234568")
        .append_pair("side_phones", "book")
        .finish();
    let merged = post_form(&site, &page, &owner_cookie, form).await?;
    ensure!(
        merged.status == 303,
        "merge: {} {}",
        merged.status,
        merged.body
    );
    let contact = site.store.get_suggestion(ann).await?;
    ensure!(
        contact.status == SuggestionStatus::Merged
            && contact.fields.title.as_ref().map(|t| t.value.as_str()) == Some("Head of Buying")
            && contact.fields.name.as_ref().map(|t| t.value.as_str()) == Some("Ann B. Lee")
            && contact.fields.phones.is_empty(),
        "the contact does not follow the choice: {:?}",
        contact.fields
    );

    // The merge wakes the worker, which writes into Ann's card as chosen.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let link = loop {
        if let Some(link) = site.store.book_link(ann).await? {
            break link;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the merged contact was not written within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    ensure!(link.entry.0.ends_with("ann.vcf"), "{:?}", link.entry);
    let card = client
        .get(card_url)
        .basic_auth("carddav", Some("carddav-password"))
        .send()
        .await?
        .text()
        .await?;
    let lines = |property: &str| -> Vec<String> {
        card.lines()
            .filter(|l| {
                l.split([':', ';'])
                    .next()
                    .is_some_and(|p| p.eq_ignore_ascii_case(property))
            })
            .map(|l| l.split_once(':').map_or("", |(_, v)| v).trim().to_owned())
            .collect()
    };
    ensure!(
        lines("FN") == ["Ann B. Lee"]
            && lines("TITLE") == ["Head of Buying"]
            && lines("ORG").iter().any(|o| o.starts_with("Acme"))
            && lines("TEL").len() == 1
            && lines("TEL")[0].contains("1234567")
            && lines("EMAIL") == ["ann@acme.example"],
        "the card does not follow the choice: {card}"
    );
    Ok(())
}
