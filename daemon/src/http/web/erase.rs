//! Erasing one suggestion for good from the review page (a person's erasure request), behind a
//! confirmation page: the list's owner only, as `DELETE /api/v1/suggestions/{id}` and the
//! service's `erase` (audited with the id, never the values). Afterwards the reviewer lands on
//! the view they came from with "Erased 1 suggestion for good."; there is nothing to undo.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::render::{PageError, Visitor, html};
use super::review::{ReviewView, display_name};
use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service;
use crate::store::SuggestionId;

#[derive(Template)]
#[template(path = "erase_suggestion.html")]
struct ErasePage {
    csrf: String,
    id: i64,
    list_id: i64,
    who: String,
    sender: String,
    view: ReviewView,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
}

/// The confirmation: who is erased and what erasing means.
pub async fn erase_page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let suggestion =
        service::suggestions::for_erasure(&state.store, visitor.actor, SuggestionId(id)).await?;
    html(&ErasePage {
        org_admin: visitor.org_admin,
        csrf: visitor.csrf,
        id,
        list_id: suggestion.list.0,
        who: display_name(&suggestion),
        sender: suggestion.sender_email.clone(),
        view: ReviewView::from_pairs(&query, ""),
    })
}

/// Erases once confirmed (`confirm=yes`), then back to the view it came from.
pub async fn erase(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let view = ReviewView::from_pairs(&form, "back_");
    let confirmed = form.iter().any(|(k, v)| k == "confirm" && v == "yes");
    if !confirmed {
        return Ok(
            Redirect::to(&format!("/suggestions/{id}/erase?{}", view.query())).into_response(),
        );
    }
    let suggestion =
        service::suggestions::for_erasure(&state.store, visitor.actor, SuggestionId(id)).await?;
    service::suggestions::erase(&state.store, visitor.actor, suggestion.id).await?;
    let extra = [("done", "erased".to_owned()), ("n", "1".to_owned())];
    Ok(Redirect::to(&view.url(suggestion.list, &extra)).into_response())
}
