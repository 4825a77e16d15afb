//! What every page handler shares: who is signed in (with the CSRF token the forms carry),
//! turning a template into a response, and turning a failure into a readable error page.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::http::auth::{self, CurrentUser};
use crate::service::{Actor, ServiceError};

/// The signed-in person of a page request: a browser session (pages are never served to bearer
/// tokens: they would have no CSRF token for the forms).
#[derive(Clone, Debug)]
pub struct Visitor {
    pub actor: Actor,
    /// Put into every form as the hidden `csrf_token` field.
    pub csrf: String,
    /// An org admin: the main navigation links to `/admin`.
    pub org_admin: bool,
}

impl Visitor {
    /// The session's visitor, or a redirect to the sign-in page.
    pub fn require(user: Option<CurrentUser>) -> Result<Visitor, PageError> {
        let user = user.ok_or(PageError::SignIn)?;
        let session = user.session().ok_or(PageError::SignIn)?;
        Ok(Visitor {
            actor: user.actor(),
            csrf: auth::csrf_token(session).to_owned(),
            org_admin: session.org_admin,
        })
    }
}

/// Renders `page` as a 200 HTML response.
pub fn html(page: &impl Template) -> Result<Response, PageError> {
    let body = page
        .render()
        .map_err(|e| PageError::Internal(format!("render: {e}")))?;
    Ok(Html(body).into_response())
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: go to the sign-in page.
    SignIn,
    /// The service refused or failed.
    Service(ServiceError),
    /// A template or a response could not be built.
    Internal(String),
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        PageError::Service(e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    message: String,
    details: Vec<String>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message, details) = match self {
            PageError::SignIn => return Redirect::to("/sign-in").into_response(),
            PageError::Service(e) => match e {
                ServiceError::NotFound { what } => (
                    StatusCode::NOT_FOUND,
                    "Not found",
                    format!("This {what} does not exist or is not yours."),
                    vec![],
                ),
                ServiceError::Forbidden { action } => (
                    StatusCode::FORBIDDEN,
                    "Not allowed",
                    format!("Your role does not allow you to {action}."),
                    vec![],
                ),
                ServiceError::Validation(fields) => (
                    StatusCode::BAD_REQUEST,
                    "Please check the form",
                    "Some values were not accepted.".to_owned(),
                    fields
                        .iter()
                        .map(|f| format!("{}: {}", f.field, f.message))
                        .collect(),
                ),
                ServiceError::Conflict { what } => (
                    StatusCode::CONFLICT,
                    "Already exists",
                    format!("This {what} already exists."),
                    vec![],
                ),
                ServiceError::InUse { message } => {
                    (StatusCode::CONFLICT, "Still in use", message, vec![])
                }
                ServiceError::LinkFailed {
                    reason,
                    tls_untrusted,
                    ..
                } => (
                    StatusCode::BAD_REQUEST,
                    "The mailbox could not be linked",
                    crate::service::error::link_failure_text(&reason, tls_untrusted),
                    vec![],
                ),
                ServiceError::Unavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "Please try again in a moment.".to_owned(),
                    vec![],
                ),
                ServiceError::Internal(detail) => {
                    tracing::error!(error = %detail, "page failed");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Something went wrong",
                        "The error was logged.".to_owned(),
                        vec![],
                    )
                }
            },
            PageError::Internal(detail) => {
                tracing::error!(error = %detail, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The error was logged.".to_owned(),
                    vec![],
                )
            }
        };
        let page = ErrorPage {
            title: title.to_owned(),
            message,
            details,
        };
        match page.render() {
            Ok(body) => (status, Html(body)).into_response(),
            Err(_) => (status, title.to_owned()).into_response(),
        }
    }
}

/// The 403 page for a form posted without the right CSRF token (the `auth` middleware answers
/// page requests with it; API requests get JSON).
pub fn csrf_refused_page() -> Response {
    let page = ErrorPage {
        title: "Form refused".to_owned(),
        message: "This form has expired or was not sent from this site. Go back, reload the page and try again."
            .to_owned(),
        details: vec![],
    };
    match page.render() {
        Ok(body) => (StatusCode::FORBIDDEN, Html(body)).into_response(),
        Err(_) => (StatusCode::FORBIDDEN, "Form refused").into_response(),
    }
}

/// The page for an address no route serves: a 404 in the site's style (API paths answer JSON
/// from the API's own catch-all instead).
pub async fn not_found_page() -> Response {
    let page = ErrorPage {
        title: "Page not found".to_owned(),
        message: "There is no page at this address. Check the link, or start from the dashboard."
            .to_owned(),
        details: vec![],
    };
    match page.render() {
        Ok(body) => (StatusCode::NOT_FOUND, Html(body)).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "Page not found").into_response(),
    }
}

/// Formats epoch milliseconds as `YYYY-MM-DD HH:MM UTC` for tables.
pub fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .and_then(|text| {
            text.get(..16)
                .map(|minutes| format!("{} UTC", minutes.replace('T', " ")))
        })
        .unwrap_or_else(|| "-".to_owned())
}

/// A moment as a page shows it: `<time datetime="{iso}" title="{exact}">{text}</time>`. The
/// text is relative ("3 hours ago"), which reads right in every time zone without a script;
/// the exact UTC time is in the title and the machine-readable `datetime`. Tables show the
/// exact time instead ([`Moment::exact`], `<time class="exact">`). `static/local-time.js`
/// rewrites the titles and the exact texts to the reader's time zone; the UTC text is what a
/// browser without the script shows.
pub struct Moment {
    pub iso: String,
    pub text: String,
    pub exact: String,
}

impl Moment {
    /// `ms` (epoch milliseconds) seen from `now_ms`.
    pub fn at(ms: i64, now_ms: i64) -> Moment {
        let exact = when(ms);
        let iso = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let minutes = now_ms.saturating_sub(ms).max(0) / 60_000;
        let plural = |n: i64, unit: &str| {
            if n == 1 {
                format!("1 {unit} ago")
            } else {
                format!("{n} {unit}s ago")
            }
        };
        let text = match minutes {
            0 => "just now".to_owned(),
            1..60 => plural(minutes, "minute"),
            60..1440 => plural(minutes / 60, "hour"),
            1440..43_200 => plural(minutes / 1440, "day"),
            _ => exact.get(..10).unwrap_or(&exact).to_owned(),
        };
        Moment { iso, text, exact }
    }

    /// The exact time as the text ("2026-12-06 19:30 UTC"), for tables.
    pub fn exact(ms: i64) -> Moment {
        let at = Moment::at(ms, ms);
        Moment {
            text: at.exact.clone(),
            ..at
        }
    }

    /// Seen from now.
    pub fn ago(ms: i64) -> Moment {
        let now = crate::clock::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Moment::at(ms, now)
    }
}

#[cfg(test)]
mod tests {
    use super::Moment;

    #[test]
    fn moments_read_relative_and_keep_the_exact_time() {
        let at = 1_765_049_400_000; // 2025-12-06 19:30 UTC
        let cases = [
            (at + 20_000, "just now"),
            (at + 60_000, "1 minute ago"),
            (at + 3 * 3_600_000 + 5, "3 hours ago"),
            (at + 2 * 86_400_000, "2 days ago"),
            (at + 90 * 86_400_000, "2025-12-06"),
            (at - 5_000, "just now"),
        ];
        for (now, text) in cases {
            assert_eq!(Moment::at(at, now).text, text, "now = {now}");
        }
        let moment = Moment::at(at, at);
        assert_eq!(moment.iso, "2025-12-06T19:30:00Z");
        assert_eq!(moment.exact, "2025-12-06 19:30 UTC");
    }
}
