//! Request pieces with API-shaped rejections: a JSON body whose errors become 400/413/415 in
//! the API's error format, and path ids where anything that is not an id is simply 404.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `axum::Json` with [`ApiError`] rejections.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(JsonBody(value))
    }
}

/// The path's ids, parsed; an id that does not parse is "not found" like one that does not exist.
pub struct Ids(pub Vec<i64>);

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound("object"))?;
        raw.iter()
            .map(|(_, v)| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ApiError::NotFound("object"))
            })
            .collect::<Result<_, _>>()
            .map(Ids)
    }
}

impl Ids {
    /// The first id.
    pub fn one(&self) -> Result<i64, ApiError> {
        self.0.first().copied().ok_or(ApiError::NotFound("object"))
    }

    /// The first two ids.
    pub fn two(&self) -> Result<(i64, i64), ApiError> {
        match self.0.as_slice() {
            [a, b, ..] => Ok((*a, *b)),
            _ => Err(ApiError::NotFound("object")),
        }
    }
}
