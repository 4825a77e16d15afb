//! The JSON prediction format of the shared scorer (`eval/score.py`), plus confidence and provenance.
//!
//! One object per message: `file`, `has_signature`, `contact` (plain values, or `null`),
//! `confidence`, `signature_rule` (how the block was found), `block_facts` (the structural facts its
//! confidence is conditioned on), and `provenance` (per field: the rule, signature line and confidence that
//! produced it). `mailsigd parse --json` and `examples/parse.rs` print exactly this.

use serde_json::{Map, Value, json};

use crate::{Extraction, Field};

fn provenance_of<T>(field: &Field<T>) -> Value {
    json!({ "rule": field.rule, "line": field.line, "confidence": field.confidence })
}

fn scalar<T: serde::Serialize>(field: &Option<Field<T>>) -> (Value, Value) {
    match field {
        Some(f) => (json!(f.value), provenance_of(f)),
        None => (Value::Null, Value::Null),
    }
}

fn list<T: serde::Serialize>(fields: &[Field<T>]) -> (Value, Value) {
    let values = fields.iter().map(|f| json!(f.value)).collect();
    let provenance = fields.iter().map(provenance_of).collect();
    (Value::Array(values), Value::Array(provenance))
}

/// Renders one extraction in the scorer's prediction format.
pub fn prediction_json(file: &str, x: &Extraction) -> Value {
    let mut contact = Value::Null;
    let mut provenance = Map::new();
    if let (true, Some(c)) = (x.has_signature, &x.contact) {
        let mut values = Map::new();
        let entries = [
            ("name", scalar(&c.name)),
            ("title", scalar(&c.title)),
            ("company", scalar(&c.company)),
            ("emails", list(&c.emails)),
            ("phones", list(&c.phones)),
            ("websites", list(&c.websites)),
            ("address", scalar(&c.address)),
            ("social", list(&c.social)),
        ];
        for (key, (value, origin)) in entries {
            values.insert(key.to_string(), value);
            provenance.insert(key.to_string(), origin);
        }
        contact = Value::Object(values);
    }
    // How the block was found (a diagnostic code, never content): what the calibration of the
    // fields' confidence is measured per.
    let anchor = x
        .diagnostics
        .iter()
        .map(|d| d.code)
        .find(|c| crate::extract::ANCHOR_RULES.contains(c));
    json!({
        "file": file,
        "has_signature": x.has_signature && x.contact.is_some(),
        "contact": contact,
        "confidence": x.confidence,
        "signature_rule": anchor,
        "block_facts": x
            .diagnostics
            .iter()
            .map(|d| d.code)
            .filter(|c| c.starts_with("block."))
            .collect::<Vec<_>>(),
        "provenance": Value::Object(provenance),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Contact, Phone, PhoneKind};

    fn field<T>(value: T) -> Field<T> {
        Field {
            value,
            confidence: 0.9,
            rule: "test",
            line: Some(1),
        }
    }

    #[test]
    fn renders_contact_in_scorer_format() {
        let x = Extraction {
            has_signature: true,
            contact: Some(Contact {
                name: Some(field("Ann Lee".to_string())),
                phones: vec![field(Phone {
                    kind: PhoneKind::Mobile,
                    e164: "+15105550178".into(),
                })],
                emails: vec![field("ann@x.com".to_string())],
                ..Contact::default()
            }),
            confidence: 0.8,
            diagnostics: vec![],
        };
        let v = prediction_json("a.eml", &x);
        assert_eq!(v["file"], "a.eml");
        assert_eq!(v["has_signature"], true);
        assert_eq!(v["contact"]["name"], "Ann Lee");
        assert_eq!(v["contact"]["title"], Value::Null);
        assert_eq!(v["contact"]["phones"][0]["type"], "mobile");
        assert_eq!(v["contact"]["phones"][0]["e164"], "+15105550178");
        assert_eq!(v["contact"]["emails"][0], "ann@x.com");
        assert_eq!(v["contact"]["social"], json!([]));
        assert_eq!(v["provenance"]["name"]["rule"], "test");
    }

    #[test]
    fn no_signature_gives_null_contact() {
        let v = prediction_json("b.eml", &Extraction::default());
        assert_eq!(v["has_signature"], false);
        assert_eq!(v["contact"], Value::Null);
    }
}
