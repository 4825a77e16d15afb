//! The web pages: small, server-rendered HTML for people (sign in, link a mailbox, choose its
//! list and exclusions, review and merge suggestions, share and export a list, manage its
//! webhooks and read their delivery logs, turn on two-step verification).
//!
//! Why server-rendered forms and no JavaScript requirement: every action is an HTML form posted
//! to the server, which keeps the Content-Security-Policy strict, works with any browser and
//! needs no front-end build. One small script of our own (`static/local-time.js`, the only one
//! the CSP allows: `script-src 'self'`, no inline script, no eval) shows times in the reader's
//! time zone; without it the pages show the server's UTC text. Templates are askama files in `daemon/templates/`
//! compiled into the binary; askama escapes every value it prints, so text that came from a
//! mail (a company called `<script>…`) is shown as text.
//!
//! Authorization is the service layer's (`crate::service`): the pages only decide what to
//! show. Authentication and CSRF are the `auth` middleware's: every form carries the session's
//! CSRF token, and a POST without it is refused before reaching a handler here.

mod account;
pub mod admin;
mod book;
mod book_light;
mod erase;
mod imap_oauth;
mod imap_presets;
mod invitation;
mod lists;
mod mailbox_password;
mod mailbox_words;
mod mailboxes;
mod merge;
mod oidc;
mod render;
mod return_to;
mod review;
mod session;
mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::http::app::AppState;
use crate::http::auth::CurrentUser;

pub use mailboxes::MicrosoftLinking;
pub use render::{PageError, csrf_refused_page};

/// Scripts and styles from our own origin only (no inline code, no eval), forms post only to
/// us, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Largest form body a page accepts (413 above); the forms are a few short fields.
pub const PAGE_BODY_LIMIT: usize = 64 * 1024;

/// The stylesheet, compiled in.
const STYLE_CSS: &str = include_str!("../../../static/style.css");

/// The script that rewrites `<time>` elements to the reader's time zone, compiled in.
const LOCAL_TIME_JS: &str = include_str!("../../../static/local-time.js");

/// Every page route, for `http::app::app_router` to merge (it adds auth, CSRF and rate limit).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", post(session::sign_out))
        .route(
            invitation::PATH,
            get(invitation::show).post(invitation::accept),
        )
        .route("/sign-in/oidc/{provider}", get(oidc::start))
        .route("/sign-in/oidc/{provider}/callback", get(oidc::callback))
        .route(
            session::SECOND_FACTOR_PATH,
            get(session::second_factor_page).post(session::second_factor),
        )
        .route(account::SECURITY_PATH, get(account::show))
        .route("/account/security/two-factor/start", post(account::start))
        .route(
            "/account/security/two-factor/confirm",
            post(account::confirm),
        )
        .route("/account/security/two-factor/cancel", post(account::cancel))
        .route(
            "/account/security/two-factor/disable",
            post(account::disable),
        )
        .route("/account/password", post(account::change_password))
        .route("/account/sessions/{id}/end", post(account::end_session))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
        .route("/dashboard", get(lists::dashboard))
        .route("/lists", post(lists::create))
        .route(
            "/lists/{id}/share",
            get(lists::share_page).post(lists::share),
        )
        .route("/lists/{id}/unshare", post(lists::unshare))
        .route("/lists/{id}/book", get(book::page).post(book::connect))
        .route("/lists/{id}/book/disconnect", post(book::disconnect))
        .route("/lists/{id}/book/outlook", post(book::connect_outlook))
        .route(
            "/lists/{id}/book/outlook/consent",
            post(book::outlook_consent),
        )
        .route(
            "/lists/{id}/webhooks",
            get(webhooks::page).post(webhooks::add),
        )
        .route("/lists/{id}/webhooks/{hook}", get(webhooks::log))
        .route("/lists/{id}/webhooks/{hook}/remove", post(webhooks::remove))
        .route("/lists/{id}/rename", post(lists::rename))
        .route(
            "/lists/{id}/delete",
            get(lists::delete_page).post(lists::delete),
        )
        .route("/lists/{id}/export.vcf", get(lists::export_vcard))
        .route("/lists/{id}/export.csv", get(lists::export_csv))
        .route("/lists/{id}/review", get(review::review_page))
        .route("/lists/{id}/review/bulk", post(review::bulk))
        .route("/lists/{id}/review/undo", post(review::undo))
        .route("/lists/{id}/auto-accept", post(review::set_auto_accept))
        .route("/suggestions/{id}/accept", post(review::accept))
        .route("/suggestions/{id}/dismiss", post(review::dismiss))
        .route(
            "/suggestions/{id}/erase",
            get(erase::erase_page).post(erase::erase),
        )
        .route("/changes/{id}/accept", post(merge::accept_change))
        .route("/changes/{id}/dismiss", post(merge::dismiss_change))
        .route(
            "/suggestions/{id}/merge",
            get(merge::merge_page).post(merge::merge),
        )
        .route("/mailboxes/new", get(mailboxes::link_page))
        .route("/mailboxes/imap", post(mailboxes::link_imap))
        .route("/mailboxes/microsoft", post(mailboxes::connect_microsoft))
        .route(
            crate::service::imap_oauth::CALLBACK_PATH,
            get(imap_oauth::callback),
        )
        .route("/mailboxes/{id}", get(mailboxes::settings_page))
        .route("/mailboxes/{id}/list", post(mailboxes::set_list))
        .route(
            "/mailboxes/{id}/exclusions",
            post(mailboxes::set_exclusions),
        )
        .route("/mailboxes/{id}/unlink", post(mailboxes::unlink))
        .route("/mailboxes/{id}/pause", post(mailboxes::pause))
        .route("/mailboxes/{id}/resume", post(mailboxes::resume))
        .route(
            "/mailboxes/{id}/password",
            get(mailbox_password::show).post(mailbox_password::replace),
        )
        .route("/static/style.css", get(style))
        .route("/static/local-time.js", get(local_time_script))
        .merge(admin::router())
        .fallback(render::not_found_page)
        .layer(axum::middleware::from_fn(return_to::remember_page))
        .layer(DefaultBodyLimit::max(PAGE_BODY_LIMIT))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
}

async fn home(user: Option<CurrentUser>) -> Redirect {
    match user {
        Some(_) => Redirect::to("/dashboard"),
        None => Redirect::to("/sign-in"),
    }
}

async fn local_time_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        LOCAL_TIME_JS,
    )
        .into_response()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE_CSS,
    )
        .into_response()
}
