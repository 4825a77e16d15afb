//! Writing the Prometheus text exposition (format 0.0.4): HELP and TYPE lines, one sample per
//! line, and histograms as `_bucket{le=..}`/`_sum`/`_count`. Every module that contributes to
//! `/metrics` writes through [`Exposition`], so the format lives in one place and the strict
//! check (`telemetry/exposition_check.rs`, test code) holds for all of them.
//!
//! Hand-written rather than with `prometheus-client`: every value already lives in the modules'
//! own atomic stats structs, so a registry would only copy them, and label values come from
//! fixed sets of snake_case names that need no escaping.

use std::fmt::Write as _;

use super::histogram::HistogramSnapshot;

/// The text being built. Writing into a `String` cannot fail, so the `fmt::Result`s are dropped.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// The `# HELP` and `# TYPE` lines of a family (`kind`: counter, gauge, histogram).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample of a family written before.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.sample_text(name, labels, &value.to_string());
    }

    fn sample_text(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        let _ = write!(self.text, "{name}");
        if !labels.is_empty() {
            let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            let _ = write!(self.text, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// The `_bucket`, `_sum` and `_count` lines of one histogram (its family written before).
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        histogram: &HistogramSnapshot,
    ) {
        let bucket = format!("{name}_bucket");
        for (bound, n) in &histogram.buckets {
            let le = bound.to_string();
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, *n);
        }
        let mut with_inf = labels.to_vec();
        with_inf.push(("le", "+Inf"));
        self.sample(&bucket, &with_inf, histogram.count);
        self.sample_text(
            &format!("{name}_sum"),
            labels,
            &histogram.sum_seconds.to_string(),
        );
        self.sample(&format!("{name}_count"), labels, histogram.count);
    }

    /// A family of one unlabelled counter.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "counter", help);
        self.sample(name, &[], value);
    }

    /// Several unlabelled counters: `(name, help, value)` each.
    pub fn counters(&mut self, counters: &[(&str, &str, u64)]) {
        for (name, help, value) in counters {
            self.counter(name, help, *value);
        }
    }

    /// A family of one unlabelled gauge.
    pub fn gauge(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }

    /// A family with one label: `(label value, sample value)` each.
    pub fn labelled(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        label: &str,
        samples: &[(&str, u64)],
    ) {
        self.family(name, kind, help);
        for (value, n) in samples {
            self.sample(name, &[(label, value)], *n);
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::histogram::Histogram;
    use std::time::Duration;

    #[test]
    fn histogram_lines_are_exact() {
        let h = Histogram::new(&[0.5, 1.0]);
        h.observe(Duration::from_millis(250));
        h.observe(Duration::from_secs(2));
        let mut out = Exposition::default();
        out.family("x_seconds", "histogram", "X.");
        out.histogram("x_seconds", &[("source", "imap")], &h.snapshot());
        assert_eq!(
            out.as_str(),
            "# HELP x_seconds X.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{source=\"imap\",le=\"0.5\"} 1\n\
             x_seconds_bucket{source=\"imap\",le=\"1\"} 1\n\
             x_seconds_bucket{source=\"imap\",le=\"+Inf\"} 2\n\
             x_seconds_sum{source=\"imap\"} 2.25\n\
             x_seconds_count{source=\"imap\"} 2\n"
        );
    }

    #[test]
    fn labelled_families_and_counter_tables_pass_the_strict_check() {
        let mut out = Exposition::default();
        out.labelled(
            "a_total",
            "counter",
            "A.",
            "outcome",
            &[("ok", 1), ("failed", 0)],
        );
        out.counters(&[("b_total", "B.", 2), ("c_total", "C.", 3)]);
        out.gauge("d", "D.", 4);
        assert_eq!(
            crate::telemetry::exposition_check::check_exposition(out.as_str()),
            Ok(()),
            "{}",
            out.as_str()
        );
        assert!(out.as_str().contains("a_total{outcome=\"failed\"} 0\n"));
        assert!(out.as_str().contains("c_total 3\n"));
    }
}
