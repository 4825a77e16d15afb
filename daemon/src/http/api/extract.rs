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

/// An optional integer field that also accepts a JSON number written with a zero fraction
/// (`4447.0`): JSON Schema counts it as an integer, and so do clients in languages whose only
/// number type is a float. Anything else that is not a whole number in `i64` is a body error.
/// Use with `#[serde(default, deserialize_with = "…::integer")]`.
pub fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::Deserialize as _;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        // 2^63 as f64: beyond it the cast would saturate.
        Some(f)
            if f.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) =>
        {
            #[allow(clippy::cast_possible_truncation)]
            Ok(Some(f as i64))
        }
        _ => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number from -2^63 to 2^63-1"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::integer")]
        list: Option<i64>,
    }

    fn list(json: &str) -> Result<Option<i64>, String> {
        serde_json::from_str::<Body>(json)
            .map(|b| b.list)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_pass_in_either_spelling() {
        assert_eq!(list(r#"{"list": 7}"#), Ok(Some(7)));
        assert_eq!(list(r#"{"list": 4447.0}"#), Ok(Some(4447)));
        assert_eq!(list(r#"{}"#), Ok(None));
        assert_eq!(list(r#"{"list": null}"#), Ok(None));
        assert!(list(r#"{"list": 1.5}"#).is_err());
        assert!(list(r#"{"list": 1e300}"#).is_err());
        assert!(list(r#"{"list": "7"}"#).is_err());
    }
}
