//! Field-level validation shared by the API (400 with a list of fields) and the pages (messages
//! next to the inputs). Codes are a closed set: `required`, `text`, `number`, `email`, `choice`.

use serde::Serialize;

use super::{ServiceError, ServiceResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldCode {
    /// Missing or empty.
    Required,
    /// Text that is too long or has characters that are not allowed.
    Text,
    /// Not a number in range.
    Number,
    /// Not an e-mail address.
    Email,
    /// Not one of the allowed values.
    Choice,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: FieldCode,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: FieldCode, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_owned(),
            code,
            message: message.into(),
        }
    }
}

/// Collects field errors, then fails once with all of them.
#[derive(Debug, Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    pub fn new() -> Checker {
        Checker::default()
    }

    pub fn push(&mut self, field: &str, code: FieldCode, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    /// A required single-line text of at most `max` characters; returns it trimmed.
    pub fn text(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<String> {
        match value.map(str::trim) {
            None | Some("") => {
                self.push(field, FieldCode::Required, "is required");
                None
            }
            Some(v) => self.check_text(field, v, max),
        }
    }

    /// An optional single-line text; empty counts as absent.
    pub fn optional_text(
        &mut self,
        field: &str,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        match value.map(str::trim) {
            None | Some("") => None,
            Some(v) => self.check_text(field, v, max),
        }
    }

    fn check_text(&mut self, field: &str, v: &str, max: usize) -> Option<String> {
        if v.chars().count() > max {
            self.push(
                field,
                FieldCode::Text,
                format!("is longer than {max} characters"),
            );
            None
        } else if v.chars().any(char::is_control) {
            self.push(field, FieldCode::Text, "contains control characters");
            None
        } else {
            Some(v.to_owned())
        }
    }

    /// A required e-mail address (one `@`, something on both sides, no spaces); lower-cased.
    pub fn email(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let v = self.text(field, value, 254)?;
        let ok = match v.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.contains('@')
                    && !v.contains(char::is_whitespace)
            }
            None => false,
        };
        if ok {
            Some(v.to_lowercase())
        } else {
            self.push(field, FieldCode::Email, "is not an e-mail address");
            None
        }
    }

    /// A required value from `allowed`.
    pub fn choice<'a>(
        &mut self,
        field: &str,
        value: Option<&str>,
        allowed: &[&'a str],
    ) -> Option<&'a str> {
        match value.map(str::trim) {
            None | Some("") => {
                self.push(field, FieldCode::Required, "is required");
                None
            }
            Some(v) => match allowed.iter().find(|a| **a == v) {
                Some(a) => Some(*a),
                None => {
                    self.push(
                        field,
                        FieldCode::Choice,
                        format!("must be one of: {}", allowed.join(", ")),
                    );
                    None
                }
            },
        }
    }

    /// An optional integer in `range`.
    pub fn number(
        &mut self,
        field: &str,
        value: Option<i64>,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        let v = value?;
        if range.contains(&v) {
            Some(v)
        } else {
            self.push(
                field,
                FieldCode::Number,
                format!("must be between {} and {}", range.start(), range.end()),
            );
            None
        }
    }

    /// `Ok(())` when nothing failed.
    pub fn finish(self) -> ServiceResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_field_error() {
        let mut c = Checker::new();
        assert_eq!(c.text("name", Some("  ok "), 10).as_deref(), Some("ok"));
        assert!(c.text("empty", Some("  "), 10).is_none());
        assert!(c.email("email", Some("no-at-sign")).is_none());
        assert_eq!(
            c.email("email2", Some("A@B.example")).as_deref(),
            Some("a@b.example")
        );
        assert!(
            c.choice("role", Some("king"), &["owner", "viewer"])
                .is_none()
        );
        assert!(c.number("port", Some(70000), 1..=65535).is_none());
        let Err(ServiceError::Validation(errors)) = c.finish() else {
            panic!("expected a validation error")
        };
        let codes: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            [
                ("empty", FieldCode::Required),
                ("email", FieldCode::Email),
                ("role", FieldCode::Choice),
                ("port", FieldCode::Number)
            ]
        );
    }
}
