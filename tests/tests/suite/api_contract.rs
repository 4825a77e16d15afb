//! The API's answers against its OpenAPI document, beyond the routes: an unknown path under
//! `/api` answers the documented JSON error (404), never a page, and an unknown page answers a
//! styled HTML 404 with the pages' security headers. Every answer an API test receives is
//! checked against the document by `api_support::App::send`; the authorization matrix checks
//! that every documented route was among them.

use crate::api_support;

use anyhow::{Result, ensure};
use api_support::{App, Auth, BACKENDS};
use axum::http::Method;

#[tokio::test]
async fn unknown_api_paths_answer_json_and_unknown_pages_a_styled_page() -> Result<()> {
    let app = App::new(BACKENDS[0]).await?;
    let (_, token) = app.user("ann").await?;
    for path in [
        "/api",
        "/api/v2/lists",
        "/api/v1/nothing/here",
        "/api/v1/lists/1/nope",
    ] {
        for auth in [Auth::None, Auth::Bearer(token.clone())] {
            // `send` validates the body against the document's Error schema.
            let reply = app.call(Method::GET, path, &auth, None).await?;
            ensure!(reply.status == 404, "{path}: {}", reply.status);
            let body = reply.json()?;
            ensure!(body["error"] == "no_route", "{path}: {body}");
        }
    }
    // A known path with a method it does not have: 405 in the same format.
    let reply = app
        .call(
            Method::PUT,
            "/api/v1/me",
            &Auth::Bearer(token.clone()),
            None,
        )
        .await?;
    ensure!(reply.status == 405, "{}", reply.status);

    for path in ["/no-such-page", "/lists/1/nowhere", "/static/nothing.css"] {
        let reply = app.call(Method::GET, path, &Auth::None, None).await?;
        ensure!(reply.status == 404, "{path}: {}", reply.status);
        let content_type = reply.header("content-type").unwrap_or_default();
        ensure!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        let page = reply.text();
        ensure!(
            page.contains("<h1>Page not found</h1>") && page.contains("/static/style.css"),
            "{path}: {page}"
        );
        ensure!(
            reply
                .header("content-security-policy")
                .is_some_and(|c| c.contains("default-src 'none'")),
            "{path}: no CSP"
        );
    }
    Ok(())
}

/// A user linking a server whose certificate the daemon does not trust is told why and what
/// can be done (give the server's CA as `ca_pem`), in the documented `link_failed` body.
#[tokio::test]
async fn an_untrusted_certificate_is_explained_to_the_user() -> Result<()> {
    let env = mailsig_tests::servers::TestEnv::from_env()?;
    let mail = env.create_mail_user()?;
    let app = App::new(BACKENDS[0]).await?;
    let (user, token) = app.user("tls").await?;
    let list = app.store.create_list(user.id, "Contacts").await?;
    let port: u16 = std::env::var("MAILSIG_TEST_IMAPS_PORT")?.parse()?;
    let body = serde_json::json!({
        "list": list.id.0, "host": "localhost", "port": port, "security": "tls",
        "username": mail.name, "password": mail.password, "address": mail.address,
    });
    let reply = app
        .call(
            Method::POST,
            "/api/v1/mailboxes/imap",
            &Auth::Bearer(token),
            Some(body),
        )
        .await?;
    ensure!(reply.status == 422, "{} {}", reply.status, reply.text());
    let body = reply.json()?;
    ensure!(body["error"] == "link_failed", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    ensure!(
        message.contains("certificate is not trusted") && message.contains("`ca_pem`"),
        "{message}"
    );
    Ok(())
}
