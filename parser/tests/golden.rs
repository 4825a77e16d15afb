//! Golden runner: every `fixtures/<kind>/NNN-name.eml` is extracted and compared with its
//! `NNN-name.json` label (the corpus label schema). On a mismatch the actual result is written
//! to `NNN-name.actual` beside it and the test fails; it also fails if no case ran.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fixtures")
}

fn emls(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(kinds) = std::fs::read_dir(dir) else {
        return out;
    };
    for kind in kinds.flatten() {
        let Ok(files) = std::fs::read_dir(kind.path()) else {
            continue;
        };
        for f in files.flatten() {
            if f.path().extension().is_some_and(|e| e == "eml") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

/// The label fields in a form where order of list values does not matter.
fn canonical(v: &Value) -> Value {
    let has = v["has_signature"].as_bool().unwrap_or(false);
    let c = &v["contact"];
    if !has || c.is_null() {
        return json!({ "has_signature": false, "contact": null });
    }
    let set = |key: &str| -> Vec<String> {
        let s: BTreeSet<String> = c[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str())
            .map(str::to_lowercase)
            .collect();
        s.into_iter().collect()
    };
    let phones: BTreeSet<(String, String)> = c["phones"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["e164"].as_str().unwrap_or_default().to_string(),
                p["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    json!({
        "has_signature": true,
        "contact": {
            "name": c["name"], "title": c["title"], "company": c["company"], "address": c["address"],
            "emails": set("emails"), "websites": set("websites"), "social": set("social"),
            "phones": phones.into_iter().map(|(e, t)| json!({"type": t, "e164": e})).collect::<Vec<_>>(),
        }
    })
}

#[test]
fn fixtures_match_their_labels() {
    let dir = fixtures_dir();
    let cases = emls(&dir);
    let mut failures = Vec::new();
    for eml in &cases {
        let raw = std::fs::read(eml).unwrap_or_else(|e| panic!("read {}: {e}", eml.display()));
        let label_path = eml.with_extension("json");
        let label_text = std::fs::read_to_string(&label_path)
            .unwrap_or_else(|e| panic!("read {}: {e}", label_path.display()));
        let label: Value = serde_json::from_str(&label_text)
            .unwrap_or_else(|e| panic!("parse {}: {e}", label_path.display()));
        let actual = mailsig_parser::prediction_json(
            &eml.display().to_string(),
            &mailsig_parser::extract(&raw),
        );
        let (want, got) = (canonical(&label), canonical(&actual));
        let actual_path = eml.with_extension("actual");
        if want == got {
            let _ = std::fs::remove_file(&actual_path);
        } else {
            let pretty = serde_json::to_string_pretty(&got).unwrap_or_default();
            let _ = std::fs::write(&actual_path, pretty + "\n");
            failures.push(eml.strip_prefix(&dir).unwrap_or(eml).display().to_string());
        }
    }
    assert!(
        !cases.is_empty(),
        "no fixtures found under {}",
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ (see the .actual files): {failures:#?}",
        failures.len(),
        cases.len()
    );
}
