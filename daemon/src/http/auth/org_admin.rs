//! The [`OrgAdmin`] extractor: the request comes from an org admin, or it does not reach the
//! handler. The decision is the service's ([`service::org::require_admin`]); this only turns
//! its answer into a response: no credentials → 401 (API) or the sign-in page (pages); a user
//! who is not an admin → 403, as JSON under `/api`, as a page elsewhere.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::service::org::{AdminActor, require_admin};
use crate::store::Store;

use super::CurrentUser;

/// An org admin's request; holds the service's proof.
#[derive(Clone, Debug)]
pub struct OrgAdmin {
    pub admin: AdminActor,
    pub user: CurrentUser,
}

/// Why a request was not an org admin's.
pub struct NotAdmin {
    api: bool,
    error: Option<crate::service::ServiceError>,
}

impl IntoResponse for NotAdmin {
    fn into_response(self) -> Response {
        match (self.api, self.error) {
            (true, None) => super::Rejection::Unauthenticated.into_response(),
            (true, Some(e)) => crate::http::api::ApiError::from(e).into_response(),
            (false, None) => crate::http::web::PageError::SignIn.into_response(),
            (false, Some(e)) => crate::http::web::PageError::from(e).into_response(),
        }
    }
}

impl<S> FromRequestParts<S> for OrgAdmin
where
    S: Send + Sync,
    Store: FromRef<S>,
{
    type Rejection = NotAdmin;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let api = parts.uri.path().starts_with(crate::http::api::PREFIX);
        let user = parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or(NotAdmin { api, error: None })?;
        // The pages need a browser session (their forms carry its CSRF token).
        if !api && user.session().is_none() {
            return Err(NotAdmin { api, error: None });
        }
        let store = Store::from_ref(state);
        let admin = require_admin(&store, user.actor())
            .await
            .map_err(|e| NotAdmin {
                api,
                error: Some(e),
            })?;
        Ok(OrgAdmin { admin, user })
    }
}
