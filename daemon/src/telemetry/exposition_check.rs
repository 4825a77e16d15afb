//! A strict checker of the Prometheus text exposition format (0.0.4), so that a malformed
//! `/metrics` line fails a test instead of silently breaking a scrape. Lenient parsers (such
//! as the `prometheus-parse` crate, which skips lines it cannot read) would not catch that.
//!
//! It checks: every line is a `# HELP`, a `# TYPE` or a sample; names and label names are
//! valid; label values are quoted with valid escapes; values are numbers; a family's TYPE comes
//! before its samples and only once; no series repeats; histogram samples are `_bucket` (with
//! `le`), `_sum` or `_count`, buckets are cumulative and `le="+Inf"` equals `_count`.
//!
//! Test code only: the daemon's unit tests compile it (`#[cfg(test)]`) and the tests crate includes
//! this file by path, so it is not part of the shipped binary.

use std::collections::{HashMap, HashSet};

/// Checks a whole exposition. The error names the line (1-based) and what is wrong.
pub fn check_exposition(text: &str) -> Result<(), String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the exposition must end with a newline".to_owned());
    }
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashSet<String> = HashSet::new();
    let mut series: HashSet<String> = HashSet::new();
    // Histogram series without `le` → (last cumulative bucket, +Inf bucket, count).
    let mut histograms: HashMap<String, (f64, Option<f64>, Option<f64>)> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let at = |reason: String| format!("line {}: {reason}: {line:?}", index + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            check_name(name).map_err(at)?;
            if !helps.insert(name.to_owned()) {
                return Err(at("second HELP for the family".to_owned()));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| at("TYPE without a type".to_owned()))?;
            check_name(name).map_err(at)?;
            if !matches!(
                kind,
                "counter" | "gauge" | "histogram" | "summary" | "untyped"
            ) {
                return Err(at(format!("unknown type {kind:?}")));
            }
            if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                return Err(at("second TYPE for the family".to_owned()));
            }
        } else if line.starts_with('#') || line.trim().is_empty() {
            return Err(at(
                "comment or blank line that is neither HELP nor TYPE".to_owned()
            ));
        } else {
            let sample = parse_sample(line).map_err(at)?;
            let key = format!("{}{:?}", sample.name, sample.labels);
            if !series.insert(key) {
                return Err(at("series repeated".to_owned()));
            }
            let (family, suffix) = family_of(&sample.name, &types);
            let kind = types
                .get(family)
                .ok_or_else(|| at(format!("no TYPE before the samples of {family}")))?;
            if kind == "histogram" {
                check_histogram_sample(&sample, suffix, &mut histograms).map_err(at)?;
            } else if !suffix.is_empty() {
                return Err(at(format!("{kind} sample with a histogram suffix")));
            }
        }
    }
    for (series, (_, inf, count)) in histograms {
        if inf.is_none() || inf != count {
            return Err(format!(
                "histogram {series}: le=\"+Inf\" {inf:?} is not _count {count:?}"
            ));
        }
    }
    Ok(())
}

struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("invalid metric name {name:?}"))
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(inner)?;
        labels = parsed;
        rest = after;
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut parts = rest.split(' ');
    let value = parts.next().unwrap_or_default();
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        other => other
            .parse::<f64>()
            .map_err(|_| format!("value {other:?} is not a number"))?,
    };
    if let Some(timestamp) = parts.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("timestamp {timestamp:?} is not an integer"))?;
    }
    if parts.next().is_some() {
        return Err("text after the timestamp".to_owned());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// A sample's labels, as (name, value) pairs in their order.
type Labels = Vec<(String, String)>;

/// Parses `k="v",k2="v2"}` and returns the labels and what follows the `}`.
fn parse_labels(mut text: &str) -> Result<(Labels, &str), String> {
    let mut labels: Vec<(String, String)> = Vec::new();
    loop {
        if let Some(after) = text.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (key, after) = text.split_once("=\"").ok_or("label without =\"")?;
        check_name(key).map_err(|_| format!("invalid label name {key:?}"))?;
        if key.contains(':') || labels.iter().any(|(k, _)| k == key) {
            return Err(format!("invalid or repeated label name {key:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".to_owned()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err("invalid escape in a label value".to_owned()),
                },
                Some((_, '\n')) => return Err("newline in a label value".to_owned()),
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((key.to_owned(), value));
        text = &after[end + 1..];
        if let Some(next) = text.strip_prefix(',') {
            text = next;
        } else if !text.starts_with('}') {
            return Err("labels must be separated by commas".to_owned());
        }
    }
}

/// The family a sample belongs to, and its histogram suffix if the family is a histogram.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> (&'a str, &'a str) {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(family) = name.strip_suffix(suffix)
            && types.get(family).is_some_and(|kind| kind == "histogram")
        {
            return (family, suffix);
        }
    }
    (name, "")
}

fn check_histogram_sample(
    sample: &Sample,
    suffix: &str,
    histograms: &mut HashMap<String, (f64, Option<f64>, Option<f64>)>,
) -> Result<(), String> {
    let without_le: Vec<_> = sample.labels.iter().filter(|(k, _)| k != "le").collect();
    let key = format!("{}{without_le:?}", sample.name.trim_end_matches(suffix));
    let entry = histograms.entry(key).or_insert((0.0, None, None));
    match suffix {
        "_bucket" => {
            let le = sample
                .labels
                .iter()
                .find(|(k, _)| k == "le")
                .ok_or("bucket without le")?;
            if le.1 != "+Inf" {
                le.1.parse::<f64>()
                    .map_err(|_| format!("le {:?} is not a number", le.1))?;
            }
            if sample.value < entry.0 {
                return Err("buckets are not cumulative".to_owned());
            }
            entry.0 = sample.value;
            if le.1 == "+Inf" {
                entry.1 = Some(sample.value);
            }
        }
        "_count" => entry.2 = Some(sample.value),
        "_sum" => {}
        _ => return Err("histogram sample without _bucket, _sum or _count".to_owned()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_exposition_passes() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total{reason=\"x\\\"y\"} 3\n\
                    # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n";
        assert_eq!(check_exposition(text), Ok(()));
    }

    #[test]
    fn malformed_lines_fail() {
        let bad = [
            "a 1\n",                                                                          // no TYPE
            "# TYPE a counter\na{b=\"c} 1\n", // unterminated value
            "# TYPE a counter\na{b=c} 1\n",   // unquoted value
            "# TYPE a counter\na one\n",      // value not a number
            "# TYPE a counter\na 1\na 2\n",   // repeated series
            "# TYPE a counter\n# TYPE a gauge\n", // second TYPE
            "# TYPE 1a counter\n",            // bad name
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", // not cumulative
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n", // +Inf != count
            "# TYPE a counter\na 1",                                    // no final newline
            "# comment\n",
        ];
        for text in bad {
            assert!(check_exposition(text).is_err(), "accepted: {text:?}");
        }
    }
}
