//! The API's contract, checked on real answers: every response the API tests receive from an
//! `/api` path is matched to its route in the OpenAPI document the daemon serves, and its status
//! must be documented for that route and its body must validate against the documented JSON
//! Schema (2020-12, with `jsonschema`). Unknown paths and methods must answer the `Error` body.
//! Which (route, status) pairs were checked is recorded, so a test can tell what the suite
//! covered.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

/// The document and compiled validators, built once per test process.
pub struct Contract {
    doc: Value,
    validators: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
    seen: Mutex<BTreeSet<(String, String, u16)>>,
}

/// The process-wide contract, from the document the daemon would serve.
pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let doc =
            serde_json::from_str(mailsig_daemon::http::api::openapi::json()).unwrap_or(Value::Null);
        Contract {
            doc,
            validators: Mutex::default(),
            seen: Mutex::default(),
        }
    })
}

impl Contract {
    /// The documented path template that `path` (without its query) matches: the one with the
    /// most literal segments, so `/mailboxes/imap` wins over `/mailboxes/{id}`.
    pub fn template(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').collect();
        let paths = self.doc["paths"].as_object()?;
        paths
            .keys()
            .filter_map(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literal = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    if part.starts_with('{') {
                        if segment.is_empty() {
                            return None;
                        }
                    } else if part == segment {
                        literal += 1;
                    } else {
                        return None;
                    }
                }
                Some((literal, template.clone()))
            })
            .max()
            .map(|(_, template)| template)
    }

    fn validator(&self, reference: &str) -> Result<std::sync::Arc<jsonschema::Validator>> {
        let mut cache = self
            .validators
            .lock()
            .map_err(|_| anyhow::anyhow!("validator cache poisoned"))?;
        if let Some(v) = cache.get(reference) {
            return Ok(v.clone());
        }
        // The component schemas refer to each other by `#/components/schemas/…`: the root the
        // validator sees carries them.
        let root = json!({
            "$ref": reference,
            "components": self.doc["components"].clone(),
        });
        let validator = jsonschema::draft202012::new(&root)
            .map_err(|e| anyhow::anyhow!("schema {reference} does not compile: {e}"))?;
        let validator = std::sync::Arc::new(validator);
        cache.insert(reference.to_owned(), validator.clone());
        Ok(validator)
    }

    /// Checks one answer of the API against the document.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<()> {
        let method = method.to_lowercase();
        let template = self.template(path);
        let operation = template
            .as_ref()
            .map(|t| &self.doc["paths"][t][&method])
            .filter(|op| op.is_object());
        let Some(operation) = operation else {
            // Not a documented route: the API's JSON 404 or 405.
            ensure!(
                status == 404 || status == 405,
                "{method} {path} is not documented but answered {status}"
            );
            self.record(&method, template.as_deref().unwrap_or("(unknown)"), status);
            return self.check_json(
                "#/components/schemas/Error",
                &method,
                path,
                status,
                content_type,
                body,
            );
        };
        let template = template.unwrap_or_default();
        let response = &operation["responses"][status.to_string()];
        ensure!(
            response.is_object(),
            "{method} {template} answered {status}, which its document does not list: {}",
            String::from_utf8_lossy(body)
        );
        self.record(&method, &template, status);
        let Some(content) = response["content"].as_object() else {
            ensure!(
                body.is_empty(),
                "{method} {template} {status} is documented without a body but has one"
            );
            return Ok(());
        };
        let (media_type, media) = content
            .iter()
            .next()
            .context("documented content without a media type")?;
        let actual = content_type.unwrap_or_default();
        ensure!(
            actual.starts_with(media_type.as_str()),
            "{method} {template} {status}: content type {actual:?}, documented {media_type:?}"
        );
        if media_type == "application/json" {
            let reference = media["schema"]["$ref"]
                .as_str()
                .with_context(|| format!("{method} {template} {status}: no schema reference"))?;
            self.check_json(reference, &method, path, status, content_type, body)?;
        }
        Ok(())
    }

    fn check_json(
        &self,
        reference: &str,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<()> {
        ensure!(
            content_type.is_some_and(|c| c.starts_with("application/json")),
            "{method} {path} {status}: content type {content_type:?}, documented application/json"
        );
        let value: Value = serde_json::from_slice(body).with_context(|| {
            format!(
                "{method} {path} {status}: body is not JSON: {}",
                String::from_utf8_lossy(body)
            )
        })?;
        let validator = self.validator(reference)?;
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        if !errors.is_empty() {
            bail!(
                "{method} {path} {status}: the body does not match {reference}: {}\nbody: {value}",
                errors.join("; ")
            );
        }
        Ok(())
    }

    fn record(&self, method: &str, template: &str, status: u16) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert((method.to_owned(), template.to_owned(), status));
        }
    }

    /// Every (method, route, status) checked so far in this process.
    pub fn seen(&self) -> BTreeSet<(String, String, u16)> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Every documented (method, route), for coverage checks.
    pub fn routes(&self) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        if let Some(paths) = self.doc["paths"].as_object() {
            for (path, item) in paths {
                if let Some(item) = item.as_object() {
                    for method in item.keys() {
                        out.insert((method.clone(), path.clone()));
                    }
                }
            }
        }
        out
    }
}
