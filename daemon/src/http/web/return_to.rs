//! Back to where a person was after signing in again: a page that sends an anonymous visitor
//! to the sign-in page says which page that was (`?next=`), and whether a session had ended
//! (`why=expired`), so the sign-in page can say so and return there.
//!
//! Why a middleware: every page answers "sign in first" the same way (`PageError::SignIn`, a
//! redirect to `/sign-in`) without knowing its own address; this layer knows the request. For
//! a form posted after the session ended, the page it was posted from (the same-origin
//! `Referer`, which the pages' `Referrer-Policy: same-origin` sends) is where to return: the
//! action itself is not repeated, the person sees the page again and repeats it.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::http::auth::SESSION_COOKIE;

/// Whether `path` is a path on this site (not `//host`, not a scheme, no backslash), so that a
/// `next` from a link cannot send a person elsewhere after signing in.
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path.len() <= 2000
}

/// The path and query of a same-origin `Referer`.
fn referer_path(request: &Request) -> Option<String> {
    let referer = request.headers().get(header::REFERER)?.to_str().ok()?;
    let host = request.headers().get(header::HOST)?.to_str().ok()?;
    let url = url::Url::parse(referer).ok()?;
    let origin_host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str()?),
        None => url.host_str()?.to_owned(),
    };
    if !origin_host.eq_ignore_ascii_case(host) {
        return None;
    }
    let mut path = url.path().to_owned();
    if let Some(query) = url.query() {
        path.push('?');
        path.push_str(query);
    }
    Some(path)
}

fn had_session(request: &Request) -> bool {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim().starts_with(&format!("{SESSION_COOKIE}=")))
}

/// Adds `next` (and `why=expired`) to a redirect to the bare sign-in page.
pub async fn remember_page(request: Request, next: Next) -> Response {
    let back = if request.method() == Method::GET || request.method() == Method::HEAD {
        request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
    } else {
        referer_path(&request)
    }
    .filter(|p| is_local_path(p) && !p.starts_with("/sign-in"));
    let expired = had_session(&request);
    let mut response = next.run(request).await;
    let to_sign_in = response.status() == StatusCode::SEE_OTHER
        && response.headers().get(header::LOCATION) == Some(&HeaderValue::from_static("/sign-in"));
    if !to_sign_in {
        return response;
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(back) = back {
        query.append_pair("next", &back);
    }
    if expired {
        query.append_pair("why", "expired");
    }
    let query = query.finish();
    if !query.is_empty()
        && let Ok(location) = HeaderValue::from_str(&format!("/sign-in?{query}"))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn only_paths_of_this_site_are_returned_to() {
        assert!(is_local_path("/lists/3/review?status=new&q=kim"));
        for outside in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil",
            "",
            "dashboard",
        ] {
            assert!(!is_local_path(outside), "{outside}");
        }
    }
}
