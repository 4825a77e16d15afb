//! The user-facing API end to end over a real store: sessions and CSRF, the rate limit, the
//! correlation id, validation errors and body limits, reviewing (paging, filters, merge,
//! history), export (parsed back, accepted contacts by default), the change feed of incremental
//! export, the audit log, and linking an IMAP mailbox against the real Dovecot.

use crate::api_support;

use std::net::SocketAddr;

use anyhow::{Context, Result, bail, ensure};
use api_support::{App, Auth, Backend, World, add_suggestion};
use axum::body::Body;
use axum::http::{Method, Request};
use mailsig_daemon::http::app::ApiSettings;
use mailsig_daemon::sources::imap::ImapOptions;
use mailsig_daemon::store::{MailboxKind, NewMailbox};
use serde_json::json;

async fn with_password(app: &App, email: &str, password: &str) -> Result<()> {
    let user = app.store.user_by_email(email).await?;
    let phc = mailsig_daemon::http::auth::password::hash_password(zeroize_string(password)).await?;
    app.store.set_first_password_hash(user.id, &phc).await?;
    Ok(())
}

fn zeroize_string(s: &str) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(s.to_owned())
}

/// Signs in over the API; returns (cookie value, CSRF token, the Set-Cookie header).
async fn sign_in(app: &App, email: &str, password: &str) -> Result<(String, String, String)> {
    let reply = app
        .call(
            Method::POST,
            "/api/v1/session",
            &Auth::None,
            Some(json!({"email": email, "password": password})),
        )
        .await?;
    ensure!(
        reply.status == 200,
        "sign in: {} {}",
        reply.status,
        reply.text()
    );
    let set_cookie = reply.header("set-cookie").context("Set-Cookie")?;
    let cookie = set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("__Host-mailsig_session="))
        .context("session cookie")?
        .to_owned();
    let csrf = reply.json()?["csrf_token"]
        .as_str()
        .context("csrf_token")?
        .to_owned();
    Ok((cookie, csrf, set_cookie))
}

#[tokio::test]
async fn sessions_need_csrf_for_unsafe_methods_and_bearer_does_not() -> Result<()> {
    let app = App::new(Backend::Sqlite).await?;
    let (user, token) = app.user("alice").await?;
    with_password(&app, &user.email, "correct horse battery").await?;

    let wrong = app
        .call(
            Method::POST,
            "/api/v1/session",
            &Auth::None,
            Some(json!({"email": user.email, "password": "wrong one!!"})),
        )
        .await?;
    ensure!(
        wrong.status == 400 && wrong.header("set-cookie").is_none(),
        "wrong password: {}",
        wrong.status
    );
    let unknown = app
        .call(
            Method::POST,
            "/api/v1/session",
            &Auth::None,
            Some(json!({"email": "nobody@example.test", "password": "whatever123"})),
        )
        .await?;
    ensure!(
        unknown.status == 400 && unknown.body == wrong.body,
        "unknown user answers like a wrong password"
    );

    let (cookie, csrf, set_cookie) = sign_in(&app, &user.email, "correct horse battery").await?;
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        ensure!(
            set_cookie.contains(attribute),
            "Set-Cookie {set_cookie:?} lacks {attribute}"
        );
    }
    ensure!(
        !set_cookie.contains("Domain"),
        "a __Host- cookie has no Domain"
    );
    // Only the hash of the cookie is stored.
    let stored = sessions_with_hash(&app, &cookie).await?;
    ensure!(stored == 0, "the cookie value is stored as it is");

    let me = app
        .call(
            Method::GET,
            "/api/v1/me",
            &Auth::Cookie {
                cookie: cookie.clone(),
                csrf: None,
            },
            None,
        )
        .await?;
    ensure!(
        me.status == 200 && me.json()?["email"] == user.email.as_str(),
        "GET with the cookie: {}",
        me.status
    );

    let no_token = Auth::Cookie {
        cookie: cookie.clone(),
        csrf: None,
    };
    let refused = app
        .call(
            Method::POST,
            "/api/v1/lists",
            &no_token,
            Some(json!({"name": "L"})),
        )
        .await?;
    ensure!(
        refused.status == 403 && refused.json()?["error"] == "csrf",
        "cookie POST without token: {}",
        refused.status
    );
    let wrong_token = Auth::Cookie {
        cookie: cookie.clone(),
        csrf: Some("0".repeat(64)),
    };
    ensure!(
        app.call(
            Method::POST,
            "/api/v1/lists",
            &wrong_token,
            Some(json!({"name": "L"}))
        )
        .await?
        .status
            == 403
    );
    let with_token = Auth::Cookie {
        cookie: cookie.clone(),
        csrf: Some(csrf.clone()),
    };
    let created = app
        .call(
            Method::POST,
            "/api/v1/lists",
            &with_token,
            Some(json!({"name": "L"})),
        )
        .await?;
    ensure!(
        created.status == 201,
        "cookie POST with token: {} {}",
        created.status,
        created.text()
    );

    // The form field works too (the pages' forms): CSRF passes, then the JSON endpoint says 415.
    let form = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/lists")
        .header("cookie", format!("__Host-mailsig_session={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("name=F&csrf_token={csrf}")))?;
    let reply = app.send(form, "192.0.2.1:1".parse()?).await?;
    ensure!(
        reply.status == 415,
        "form with csrf_token field: {}",
        reply.status
    );
    let form = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/lists")
        .header("cookie", format!("__Host-mailsig_session={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("name=F&csrf_token=nope"))?;
    ensure!(
        app.send(form, "192.0.2.1:1".parse()?).await?.status == 403,
        "form with a wrong csrf_token"
    );

    let bearer = app
        .call(
            Method::POST,
            "/api/v1/lists",
            &Auth::Bearer(token),
            Some(json!({"name": "B"})),
        )
        .await?;
    ensure!(
        bearer.status == 201,
        "bearer POST needs no CSRF token: {}",
        bearer.status
    );

    let out = app
        .call(Method::DELETE, "/api/v1/session", &with_token, None)
        .await?;
    ensure!(out.status == 204, "sign out: {}", out.status);
    ensure!(
        out.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "sign-out clears the cookie"
    );
    let after = app
        .call(
            Method::GET,
            "/api/v1/me",
            &Auth::Cookie { cookie, csrf: None },
            None,
        )
        .await?;
    ensure!(
        after.status == 401,
        "the ended session still works: {}",
        after.status
    );
    Ok(())
}

async fn sessions_with_hash(app: &App, value: &str) -> Result<i64> {
    use sqlx::Row;
    let row = sqlx::query("SELECT COUNT(*) AS n FROM sessions WHERE id_hash = $1")
        .bind(value)
        .fetch_one(app.store.pool())
        .await?;
    Ok(row.try_get::<i64, _>("n")?)
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_per_address_and_per_token() -> Result<()> {
    let settings = ApiSettings {
        rate_per_minute: 60,
        rate_burst: 3,
        ..ApiSettings::default()
    };
    let app = App::with_settings(Backend::Sqlite, settings).await?;
    let (_, token) = app.user("rl").await?;
    let a: SocketAddr = "198.51.100.1:1000".parse()?;
    for i in 0..3 {
        let r = app
            .call_from(Method::GET, "/api/v1/me", &Auth::None, None, a)
            .await?;
        ensure!(r.status == 401, "request {i} from a: {}", r.status);
    }
    let limited = app
        .call_from(Method::GET, "/api/v1/me", &Auth::None, None, a)
        .await?;
    ensure!(limited.status == 429, "4th request: {}", limited.status);
    let retry: u64 = limited
        .header("retry-after")
        .context("Retry-After")?
        .parse()?;
    ensure!((1..=60).contains(&retry), "Retry-After {retry}");
    ensure!(limited.json()?["error"] == "rate_limited");

    // Another address is not limited by the first one...
    let bearer = Auth::Bearer(token);
    for i in 0..3 {
        let from: SocketAddr = format!("198.51.100.{}:1000", 10 + i).parse()?;
        let r = app
            .call_from(Method::GET, "/api/v1/me", &bearer, None, from)
            .await?;
        ensure!(r.status == 200, "token request {i}: {}", r.status);
    }
    // ...but one token is limited across addresses.
    let r = app
        .call_from(
            Method::GET,
            "/api/v1/me",
            &bearer,
            None,
            "198.51.100.99:1000".parse()?,
        )
        .await?;
    ensure!(
        r.status == 429 && r.header("retry-after").is_some(),
        "4th token request from a new address: {}",
        r.status
    );
    // The operations endpoints are not rate limited.
    ensure!(
        app.call_from(Method::GET, "/healthz", &Auth::None, None, a)
            .await?
            .status
            == 200
    );
    Ok(())
}

#[tokio::test]
async fn correlation_id_is_echoed_or_made_up() -> Result<()> {
    let app = App::new(Backend::Sqlite).await?;
    let request = Request::builder()
        .uri("/api/v1/me")
        .header("x-request-id", "trace-me-42")
        .body(Body::empty())?;
    let reply = app.send(request, "192.0.2.1:1".parse()?).await?;
    ensure!(
        reply.header("x-request-id").as_deref() == Some("trace-me-42"),
        "echo: {:?}",
        reply.header("x-request-id")
    );
    let reply = app.call(Method::GET, "/healthz", &Auth::None, None).await?;
    let made = reply.header("x-request-id").context("made-up id")?;
    ensure!(
        made.len() == 32 && made.chars().all(|c| c.is_ascii_hexdigit()),
        "made-up id {made:?}"
    );
    let other = app
        .call(Method::GET, "/healthz", &Auth::None, None)
        .await?
        .header("x-request-id");
    ensure!(
        other.as_deref() != Some(made.as_str()),
        "two requests got the same id"
    );
    // A client id that is too long or holds other characters is replaced, not echoed or logged.
    for unusable in ["x".repeat(65), "two words".to_owned(), "a\"b<c>".to_owned()] {
        let request = Request::builder()
            .uri("/healthz")
            .header("x-request-id", unusable.as_str())
            .body(Body::empty())?;
        let reply = app.send(request, "192.0.2.1:1".parse()?).await?;
        let echoed = reply.header("x-request-id").context("replacement id")?;
        ensure!(
            echoed != unusable
                && echoed.len() == 32
                && echoed.chars().all(|c| c.is_ascii_hexdigit()),
            "{unusable:?} came back as {echoed:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn validation_errors_name_fields_and_bodies_are_limited() -> Result<()> {
    let w = World::new(Backend::Sqlite).await?;
    let owner = Auth::Bearer(w.owner.1.clone());
    let reply = w
        .app
        .call(Method::POST, "/api/v1/lists", &owner, Some(json!({})))
        .await?;
    ensure!(reply.status == 400, "{}", reply.status);
    let body = reply.json()?;
    ensure!(
        body["error"] == "validation"
            && body["fields"][0]["field"] == "name"
            && body["fields"][0]["code"] == "required",
        "{body}"
    );

    let path = format!("/api/v1/lists/{}/members", w.list.0);
    let reply = w
        .app
        .call(
            Method::POST,
            &path,
            &owner,
            Some(json!({"email": "not-an-address", "role": "king"})),
        )
        .await?;
    let body = reply.json()?;
    let fields: Vec<(String, String)> = body["fields"]
        .as_array()
        .context("fields")?
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap_or_default().to_owned(),
                f["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    ensure!(
        fields
            == [
                ("email".to_owned(), "email".to_owned()),
                ("role".to_owned(), "choice".to_owned())
            ],
        "{fields:?}"
    );

    let path = format!("/api/v1/lists/{}/suggestions?limit=100000", w.list.0);
    let body = w.app.call(Method::GET, &path, &owner, None).await?.json()?;
    ensure!(
        body["fields"][0]["field"] == "limit" && body["fields"][0]["code"] == "number",
        "{body}"
    );

    let big = json!({"name": "x".repeat(70 * 1024)});
    let reply = w
        .app
        .call(Method::POST, "/api/v1/lists", &owner, Some(big))
        .await?;
    ensure!(
        reply.status == 413 && reply.json()?["error"] == "too_large",
        "70 KiB body: {}",
        reply.status
    );

    let long = json!({"name": "x".repeat(300)});
    let body = w
        .app
        .call(Method::POST, "/api/v1/lists", &owner, Some(long))
        .await?
        .json()?;
    ensure!(body["fields"][0]["code"] == "text", "{body}");

    let garbage = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/lists")
        .header("authorization", format!("Bearer {}", w.owner.1))
        .header("content-type", "application/json")
        .body(Body::from("{not json"))?;
    let reply = w.app.send(garbage, "192.0.2.1:1".parse()?).await?;
    ensure!(
        reply.status == 400 && reply.json()?["error"] == "validation",
        "broken JSON: {}",
        reply.status
    );

    let unknown = w
        .app
        .call(Method::GET, "/api/v1/nothing-here", &owner, None)
        .await?;
    ensure!(
        unknown.status == 404 && unknown.json()?["error"] == "no_route",
        "unknown route: {}",
        unknown.status
    );
    Ok(())
}

#[tokio::test]
async fn review_pages_filters_merges_and_keeps_history() -> Result<()> {
    for backend in api_support::BACKENDS {
        review(backend)
            .await
            .with_context(|| format!("{backend:?}"))?;
    }
    Ok(())
}

async fn review(backend: Backend) -> Result<()> {
    let w = World::new(backend).await?;
    let editor = Auth::Bearer(w.editor.1.clone());
    for i in 0..5 {
        add_suggestion(
            &w.app.store,
            w.mailbox,
            &format!("p{i}@corp{i}.example"),
            &[("name", &format!("Person {i}"))],
        )
        .await?;
    }
    // Paging: 6 suggestions, pages of 4 then 2.
    let base = format!("/api/v1/lists/{}/suggestions", w.list.0);
    let first = w
        .app
        .call(Method::GET, &format!("{base}?limit=4"), &editor, None)
        .await?
        .json()?;
    ensure!(
        first["items"].as_array().map(Vec::len) == Some(4),
        "{first}"
    );
    let cursor = first["next_cursor"].as_str().context("next_cursor")?;
    let second = w
        .app
        .call(
            Method::GET,
            &format!("{base}?limit=4&cursor={cursor}"),
            &editor,
            None,
        )
        .await?
        .json()?;
    ensure!(
        second["items"].as_array().map(Vec::len) == Some(2) && second["next_cursor"].is_null(),
        "{second}"
    );
    let found = w
        .app
        .call(Method::GET, &format!("{base}?q=PERSON%203"), &editor, None)
        .await?
        .json()?;
    ensure!(
        found["items"].as_array().map(Vec::len) == Some(1)
            && found["items"][0]["sender_email"] == "p3@corp3.example",
        "{found}"
    );
    let wildcard = w
        .app
        .call(Method::GET, &format!("{base}?q=%25"), &editor, None)
        .await?
        .json()?;
    ensure!(
        wildcard["items"].as_array().map(Vec::len) == Some(0),
        "% is searched literally: {wildcard}"
    );

    // A second message changes the title: history has CTO -> VP.
    add_suggestion(
        &w.app.store,
        w.mailbox,
        "ann@acme.example",
        &[("name", "Ann Example"), ("title", "VP")],
    )
    .await?;
    let path = format!("/api/v1/suggestions/{}/merge", w.suggestion.0);
    let merged = w
        .app
        .call(
            Method::POST,
            &path,
            &editor,
            Some(json!({"fields": [
                {"field": "title", "choice": "keep_old"},
                {"field": "name", "choice": "typed", "value": "Ann Q. Example"},
                {"field": "company", "choice": "take_new"}
            ]})),
        )
        .await?;
    ensure!(
        merged.status == 200,
        "merge: {} {}",
        merged.status,
        merged.text()
    );
    let merged = merged.json()?;
    ensure!(merged["status"] == "merged", "{merged}");
    ensure!(
        merged["fields"]["title"]["value"] == "CTO",
        "keep_old restores the older title: {merged}"
    );
    ensure!(
        merged["fields"]["name"]["value"] == "Ann Q. Example",
        "typed name: {merged}"
    );

    let bad = w
        .app
        .call(
            Method::POST,
            &path,
            &editor,
            Some(json!({"fields": [{"field": "emails", "choice": "take_new"}]})),
        )
        .await?;
    ensure!(
        bad.status == 400 && bad.json()?["fields"][0]["code"] == "choice",
        "list field in merge: {}",
        bad.status
    );

    let history = w
        .app
        .call(
            Method::GET,
            &format!("/api/v1/suggestions/{}/history", w.suggestion.0),
            &editor,
            None,
        )
        .await?
        .json()?;
    let changes: Vec<(String, String, String)> = history
        .as_array()
        .context("history")?
        .iter()
        .map(|h| {
            (
                h["field"].as_str().unwrap_or_default().to_owned(),
                h["old_value"].as_str().unwrap_or_default().to_owned(),
                h["new_value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("title", "CTO", "VP"),
        ("title", "VP", "CTO"),
        ("name", "Ann Example", "Ann Q. Example"),
        ("status", "new", "merged"),
    ] {
        let e = (
            expected.0.to_owned(),
            expected.1.to_owned(),
            expected.2.to_owned(),
        );
        ensure!(
            changes.contains(&e),
            "history lacks {expected:?}: {changes:?}"
        );
    }

    // The mailbox's status counts what the pipeline committed, with skip reasons.
    w.app
        .store
        .commit_message(mailsig_daemon::store::CommitMessage {
            mailbox: w.mailbox,
            folder: "INBOX".into(),
            cursor: mailsig_daemon::store::Cursor::None,
            message_id_hash: format!("{:032x}", rand::random::<u128>()),
            outcome: mailsig_daemon::store::Outcome::Skipped(
                mailsig_daemon::domain::SkipReason::Bulk,
            ),
            fencing: None,
        })
        .await?;
    let owner = Auth::Bearer(w.owner.1.clone());
    let status = w
        .app
        .call(
            Method::GET,
            &format!("/api/v1/mailboxes/{}/status", w.mailbox.0),
            &owner,
            None,
        )
        .await?
        .json()?;
    ensure!(
        status["counters"]["processed"].as_i64() == Some(8),
        "7 suggestions + 1 skip processed: {status}"
    );
    ensure!(
        status["skipped"]["bulk"] == 1 && status["last_activity"].is_i64(),
        "{status}"
    );

    // Reads and changes are audited with the actor and ids only.
    let audit = w.app.store.audit_log(200).await?;
    for action in ["suggestion.list", "suggestion.merge", "suggestion.history"] {
        ensure!(
            audit
                .iter()
                .any(|e| e.action.as_str() == action && e.actor == Some(w.editor.0.id)),
            "no {action} by the editor in the audit log"
        );
    }
    ensure!(
        !audit
            .iter()
            .any(|e| e.detail.as_deref().is_some_and(|d| d.contains("Ann"))),
        "content in the audit log"
    );
    Ok(())
}

/// Unfolds RFC 6350 content lines.
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in text.split("\r\n") {
        if let Some(rest) = line.strip_prefix(' ') {
            if let Some(last) = lines.last_mut() {
                last.push_str(rest);
            }
        } else if !line.is_empty() {
            lines.push(line.to_owned());
        }
    }
    lines
}

/// Parses RFC 4180 CSV (quoted cells, doubled quotes, CRLF records).
fn parse_csv(text: &str) -> Result<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {
                ensure!(chars.next() == Some('\n'), "CR without LF");
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => bail!("unquoted character {c:?}"),
        }
    }
    ensure!(
        row.is_empty() && cell.is_empty(),
        "last record not terminated by CRLF"
    );
    Ok(rows)
}

#[tokio::test]
async fn export_as_vcard_and_csv_parses_back_and_is_audited() -> Result<()> {
    let w = World::new(Backend::Postgres).await?;
    let viewer = Auth::Bearer(w.viewer.1.clone());
    let bob = add_suggestion(
        &w.app.store,
        w.mailbox,
        "bob@tricky.example",
        &[
            ("name", "=cmd|' /C calc'!A0"),
            ("company", "Acme, Inc.; \"Widgets\"\\Tools"),
            (
                "title",
                "Head of Ünicode Äffairs and a very long title that must be folded somewhere",
            ),
            ("phone", "+4930123456"),
            ("address", "Main St 1\n10115 Berlin"),
        ],
    )
    .await?;
    let dismissed = add_suggestion(
        &w.app.store,
        w.mailbox,
        "gone@dismissed.example",
        &[("name", "Dismissed Person")],
    )
    .await?;
    w.app
        .store
        .set_suggestion_status(
            dismissed,
            mailsig_daemon::store::SuggestionStatus::Dismissed,
        )
        .await?;
    // Ann (the world's suggestion) stays unreviewed: by default only accepted contacts leave.
    w.app
        .store
        .set_suggestion_status(bob, mailsig_daemon::store::SuggestionStatus::Accepted)
        .await?;
    let reply = w
        .app
        .call(
            Method::GET,
            &format!("/api/v1/lists/{}/export.vcf", w.list.0),
            &viewer,
            None,
        )
        .await?;
    ensure!(reply.status == 200, "vcf: {}", reply.status);
    // Named after the list ("Shared"), as the pages' downloads are.
    let disposition = reply.header("content-disposition").unwrap_or_default();
    ensure!(
        disposition.contains("filename=\"Shared.vcf\""),
        "file name: {disposition:?}"
    );
    let text = reply.text();
    ensure!(
        text.matches("BEGIN:VCARD").count() == 1
            && text.contains("EMAIL:bob@tricky.example")
            && !text.contains("Ann Example"),
        "the default export is not the accepted contact alone:\n{text}"
    );
    let reply = w
        .app
        .call(
            Method::GET,
            &format!("/api/v1/lists/{}/export.vcf?include=nonsense", w.list.0),
            &viewer,
            None,
        )
        .await?;
    ensure!(reply.status == 400, "include=nonsense: {}", reply.status);
    ensure!(reply.json()?["fields"][0]["field"] == "include");

    let reply = w
        .app
        .call(
            Method::GET,
            &format!("/api/v1/lists/{}/export.vcf?include=all", w.list.0),
            &viewer,
            None,
        )
        .await?;
    ensure!(reply.status == 200, "vcf: {}", reply.status);
    ensure!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/vcard")),
        "content type"
    );
    let text = reply.text();
    ensure!(
        text.split("\r\n").all(|l| l.len() <= 75),
        "a line longer than 75 octets"
    );
    let lines = unfold(&text);
    ensure!(
        lines.iter().filter(|l| *l == "BEGIN:VCARD").count() == 2,
        "two cards (dismissed left out): {lines:?}"
    );
    ensure!(lines.iter().filter(|l| *l == "VERSION:4.0").count() == 2);
    for expected in [
        "FN:Ann Example",
        "ORG:Acme\\, Inc.\\; \"Widgets\"\\\\Tools",
        "TITLE:Head of Ünicode Äffairs and a very long title that must be folded somewhere",
        "TEL;VALUE=uri;TYPE=\"work,voice\":tel:+4930123456",
        "ADR;TYPE=work;LABEL=\"Main St 1, 10115 Berlin\":;;Main St 1;Berlin;;10115;",
        "N:calc'!A0;=cmd|' /C;;;",
        "EMAIL:bob@tricky.example",
    ] {
        ensure!(
            lines.iter().any(|l| l == expected),
            "no line {expected:?} in {lines:#?}"
        );
    }
    ensure!(
        !text.contains("Dismissed Person"),
        "dismissed suggestion exported"
    );

    let reply = w
        .app
        .call(
            Method::GET,
            &format!("/api/v1/lists/{}/export.csv?include=all", w.list.0),
            &viewer,
            None,
        )
        .await?;
    ensure!(reply.status == 200, "csv: {}", reply.status);
    let disposition = reply.header("content-disposition").unwrap_or_default();
    ensure!(
        disposition.contains("filename=\"Shared.csv\""),
        "file name: {disposition:?}"
    );
    let rows = parse_csv(&reply.text())?;
    ensure!(rows.len() == 3, "header + 2 rows: {rows:?}");
    // Google Contacts' column names, one type/value pair per e-mail and phone.
    let header = &rows[0];
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("no column {name:?} in {header:?}"))
    };
    ensure!(header[0] == "Name", "header {header:?}");
    let bob = rows
        .iter()
        .find(|r| r[col("E-mail 1 - Value").unwrap_or(0)] == "bob@tricky.example")
        .context("bob's row")?;
    ensure!(
        bob[col("Name")?] == "'=cmd|' /C calc'!A0",
        "formula not neutralised: {:?}",
        bob[0]
    );
    ensure!(
        bob[col("Organization 1 - Name")?] == "Acme, Inc.; \"Widgets\"\\Tools",
        "company {:?}",
        bob[col("Organization 1 - Name")?]
    );
    ensure!(
        bob[col("Phone 1 - Value")?] == "+4930123456" && bob[col("Phone 1 - Type")?] == "Work",
        "phone cell: {:?} {:?} (no apostrophe: a phone number is no formula)",
        bob[col("Phone 1 - Type")?],
        bob[col("Phone 1 - Value")?]
    );
    ensure!(
        !rows.iter().flatten().any(|c| c.starts_with("'+")),
        "a phone number got an apostrophe: {rows:?}"
    );
    ensure!(
        bob[col("Notes")?].is_empty() && bob[col("mailsig Status")?] == "accepted",
        "notes/status: {:?}",
        bob
    );
    ensure!(
        bob[col("Address 1 - Formatted")?] == "Main St 1\n10115 Berlin"
            && bob[col("Address 1 - Street")?] == "Main St 1"
            && bob[col("Address 1 - City")?] == "Berlin"
            && bob[col("Address 1 - Postal Code")?] == "10115",
        "address: {:?}",
        bob
    );

    let audit = w.app.store.audit_log(50).await?;
    let exports: Vec<_> = audit
        .iter()
        .filter(|e| e.action.as_str() == "suggestion.export" && e.actor == Some(w.viewer.0.id))
        .collect();
    ensure!(exports.len() == 3, "three audited exports: {exports:?}");
    Ok(())
}

#[tokio::test]
async fn linking_imap_tests_the_login_and_keeps_the_password_write_only() -> Result<()> {
    let env = mailsig_tests::servers::TestEnv::from_env()?;
    let mail_user = env.create_mail_user()?;
    let w = World::new(Backend::Postgres).await?;
    let owner = Auth::Bearer(w.owner.1.clone());
    let port = i64::from(env.imap_port);
    let secrets_before = w.app.store.all_secrets().await?.len();
    let mailboxes_before = w.app.store.list_mailboxes(&Default::default()).await?.len();
    let form = |password: &str| {
        json!({
            "list": w.list.0, "host": "127.0.0.1", "port": port, "security": "plaintext",
            "username": mail_user.name, "address": mail_user.address, "password": password,
            "excluded_domains": ["News.Example"]
        })
    };

    let wrong = w
        .app
        .call(
            Method::POST,
            "/api/v1/mailboxes/imap",
            &owner,
            Some(form("not-the-password")),
        )
        .await?;
    ensure!(
        wrong.status == 422,
        "wrong password: {} {}",
        wrong.status,
        wrong.text()
    );
    ensure!(wrong.json()?["auth_failed"] == true, "{}", wrong.text());
    ensure!(
        !wrong.text().contains("not-the-password"),
        "the password is echoed"
    );
    ensure!(
        w.app.store.all_secrets().await?.len() == secrets_before,
        "a secret was stored for a failed link"
    );
    ensure!(
        w.app.store.list_mailboxes(&Default::default()).await?.len() == mailboxes_before,
        "a mailbox was stored"
    );

    let linked = w
        .app
        .call(
            Method::POST,
            "/api/v1/mailboxes/imap",
            &owner,
            Some(form(&mail_user.password)),
        )
        .await?;
    ensure!(
        linked.status == 201,
        "right password: {} {}",
        linked.status,
        linked.text()
    );
    ensure!(
        !linked.text().contains(&mail_user.password),
        "the password is in the response"
    );
    let body = linked.json()?;
    ensure!(
        body["has_credentials"] == true && body["excluded_domains"] == json!(["news.example"]),
        "{body}"
    );
    let id = body["id"].as_i64().context("mailbox id")?;
    ensure!(
        w.app.store.all_secrets().await?.len() == secrets_before + 1,
        "the sealed password is stored"
    );
    for path in [
        format!("/api/v1/mailboxes/{id}"),
        format!("/api/v1/mailboxes/{id}/status"),
        "/api/v1/mailboxes".to_owned(),
    ] {
        let reply = w.app.call(Method::GET, &path, &owner, None).await?;
        ensure!(
            reply.status == 200 && !reply.text().contains(&mail_user.password),
            "{path}: {}",
            reply.status
        );
    }
    let status = w
        .app
        .call(
            Method::GET,
            &format!("/api/v1/mailboxes/{id}/status"),
            &owner,
            None,
        )
        .await?
        .json()?;
    ensure!(
        status["needs_attention"] == false && status["status"] == "ok",
        "{status}"
    );
    // A new password is tested before it replaces the old one, which is wiped.
    let path = format!("/api/v1/mailboxes/{id}/password");
    let secret_before = w
        .app
        .store
        .get_mailbox(mailsig_daemon::store::MailboxId(id))
        .await?
        .secret;
    let refused = w
        .app
        .call(
            Method::PUT,
            &path,
            &owner,
            Some(json!({"password": "still-wrong"})),
        )
        .await?;
    ensure!(
        refused.status == 422,
        "wrong new password: {}",
        refused.status
    );
    ensure!(
        w.app
            .store
            .get_mailbox(mailsig_daemon::store::MailboxId(id))
            .await?
            .secret
            == secret_before,
        "a refused password replaced the stored one"
    );
    let replaced = w
        .app
        .call(
            Method::PUT,
            &path,
            &owner,
            Some(json!({"password": mail_user.password})),
        )
        .await?;
    ensure!(
        replaced.status == 200 && !replaced.text().contains(&mail_user.password),
        "right new password: {}",
        replaced.status
    );
    let secret_after = w
        .app
        .store
        .get_mailbox(mailsig_daemon::store::MailboxId(id))
        .await?
        .secret;
    ensure!(
        secret_after.is_some() && secret_after != secret_before,
        "the secret was not replaced"
    );
    ensure!(
        w.app.store.all_secrets().await?.len() == secrets_before + 1,
        "the old secret was not wiped"
    );
    // Someone else's list cannot receive the mailbox's suggestions.
    let foreign = w
        .app
        .call(
            Method::PUT,
            &format!("/api/v1/mailboxes/{id}/list"),
            &owner,
            Some(json!({"list": w.stranger_list.0})),
        )
        .await?;
    ensure!(
        foreign.status == 404,
        "pointing at a stranger's list: {}",
        foreign.status
    );

    let unlinked = w
        .app
        .call(
            Method::DELETE,
            &format!("/api/v1/mailboxes/{id}"),
            &owner,
            None,
        )
        .await?;
    ensure!(unlinked.status == 204, "unlink: {}", unlinked.status);
    ensure!(
        w.app.store.all_secrets().await?.len() == secrets_before,
        "the secret row survived the unlink"
    );
    ensure!(
        w.app
            .call(
                Method::GET,
                &format!("/api/v1/mailboxes/{id}"),
                &owner,
                None
            )
            .await?
            .status
            == 404
    );
    Ok(())
}

#[tokio::test]
async fn tokens_are_shown_once_and_can_be_revoked() -> Result<()> {
    let app = App::new(Backend::Sqlite).await?;
    let (_, token) = app.user("tok").await?;
    let auth = Auth::Bearer(token);
    let created = app
        .call(
            Method::POST,
            "/api/v1/me/tokens",
            &auth,
            Some(json!({"label": "laptop"})),
        )
        .await?;
    ensure!(created.status == 201, "{}", created.status);
    let body = created.json()?;
    let secret = body["secret"].as_str().context("secret")?.to_owned();
    ensure!(
        secret.starts_with("msig_") && secret.len() == 5 + 64,
        "token shape {secret:?}"
    );
    let id = body["id"].as_i64().context("id")?;
    let listed = app
        .call(Method::GET, "/api/v1/me/tokens", &auth, None)
        .await?;
    ensure!(!listed.text().contains(&secret), "the token is listed");
    let new_auth = Auth::Bearer(secret);
    ensure!(
        app.call(Method::GET, "/api/v1/me", &new_auth, None)
            .await?
            .status
            == 200
    );
    ensure!(
        app.call(
            Method::DELETE,
            &format!("/api/v1/me/tokens/{id}"),
            &auth,
            None
        )
        .await?
        .status
            == 204
    );
    ensure!(
        app.call(Method::GET, "/api/v1/me", &new_auth, None)
            .await?
            .status
            == 401,
        "revoked token still works"
    );
    Ok(())
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_email_and_source_and_sessions_expire() -> Result<()> {
    let clock = mailsig_daemon::clock::Clock::manual(mailsig_daemon::clock::Clock::System.now_ms());
    let app = App::with_clock(Backend::Sqlite, clock.clone()).await?;
    let (user, _) = app.user("guess").await?;
    with_password(&app, &user.email, "the real password").await?;
    let mut statuses = Vec::new();
    // One guesser, one address: after the free failures that source waits (failures from
    // elsewhere cannot lock the owner out: `abuse::failed_sign_ins_from_elsewhere_…`).
    let from: SocketAddr = "203.0.113.7:5000".parse()?;
    for i in 0..mailsig_daemon::http::auth::throttle::SOURCE.free + 1 {
        let body = json!({"email": user.email, "password": format!("guess number {i}")});
        statuses.push(
            app.call_from(
                Method::POST,
                "/api/v1/session",
                &Auth::None,
                Some(body),
                from,
            )
            .await?,
        );
    }
    let last = statuses.pop().context("replies")?;
    ensure!(
        statuses.iter().all(|r| r.status == 400),
        "guesses before the limit: {:?}",
        statuses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    ensure!(
        last.status == 429 && last.header("retry-after").is_some(),
        "guess over the limit: {}",
        last.status
    );
    // Even the right password waits now, from that source.
    let right = app
        .call_from(
            Method::POST,
            "/api/v1/session",
            &Auth::None,
            Some(json!({"email": user.email, "password": "the real password"})),
            from,
        )
        .await?;
    ensure!(
        right.status == 429,
        "right password during the lock-out: {}",
        right.status
    );

    // A session past its lifetime is refused, and purged with the soft-deleted rows.
    let (other, _) = app.user("expiry").await?;
    with_password(&app, &other.email, "another good password").await?;
    let short = mailsig_daemon::http::auth::sign_in_for(
        &app.store,
        &other.email,
        "another good password",
        std::time::Duration::from_millis(50),
    )
    .await?;
    let cookie = Auth::Cookie {
        cookie: short.cookie_value().to_owned(),
        csrf: None,
    };
    ensure!(
        app.call(Method::GET, "/api/v1/me", &cookie, None)
            .await?
            .status
            == 200,
        "fresh session"
    );
    clock.advance(std::time::Duration::from_millis(120));
    ensure!(
        app.call(Method::GET, "/api/v1/me", &cookie, None)
            .await?
            .status
            == 401,
        "expired session accepted"
    );
    app.store.purge_deleted(30).await?;
    ensure!(
        sessions_with_hash(&app, &hex_sha256(short.cookie_value())).await? == 0,
        "expired session not purged"
    );
    Ok(())
}

fn hex_sha256(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn behind_a_proxy_the_rate_limit_follows_the_forwarded_address() -> Result<()> {
    let settings = ApiSettings {
        rate_per_minute: 60,
        rate_burst: 2,
        trusted_proxies: mailsig_daemon::http::client_address::TrustedProxies::parse(&["10.0.0.1"])
            .map_err(anyhow::Error::msg)?,
        ..ApiSettings::default()
    };
    let app = App::with_settings(Backend::Sqlite, settings).await?;
    let proxy: SocketAddr = "10.0.0.1:3000".parse()?;
    let from = |client: &str| -> Result<Request<Body>> {
        // The first entry is whatever the client claimed; the proxy appended the real one.
        Ok(Request::builder()
            .uri("/api/v1/me")
            .header("x-forwarded-for", format!("1.2.3.4, {client}"))
            .body(Body::empty())?)
    };
    for _ in 0..2 {
        ensure!(app.send(from("198.51.100.7")?, proxy).await?.status == 401);
    }
    ensure!(
        app.send(from("198.51.100.7")?, proxy).await?.status == 429,
        "the forwarded client is not limited"
    );
    ensure!(
        app.send(from("198.51.100.8")?, proxy).await?.status == 401,
        "another client behind the same proxy is limited"
    );
    Ok(())
}

/// The SSRF guard: with the default `[imap]` options a signed-in user cannot make the daemon
/// connect to loopback or private addresses (by address or by a name resolving to one), not
/// even with working credentials of a real server there; nothing is stored. The operator can
/// allow one host by name (`imap.allowed_hosts`), and the password-replacement path is guarded too.
#[tokio::test]
async fn a_user_cannot_link_internal_hosts_unless_the_operator_allows_them() -> Result<()> {
    let env = mailsig_tests::servers::TestEnv::from_env()?;
    let mail_user = env.create_mail_user()?;
    let port = i64::from(env.imap_port);
    let strict = ImapOptions {
        allow_plaintext_loopback: true,
        ..ImapOptions::default()
    };
    let w = World::with_imap(Backend::Sqlite, strict).await?;
    let stranger = Auth::Bearer(w.stranger.1.clone());
    let secrets_before = w.app.store.all_secrets().await?.len();
    let mailboxes_before = w.app.store.list_mailboxes(&Default::default()).await?.len();
    let form = |host: &str, port: i64, security: &str| {
        json!({
            "list": w.stranger_list.0, "host": host, "port": port, "security": security,
            "username": mail_user.name, "address": mail_user.address, "password": mail_user.password,
        })
    };
    let cases = [
        ("127.0.0.1", port, "plaintext", "host"),
        ("localhost", port, "plaintext", "host"),
        ("[::1]", port, "plaintext", "host"),
        ("10.0.0.1", 993, "tls", "host"),
        ("169.254.169.254", 993, "tls", "host"),
        ("100.64.0.1", 993, "tls", "host"),
        ("[::ffff:127.0.0.1]", 993, "tls", "host"),
        ("0.0.0.0", 993, "tls", "host"),
        ("1.1.1.1", 25, "tls", "port"),
    ];
    for (host, port, security, field) in cases {
        let reply = w
            .app
            .call(
                Method::POST,
                "/api/v1/mailboxes/imap",
                &stranger,
                Some(form(host, port, security)),
            )
            .await?;
        ensure!(
            reply.status == 400,
            "{host}:{port} was not refused: {} {}",
            reply.status,
            reply.text()
        );
        let body = reply.json()?;
        ensure!(
            body["fields"][0]["field"] == field && body["fields"][0]["code"] == "choice",
            "{host}:{port}: {body}"
        );
        ensure!(
            !reply.text().contains(&mail_user.password),
            "the password is echoed"
        );
    }
    // A name with no address (RFC 2606 reserves .invalid) is the user's typo: a field error too.
    let reply = w
        .app
        .call(
            Method::POST,
            "/api/v1/mailboxes/imap",
            &stranger,
            Some(form("imap.no-such-host.invalid", 993, "tls")),
        )
        .await?;
    let body = reply.json()?;
    ensure!(
        reply.status == 400
            && body["fields"][0]["field"] == "host"
            && body["fields"][0]["code"] == "text",
        "unresolvable host: {} {body}",
        reply.status
    );
    ensure!(
        w.app.store.all_secrets().await?.len() == secrets_before,
        "a refused link stored a secret"
    );
    ensure!(
        w.app.store.list_mailboxes(&Default::default()).await?.len() == mailboxes_before,
        "a refused link stored a mailbox"
    );

    // A mailbox pointing at an internal host (linked by the operator's CLI): a user's new
    // password is not tested against it either.
    let internal = w
        .app
        .store
        .create_mailbox(NewMailbox {
            owner: w.stranger.0.id,
            kind: MailboxKind::Imap,
            address: mail_user.address.clone(),
            display_name: None,
            target_list: w.stranger_list,
            excluded_domains: vec![],
            settings: json!({
                "host": "127.0.0.1", "port": port, "security": "plaintext",
                "username": mail_user.name, "folders": [], "ca_file": null, "backfill": 0
            }),
            secret: None,
        })
        .await?;
    let reply = w
        .app
        .call(
            Method::PUT,
            &format!("/api/v1/mailboxes/{}/password", internal.id.0),
            &stranger,
            Some(json!({"password": mail_user.password})),
        )
        .await?;
    ensure!(
        reply.status == 400 && reply.json()?["fields"][0]["field"] == "host",
        "password replacement towards an internal host: {} {}",
        reply.status,
        reply.text()
    );
    ensure!(
        w.app.store.get_mailbox(internal.id).await?.secret.is_none(),
        "a refused password was stored"
    );

    // The operator allows one internal server by name: the same link now works (real Dovecot).
    let named = ImapOptions {
        allow_plaintext_loopback: true,
        allowed_hosts: vec!["localhost".to_owned()],
        ..ImapOptions::default()
    };
    let w = World::with_imap(Backend::Sqlite, named).await?;
    let stranger = Auth::Bearer(w.stranger.1.clone());
    let form = |host: &str| {
        json!({
            "list": w.stranger_list.0, "host": host, "port": port, "security": "plaintext",
            "username": mail_user.name, "address": mail_user.address, "password": mail_user.password,
        })
    };
    let other = w
        .app
        .call(
            Method::POST,
            "/api/v1/mailboxes/imap",
            &stranger,
            Some(form("127.0.0.1")),
        )
        .await?;
    ensure!(
        other.status == 400,
        "an address not in allowed_hosts: {}",
        other.status
    );
    let allowed = w
        .app
        .call(
            Method::POST,
            "/api/v1/mailboxes/imap",
            &stranger,
            Some(form("localhost")),
        )
        .await?;
    ensure!(
        allowed.status == 201,
        "an allowed internal host: {} {}",
        allowed.status,
        allowed.text()
    );
    Ok(())
}

/// Deleting a list: refused with 409 while a live mailbox delivers into it; once that mailbox is
/// unlinked, the owner deletes it and the list, its suggestions, its shares and its exports are
/// gone for every member (404, absent from `GET /lists`), a second delete is 404, and the
/// deletion is audited. Both backends.
#[tokio::test]
async fn deleting_a_list_removes_it_with_its_suggestions_and_shares_for_everyone() -> Result<()> {
    for backend in api_support::BACKENDS {
        delete_list(backend)
            .await
            .with_context(|| format!("{backend:?}"))?;
    }
    Ok(())
}

async fn delete_list(backend: Backend) -> Result<()> {
    let w = World::new(backend).await?;
    let owner = Auth::Bearer(w.owner.1.clone());
    let editor = Auth::Bearer(w.editor.1.clone());
    let viewer = Auth::Bearer(w.viewer.1.clone());
    let list_path = format!("/api/v1/lists/{}", w.list.0);

    // The owner's mailbox still delivers into the list: 409 with a message that says so.
    let busy = w.app.call(Method::DELETE, &list_path, &owner, None).await?;
    ensure!(
        busy.status == 409,
        "delete with a live mailbox: {} {}",
        busy.status,
        busy.text()
    );
    let body = busy.json()?;
    ensure!(body["error"] == "in_use", "{body}");
    ensure!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("mailbox") && m.contains("unlink")),
        "the 409 does not say what to do: {body}"
    );
    ensure!(
        w.app
            .call(Method::GET, &list_path, &viewer, None)
            .await?
            .status
            == 200,
        "a refused delete removed the list"
    );

    // Unlink the mailbox, then delete.
    let unlinked = w
        .app
        .call(
            Method::DELETE,
            &format!("/api/v1/mailboxes/{}", w.mailbox.0),
            &owner,
            None,
        )
        .await?;
    ensure!(unlinked.status == 204, "unlink: {}", unlinked.status);
    for (who, auth) in [("editor", &editor), ("viewer", &viewer)] {
        let refused = w.app.call(Method::DELETE, &list_path, auth, None).await?;
        ensure!(refused.status == 403, "{who} deleting: {}", refused.status);
    }
    let deleted = w.app.call(Method::DELETE, &list_path, &owner, None).await?;
    ensure!(
        deleted.status == 204,
        "delete: {} {}",
        deleted.status,
        deleted.text()
    );

    // Gone from every view, for every member.
    let suggestion_path = format!("/api/v1/suggestions/{}", w.suggestion.0);
    for (who, auth) in [("owner", &owner), ("editor", &editor), ("viewer", &viewer)] {
        let lists = w
            .app
            .call(Method::GET, "/api/v1/lists", auth, None)
            .await?
            .json()?;
        let ids: Vec<i64> = lists
            .as_array()
            .context("lists array")?
            .iter()
            .filter_map(|l| l["id"].as_i64())
            .collect();
        ensure!(
            !ids.contains(&w.list.0),
            "{who} still lists the deleted list: {ids:?}"
        );
        for path in [
            list_path.clone(),
            format!("{list_path}/members"),
            format!("{list_path}/suggestions"),
            format!("{list_path}/export.vcf"),
            format!("{list_path}/export.csv"),
            suggestion_path.clone(),
            format!("{suggestion_path}/history"),
        ] {
            let reply = w.app.call(Method::GET, &path, auth, None).await?;
            ensure!(
                reply.status == 404,
                "{who} GET {path} after deletion: {}",
                reply.status
            );
        }
        let accept = w
            .app
            .call(
                Method::POST,
                &format!("{suggestion_path}/accept"),
                auth,
                None,
            )
            .await?;
        ensure!(
            accept.status == 404,
            "{who} accepting a deleted list's suggestion: {}",
            accept.status
        );
    }
    let again = w.app.call(Method::DELETE, &list_path, &owner, None).await?;
    ensure!(again.status == 404, "second delete: {}", again.status);

    // In the store: the shares ended at once, the suggestion is soft-deleted (purged later).
    let members = w.app.store.list_members(w.list).await?;
    ensure!(
        members
            .iter()
            .all(|m| m.role == mailsig_daemon::store::Role::Owner),
        "shares survived the deletion: {members:?}"
    );
    ensure!(
        w.app.store.role_of(w.editor.0.id, w.list).await?.is_none(),
        "the editor still has a role"
    );
    let audit = w.app.store.audit_log(50).await?;
    ensure!(
        audit.iter().any(|e| e.action.as_str() == "list.delete"
            && e.actor == Some(w.owner.0.id)
            && e.object_id == Some(w.list.0)),
        "no list.delete in the audit log: {audit:?}"
    );
    Ok(())
}

/// "No second lookup": the login test connects to the addresses the guard checked, not to what
/// the settings' host and port would resolve to again. The settings here name `localhost` on
/// port 1 (nothing listens there); given the checked address of the real Dovecot (implicit
/// TLS), the login works, so the TCP connection went to that address, while the host name still
/// served for the certificate check. Without the address the same settings fail.
#[tokio::test]
async fn the_login_test_connects_to_the_checked_address_not_a_new_lookup() -> Result<()> {
    use mailsig_daemon::sources::imap::{ImapSettings, Security, test_login_at, test_login_with};
    let env = mailsig_tests::servers::TestEnv::from_env()?;
    let mail_user = env.create_mail_user()?;
    let settings = ImapSettings {
        host: "localhost".to_owned(),
        port: 1,
        security: Security::ImplicitTls,
        username: mail_user.name.clone(),
        folders: vec![],
        ca_file: Some(env.ca_path().to_path_buf()),
        ca_pem: None,
        backfill: 0,
        operator_trusted: true,
    };
    let password = secrecy::SecretString::from(mail_user.password.clone());
    let options = ImapOptions::default();
    let checked: std::net::SocketAddr = format!("127.0.0.1:{}", env.imaps_port).parse()?;
    test_login_at(&settings, &password, &options, &[checked])
        .await
        .map_err(|e| anyhow::anyhow!("login at the checked address: {e}"))?;
    let again = test_login_with(&settings, &password, &options).await;
    ensure!(
        again.is_err(),
        "the settings' own port 1 answered: the test proves nothing"
    );
    Ok(())
}

/// What the change feed said across one or more answers.
#[derive(Debug, Default, PartialEq, Eq)]
struct Feed {
    created: std::collections::BTreeSet<i64>,
    changed: std::collections::BTreeSet<i64>,
    deleted: std::collections::BTreeSet<i64>,
}

impl Feed {
    fn of(created: &[i64], changed: &[i64], deleted: &[i64]) -> Feed {
        Feed {
            created: created.iter().copied().collect(),
            changed: changed.iter().copied().collect(),
            deleted: deleted.iter().copied().collect(),
        }
    }
}

/// Follows `GET …/changes` from `cursor` until the answers add up to `expected`, and returns the
/// last cursor. On PostgreSQL a change shows once every transaction older than it has ended
/// (other tests share the server), so it may take more than one answer; each answer's cursor
/// is the next one's `since`, and no change may be told twice.
async fn follow_changes(
    w: &World,
    auth: &Auth,
    cursor: &str,
    include: &str,
    expected: &Feed,
) -> Result<(String, Vec<serde_json::Value>)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut cursor = cursor.to_owned();
    let mut seen = Feed::default();
    let mut contacts = Vec::new();
    loop {
        let reply = w
            .app
            .call(
                Method::GET,
                &format!(
                    "/api/v1/lists/{}/changes?since={cursor}&include={include}",
                    w.list.0
                ),
                auth,
                None,
            )
            .await?;
        ensure!(reply.status == 200, "{} {}", reply.status, reply.text());
        let body = reply.json()?;
        ensure!(body["include"] == include, "{body}");
        for (key, set) in [
            ("created", &mut seen.created),
            ("changed", &mut seen.changed),
            ("deleted", &mut seen.deleted),
        ] {
            for item in body[key].as_array().context("an array")? {
                let id = item["id"].as_i64().context("id")?;
                ensure!(set.insert(id), "{key} {id} told twice: {body}");
                if key != "deleted" {
                    contacts.push(item.clone());
                }
            }
        }
        cursor = body["cursor"].as_str().context("cursor")?.to_owned();
        if body["more"] == true {
            continue;
        }
        if &seen == expected {
            return Ok((cursor, contacts));
        }
        ensure!(
            seen.created.is_subset(&expected.created)
                && seen.changed.is_subset(&expected.changed)
                && seen.deleted.is_subset(&expected.deleted),
            "the feed said {seen:?}, expected {expected:?}"
        );
        ensure!(
            std::time::Instant::now() < deadline,
            "the feed said {seen:?} and no more, expected {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_change_feed_reports_created_changed_and_deleted_contacts_since_a_cursor() -> Result<()>
{
    use mailsig_daemon::store::SuggestionStatus;
    for backend in api_support::BACKENDS {
        let w = World::new(backend).await?;
        let viewer = Auth::Bearer(w.viewer.1.clone());
        let editor = Auth::Bearer(w.editor.1.clone());
        let ann = w.suggestion.0;
        let changes = format!("/api/v1/lists/{}/changes", w.list.0);

        // The first answer, without a cursor: nothing accepted yet; with include=all, Ann.
        let reply = w.app.call(Method::GET, &changes, &viewer, None).await?;
        ensure!(reply.status == 200, "{backend:?}: {}", reply.status);
        let first = reply.json()?;
        ensure!(
            first["created"] == json!([]) && first["include"] == "accepted",
            "{backend:?}: {first}"
        );
        let start = first["cursor"].as_str().context("cursor")?.to_owned();
        let reply = w
            .app
            .call(
                Method::GET,
                &format!("{changes}?include=all"),
                &viewer,
                None,
            )
            .await?;
        let all = reply.json()?;
        ensure!(
            all["created"][0]["id"] == ann
                && all["created"][0]["fields"]["name"]["value"] == "Ann Example",
            "{backend:?}: {all}"
        );

        // Accepted through the API, committed by the pipeline's commit and accepted, new only.
        let reply = w
            .app
            .call(
                Method::POST,
                &format!("/api/v1/suggestions/{ann}/accept"),
                &editor,
                None,
            )
            .await?;
        ensure!(reply.status == 200, "{backend:?}: accept {}", reply.status);
        let carol = add_suggestion(
            &w.app.store,
            w.mailbox,
            "carol@feed.example",
            &[("name", "Carol Feed"), ("title", "Buyer")],
        )
        .await?;
        w.app
            .store
            .set_suggestion_status(carol, SuggestionStatus::Accepted)
            .await?;
        let dave = add_suggestion(
            &w.app.store,
            w.mailbox,
            "dave@feed.example",
            &[("name", "Dave")],
        )
        .await?;
        let (cursor, contacts) = follow_changes(
            &w,
            &viewer,
            &start,
            "accepted",
            &Feed::of(&[ann, carol.0], &[], &[]),
        )
        .await
        .with_context(|| format!("{backend:?}: accepted"))?;
        ensure!(
            contacts
                .iter()
                .any(|c| c["id"] == carol.0 && c["fields"]["title"]["value"] == "Buyer"),
            "{backend:?}: {contacts:?}"
        );
        // The same feed with include=all has Dave as well.
        follow_changes(
            &w,
            &viewer,
            &start,
            "all",
            &Feed::of(&[carol.0, dave.0], &[ann], &[]),
        )
        .await
        .with_context(|| format!("{backend:?}: include=all"))?;

        // Nothing happened: nothing is told again.
        let (cursor, _) =
            follow_changes(&w, &viewer, &cursor, "accepted", &Feed::default()).await?;

        // A reviewer's merge changes Ann (mail never changes an accepted contact: it proposes).
        let reply = w
            .app
            .call(
                Method::POST,
                &format!("/api/v1/suggestions/{ann}/merge"),
                &editor,
                Some(json!({"fields": [{"field": "name", "choice": "typed", "value": "Ann Q. Example"}]})),
            )
            .await?;
        ensure!(
            reply.status == 200,
            "{backend:?}: merge {} {}",
            reply.status,
            reply.text()
        );
        let (cursor, contacts) = follow_changes(
            &w,
            &viewer,
            &cursor,
            "accepted",
            &Feed::of(&[], &[ann], &[]),
        )
        .await
        .with_context(|| format!("{backend:?}: changes"))?;
        ensure!(
            contacts.iter().any(|c| c["id"] == ann
                && c["fields"]["name"]["value"] == "Ann Q. Example"
                && c["status"] == "merged"),
            "{backend:?}: {contacts:?}"
        );

        // Dismissed and deleted contacts leave as tombstones; unreviewed Dave was never there.
        let reply = w
            .app
            .call(
                Method::POST,
                &format!("/api/v1/suggestions/{}/dismiss", carol.0),
                &editor,
                None,
            )
            .await?;
        ensure!(reply.status == 200, "{backend:?}: dismiss {}", reply.status);
        w.app.store.soft_delete_suggestion(w.suggestion).await?;
        w.app.store.soft_delete_suggestion(dave).await?;
        let (cursor, _) = follow_changes(
            &w,
            &viewer,
            &cursor,
            "accepted",
            &Feed::of(&[], &[], &[ann, carol.0]),
        )
        .await
        .with_context(|| format!("{backend:?}: deletions"))?;

        // A cursor is this server's own: anything else is a validation error, not a guess.
        let foreign = match backend {
            Backend::Sqlite => cursor.replacen('s', "p", 1),
            Backend::Postgres => cursor.replacen('p', "s", 1),
        };
        for bad in [foreign.as_str(), "yesterday", "s-1"] {
            let reply = w
                .app
                .call(
                    Method::GET,
                    &format!("{changes}?since={bad}"),
                    &viewer,
                    None,
                )
                .await?;
            ensure!(
                reply.status == 400,
                "{backend:?}: since={bad}: {}",
                reply.status
            );
            ensure!(
                reply.json()?["fields"][0]["field"] == "since",
                "{backend:?}: {bad}"
            );
        }
        // Another user's list does not exist for them.
        let stranger = Auth::Bearer(w.stranger.1.clone());
        let reply = w.app.call(Method::GET, &changes, &stranger, None).await?;
        ensure!(
            reply.status == 404,
            "{backend:?}: stranger {}",
            reply.status
        );
    }
    Ok(())
}

/// One answer of the change feed with a page size.
async fn changes_page(
    w: &World,
    auth: &Auth,
    since: &str,
    limit: u32,
) -> Result<serde_json::Value> {
    let reply = w
        .app
        .call(
            Method::GET,
            &format!(
                "/api/v1/lists/{}/changes?since={since}&limit={limit}",
                w.list.0
            ),
            auth,
            None,
        )
        .await?;
    ensure!(reply.status == 200, "{} {}", reply.status, reply.text());
    reply.json()
}

fn ids_of(body: &serde_json::Value, key: &str) -> Result<Vec<i64>> {
    body[key]
        .as_array()
        .context("an array")?
        .iter()
        .map(|c| c["id"].as_i64().context("id"))
        .collect()
}

#[tokio::test]
async fn the_change_feed_pages_a_window_without_repeating_or_skipping_a_contact() -> Result<()> {
    use mailsig_daemon::store::SuggestionStatus;
    for backend in api_support::BACKENDS {
        let w = World::new(backend).await?;
        let viewer = Auth::Bearer(w.viewer.1.clone());
        let first = changes_page(&w, &viewer, "", 3).await?;
        let start = first["cursor"].as_str().context("cursor")?.to_owned();
        let mut accepted = std::collections::BTreeSet::new();
        for n in 0..7 {
            let id = add_suggestion(
                &w.app.store,
                w.mailbox,
                &format!("page{n}@feed.example"),
                &[("name", &format!("Page {n}"))],
            )
            .await?;
            w.app
                .store
                .set_suggestion_status(id, SuggestionStatus::Accepted)
                .await?;
            accepted.insert(id.0);
        }
        let late = add_suggestion(
            &w.app.store,
            w.mailbox,
            "late@feed.example",
            &[("name", "Late")],
        )
        .await?;

        // Wait until all seven are fixed in the log (on PostgreSQL other tests' transactions may
        // hold the horizon back), so the window from `start` now holds them for certain.
        let all_seven: Vec<i64> = accepted.iter().copied().collect();
        follow_changes(
            &w,
            &viewer,
            &start,
            "accepted",
            &Feed::of(&all_seven, &[], &[]),
        )
        .await
        .with_context(|| format!("{backend:?}: seven"))?;

        // Pages of three contacts of the window (the unreviewed Late counts as one of the
        // third page), each cursor sent straight back: 3, 3, 1, ascending, none twice. Late is
        // accepted while the window is being paged: that belongs to the next window.
        let mut cursor = start.clone();
        let mut pages = Vec::new();
        loop {
            let body = changes_page(&w, &viewer, &cursor, 3).await?;
            pages.push(ids_of(&body, "created")?);
            cursor = body["cursor"].as_str().context("cursor")?.to_owned();
            if pages.len() == 1 {
                w.app
                    .store
                    .set_suggestion_status(late, SuggestionStatus::Accepted)
                    .await?;
            }
            if body["more"] != true {
                break;
            }
            ensure!(
                pages.len() < 10,
                "{backend:?}: pages without end: {pages:?}"
            );
        }
        let expected_pages: Vec<Vec<i64>> = all_seven.chunks(3).map(<[i64]>::to_vec).collect();
        ensure!(
            pages == expected_pages,
            "{backend:?}: pages {pages:?}, expected {expected_pages:?}"
        );
        // The contact accepted while paging comes in a later window, once.
        follow_changes(
            &w,
            &viewer,
            &cursor,
            "accepted",
            &Feed::of(&[late.0], &[], &[]),
        )
        .await
        .with_context(|| format!("{backend:?}: late"))?;

        // Without a cursor, the pages of one window list every accepted contact once.
        let mut cursor = String::new();
        let mut all = Vec::new();
        loop {
            let body = changes_page(&w, &viewer, &cursor, 2).await?;
            all.extend(ids_of(&body, "created")?);
            cursor = body["cursor"].as_str().context("cursor")?.to_owned();
            if body["more"] != true {
                break;
            }
        }
        let mut expected: Vec<i64> = accepted.iter().copied().collect();
        expected.push(late.0);
        ensure!(all == expected, "{backend:?}: {all:?} != {expected:?}");

        // A page size out of range is a validation error.
        for bad in [0, 1001] {
            let reply = w
                .app
                .call(
                    Method::GET,
                    &format!("/api/v1/lists/{}/changes?limit={bad}", w.list.0),
                    &viewer,
                    None,
                )
                .await?;
            ensure!(
                reply.status == 400,
                "{backend:?}: limit={bad}: {}",
                reply.status
            );
        }
    }
    Ok(())
}

/// The exports as a contact store takes them: the vCard export of accepted contacts whose
/// values hold apostrophes, commas, semicolons and non-ASCII letters is PUT card by card into
/// the test servers' Radicale (CardDAV over TLS, through reqwest), read back with GET and parsed
/// field by field (calcard): every value comes back as it was, with no backslash, apostrophe
/// or mojibake added. The CSV export of the same list parses back with the same values.
#[tokio::test]
async fn exports_import_into_a_carddav_store_and_read_back_field_by_field() -> Result<()> {
    use calcard::vcard::{VCard, VCardParameterName, VCardProperty, VCardValue};
    let w = World::new(Backend::Sqlite).await?;
    let owner = Auth::Bearer(w.owner.1.clone());
    let contacts: [(&str, &[(&str, &str)]); 2] = [
        (
            "sean.obrien@mueller-schmidt.example",
            &[
                ("name", "Seán O'Brien"),
                ("title", "Logistics Manager, West Coast"),
                ("company", "Müller, Schmidt & Co. KG; Zweigstelle Köln"),
                ("phone", "+35312345678"),
                (
                    "website",
                    "https://mueller-schmidt.example/team?who=o'brien",
                ),
                ("address", "Hauptstraße 5\n50667 Köln"),
            ],
        ),
        (
            "zoe@naive.example",
            &[
                ("name", "Zoë D'Amato-Łukasiewicz"),
                ("title", "Head of \"Special\" Projects\\Ops"),
                ("company", "Café Naïve"),
                ("phone", "+4930123456"),
            ],
        ),
    ];
    for (sender, fields) in contacts {
        let id = add_suggestion(&w.app.store, w.mailbox, sender, fields).await?;
        w.app
            .store
            .set_suggestion_status(id, mailsig_daemon::store::SuggestionStatus::Accepted)
            .await?;
    }
    let reply = w
        .app
        .call(
            Method::GET,
            &format!("/api/v1/lists/{}/export.vcf", w.list.0),
            &owner,
            None,
        )
        .await?;
    ensure!(reply.status == 200, "vcf: {}", reply.status);
    let export = reply.text();
    let cards: Vec<String> = export
        .split_inclusive("END:VCARD\r\n")
        .filter(|c| c.contains("BEGIN:VCARD"))
        .map(str::to_owned)
        .collect();
    ensure!(cards.len() == 2, "{} cards in the export", cards.len());

    // A fresh address book of the CardDAV user (extended MKCOL, RFC 5689).
    let base = std::env::var("MAILSIG_TEST_CARDDAV_URL")
        .context("MAILSIG_TEST_CARDDAV_URL (scripts/test-servers.sh start)")?;
    let ca = std::fs::read(std::env::var("MAILSIG_TEST_CA").context("MAILSIG_TEST_CA")?)?;
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .build()?;
    let book = format!("{base}/carddav/export-{:016x}/", rand::random::<u64>());
    let made = client
        .request(reqwest::Method::from_bytes(b"MKCOL")?, &book)
        .basic_auth("carddav", Some("carddav-password"))
        .header("Content-Type", "application/xml; charset=utf-8")
        .body(
            r#"<?xml version="1.0" encoding="utf-8"?><d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype><d:collection/><c:addressbook/></d:resourcetype><d:displayname>mailsig export</d:displayname></d:prop></d:set></d:mkcol>"#,
        )
        .send()
        .await?;
    ensure!(made.status().as_u16() == 201, "MKCOL: {}", made.status());

    let mut read_back = Vec::new();
    for (i, card) in cards.iter().enumerate() {
        let url = format!("{book}contact-{i}.vcf");
        let put = client
            .put(&url)
            .basic_auth("carddav", Some("carddav-password"))
            .header("Content-Type", "text/vcard; charset=utf-8")
            .header("If-None-Match", "*")
            .body(card.clone())
            .send()
            .await?;
        ensure!(
            put.status().as_u16() == 201,
            "PUT card {i}: {} {}",
            put.status(),
            put.text().await.unwrap_or_default()
        );
        let got = client
            .get(&url)
            .basic_auth("carddav", Some("carddav-password"))
            .send()
            .await?;
        ensure!(got.status().is_success(), "GET card {i}: {}", got.status());
        let text = got.text().await?;
        let parsed =
            VCard::parse(&text).map_err(|_| anyhow::anyhow!("card {i} unreadable:\n{text}"))?;
        read_back.push((text, parsed));
    }

    let texts = |card: &VCard, name: VCardProperty| -> Vec<Vec<String>> {
        card.entries
            .iter()
            .filter(|e| e.name == name)
            .map(|e| {
                e.values
                    .iter()
                    .map(|v| match v {
                        VCardValue::Component(parts) => parts.join(","),
                        other => other.as_text().unwrap_or_default().to_owned(),
                    })
                    .collect()
            })
            .collect()
    };
    let find = |fn_name: &str| {
        read_back
            .iter()
            .find(|(_, c)| {
                texts(c, VCardProperty::Fn)
                    .first()
                    .and_then(|v| v.first())
                    .map(String::as_str)
                    == Some(fn_name)
            })
            .with_context(|| {
                format!(
                    "no card named {fn_name:?} came back: {read_back:#?}",
                    read_back = read_back.iter().map(|(t, _)| t).collect::<Vec<_>>()
                )
            })
    };

    let (text, sean) = find("Seán O'Brien")?;
    ensure!(
        texts(sean, VCardProperty::N).first().map(|n| n
            .iter()
            .take(2)
            .cloned()
            .collect::<Vec<_>>())
            == Some(vec!["O'Brien".to_owned(), "Seán".to_owned()]),
        "N: {:?}\n{text}",
        texts(sean, VCardProperty::N)
    );
    ensure!(
        texts(sean, VCardProperty::Title) == vec![vec!["Logistics Manager, West Coast".to_owned()]],
        "TITLE: {:?}\n{text}",
        texts(sean, VCardProperty::Title)
    );
    ensure!(
        texts(sean, VCardProperty::Org)
            .first()
            .and_then(|o| o.first())
            .map(String::as_str)
            == Some("Müller, Schmidt & Co. KG; Zweigstelle Köln"),
        "ORG: {:?}\n{text}",
        texts(sean, VCardProperty::Org)
    );
    ensure!(
        texts(sean, VCardProperty::Email)
            == vec![vec!["sean.obrien@mueller-schmidt.example".to_owned()]],
        "EMAIL: {:?}\n{text}",
        texts(sean, VCardProperty::Email)
    );
    ensure!(
        texts(sean, VCardProperty::Url)
            == vec![vec![
                "https://mueller-schmidt.example/team?who=o'brien".to_owned()
            ]],
        "URL: {:?}\n{text}",
        texts(sean, VCardProperty::Url)
    );
    let tel = sean
        .entries
        .iter()
        .find(|e| e.name == VCardProperty::Tel)
        .context("no TEL")?;
    let number = tel
        .values
        .first()
        .and_then(VCardValue::as_text)
        .unwrap_or_default();
    ensure!(
        number.trim_start_matches("tel:") == "+35312345678",
        "TEL: {number:?}\n{text}"
    );
    let types: Vec<String> = tel
        .parameters(&VCardParameterName::Type)
        .filter_map(|t| t.as_text())
        .flat_map(|t| t.split(','))
        .map(|t| t.to_ascii_lowercase())
        .collect();
    ensure!(
        types.iter().any(|t| t == "work"),
        "TEL types {types:?}\n{text}"
    );
    let adr = texts(sean, VCardProperty::Adr);
    ensure!(
        adr.first().is_some_and(|a| a.len() >= 7
            && a[2] == "Hauptstraße 5"
            && a[3] == "Köln"
            && a[5] == "50667"),
        "ADR: {adr:?}\n{text}"
    );

    let (text, zoe) = find("Zoë D'Amato-Łukasiewicz")?;
    ensure!(
        texts(zoe, VCardProperty::Title)
            == vec![vec!["Head of \"Special\" Projects\\Ops".to_owned()]],
        "TITLE: {:?}\n{text}",
        texts(zoe, VCardProperty::Title)
    );
    ensure!(
        texts(zoe, VCardProperty::Org)
            .first()
            .and_then(|o| o.first())
            .map(String::as_str)
            == Some("Café Naïve"),
        "ORG: {:?}\n{text}",
        texts(zoe, VCardProperty::Org)
    );
    // Nothing stray anywhere in what the store kept: no mojibake, no formula apostrophe on a
    // number, no escape left in a value.
    for (text, card) in &read_back {
        ensure!(
            !text.contains('\u{c3}') && !text.contains('\u{fffd}'),
            "mojibake in the stored card:\n{text}"
        );
        ensure!(
            !text.contains("'+"),
            "an apostrophe before a number:\n{text}"
        );
        for entry in &card.entries {
            for value in entry.values.iter().filter_map(VCardValue::as_text) {
                ensure!(
                    !value.contains("\\,") && !value.contains("\\;") && !value.contains("\\n"),
                    "an escape left in {:?}: {value:?}",
                    entry.name
                );
            }
        }
    }

    // The CSV of the same list parses back with the same values.
    let reply = w
        .app
        .call(
            Method::GET,
            &format!("/api/v1/lists/{}/export.csv", w.list.0),
            &owner,
            None,
        )
        .await?;
    ensure!(reply.status == 200, "csv: {}", reply.status);
    let rows = parse_csv(&reply.text())?;
    ensure!(rows.len() == 3, "header + 2 rows: {rows:?}");
    let header = &rows[0];
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("no column {name:?} in {header:?}"))
    };
    let sean_row = rows
        .iter()
        .find(|r| {
            r.get(col("E-mail 1 - Value").unwrap_or(0))
                .map(String::as_str)
                == Some("sean.obrien@mueller-schmidt.example")
        })
        .context("Seán's row")?;
    for (column, expected) in [
        ("Name", "Seán O'Brien"),
        ("Organization 1 - Title", "Logistics Manager, West Coast"),
        (
            "Organization 1 - Name",
            "Müller, Schmidt & Co. KG; Zweigstelle Köln",
        ),
        ("Phone 1 - Value", "+35312345678"),
        ("Phone 1 - Type", "Work"),
        ("Address 1 - Street", "Hauptstraße 5"),
        ("Address 1 - City", "Köln"),
    ] {
        ensure!(
            sean_row[col(column)?] == expected,
            "{column}: {:?}, expected {expected:?}",
            sean_row[col(column)?]
        );
    }
    let zoe_row = rows
        .iter()
        .find(|r| {
            r.get(col("E-mail 1 - Value").unwrap_or(0))
                .map(String::as_str)
                == Some("zoe@naive.example")
        })
        .context("Zoë's row")?;
    ensure!(
        zoe_row[col("Name")?] == "Zoë D'Amato-Łukasiewicz"
            && zoe_row[col("Organization 1 - Title")?] == "Head of \"Special\" Projects\\Ops",
        "Zoë's row: {zoe_row:?}"
    );
    Ok(())
}
