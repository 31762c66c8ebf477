//! Cross-key validation of a parsed `cutover.toml`: one primary, at most one secondary,
//! known candidates, URL schemes and ports, compiled routes and compare rules, and the
//! per-table checks (`strict`, `grouping`, `connections`, `tls`). Every problem carries the
//! byte range of the key it names, so the error shows file:line:column. Never starts
//! anything.

use std::ops::Range;

use super::model::*;
use super::routes::{Route, RouteTable};
use crate::compare::rules::{RuleError, Rules};
use toml::Spanned;

/// A validation problem: the byte range it points at, the key, the message.
pub(crate) type Problem = (Range<usize>, String, String);

impl ConfigFile {
    /// Checks that need more than one key. Returns the compiled route table.
    pub(super) fn validate(&self, text: &str) -> Result<RouteTable, Problem> {
        // Compare rules are compiled here so a bad rule is reported with its place in the
        // file (found by its quoted path) instead of when the analyzer starts.
        let rule_problem = |key: String, e: RuleError| {
            let needle = match &e {
                RuleError::BadPath { path, .. }
                | RuleError::BadTolerance { path, .. }
                | RuleError::BadKey { path, .. } => Some(format!("{path:?}")),
                RuleError::BadNoise(_) => None,
            };
            let at = needle.and_then(|n| text.find(&n)).unwrap_or(0);
            (at..at, key, e.to_string())
        };
        Rules::compile(&self.compare).map_err(|e| rule_problem("compare".into(), e))?;
        let mut primaries = Vec::new();
        let mut secondaries = Vec::new();
        for (name, target) in &self.targets {
            let key = format!("targets.{name}.url");
            check_url(target.url.get_ref()).map_err(|m| (target.url.span(), key, m))?;
            super::tls::check_target(name, target)?;
            match target.role {
                Role::Primary => primaries.push(target),
                Role::Secondary => secondaries.push(target),
                Role::Candidate => {}
            }
        }
        if primaries.is_empty() {
            let span = self
                .targets
                .values()
                .next()
                .map(|t| t.url.span())
                .unwrap_or(0..0);
            return Err((
                span,
                "targets".into(),
                "no target has role = \"primary\"; mark the monolith with role = \"primary\""
                    .into(),
            ));
        }
        if primaries.len() > 1 {
            return Err((
                primaries[1].url.span(),
                "targets".into(),
                "more than one target has role = \"primary\"".into(),
            ));
        }
        if secondaries.len() > 1 {
            return Err((
                secondaries[1].url.span(),
                "targets".into(),
                "more than one target has role = \"secondary\"".into(),
            ));
        }
        let mut routes = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            let key = |k: &str| format!("routes[{i}].{k}");
            if let Some(candidate) = &r.candidate {
                check_candidate(self, candidate, &key)?;
            } else if secondaries.is_empty() {
                return Err((
                    r.pattern.span(),
                    key("candidate"),
                    "this route names no candidate and there is no target with role = \
                     \"secondary\" to mirror it to; name a candidate, or add a secondary \
                     for an A/A check"
                        .into(),
                ));
            }
            check_route_ranges(r, &key)?;
            let rules = self.compare.merged(&r.compare);
            Rules::compile(&rules).map_err(|e| rule_problem(key("compare"), e))?;
            let route = Route::new(r, rules).map_err(|m| (r.pattern.span(), key("match"), m))?;
            routes.push(route);
        }
        for (key, value) in [
            (
                "max_shadow_memory_bytes",
                self.proxy.max_shadow_memory_bytes,
            ),
            ("max_total_bytes", self.recording.max_total_bytes),
            ("max_files", self.recording.max_files.unwrap_or(1)),
        ] {
            if value == 0 {
                let section = if key == "max_shadow_memory_bytes" {
                    "proxy"
                } else {
                    "recording"
                };
                return Err((
                    key_span(text, section, key),
                    format!("{section}.{key}"),
                    "must be greater than 0".into(),
                ));
            }
        }
        if self.proxy.max_body_bytes == 0 || self.proxy.max_in_flight_shadows == 0 {
            return Err((
                0..0,
                "proxy".into(),
                "max_body_bytes and max_in_flight_shadows must be greater than 0".into(),
            ));
        }
        super::grouping::check(&self.grouping)?;
        super::connections::validate(&self.proxy, text)?;
        Ok(RouteTable::new(routes))
    }
}

/// A route's candidate names a target with role candidate.
fn check_candidate(
    file: &ConfigFile,
    candidate: &Spanned<String>,
    key: &dyn Fn(&str) -> String,
) -> Result<(), Problem> {
    let cand = candidate.get_ref();
    match file.targets.get(cand) {
        None => {
            let known: Vec<&str> = file.targets.keys().map(|s| s.as_str()).collect();
            Err((
                candidate.span(),
                key("candidate"),
                format!("no target named `{cand}` (targets: {})", known.join(", ")),
            ))
        }
        Some(t) if t.role != Role::Candidate => Err((
            candidate.span(),
            key("candidate"),
            format!(
                "target `{cand}` is not a candidate (its role is {:?})",
                t.role
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// `sample` and `parity_threshold` are fractions.
fn check_route_ranges(r: &RouteConfig, key: &dyn Fn(&str) -> String) -> Result<(), Problem> {
    for (field, v) in [
        ("sample", &r.sample),
        ("parity_threshold", &r.parity_threshold),
    ] {
        let x = *v.get_ref();
        if !(0.0..=1.0).contains(&x) {
            return Err((
                v.span(),
                key(field),
                format!("must be between 0.0 and 1.0, got {x}"),
            ));
        }
    }
    Ok(())
}

/// Where `key = ...` is written inside `[section]` (start of the file when not found).
fn key_span(text: &str, section: &str, key: &str) -> Range<usize> {
    let header = format!("[{section}]");
    let from = text.find(&header).unwrap_or(0);
    let mut offset = from;
    for line in text[from..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            let at = offset + (line.len() - trimmed.len());
            return at..at + key.len();
        }
        offset += line.len();
    }
    0..0
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed: http::Uri = url
        .parse()
        .map_err(|e| format!("not a valid URL ({e}): {url:?}"))?;
    match parsed.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(format!(
                "scheme `{other}` is not supported; write http:// (HTTP/1.1, or h2c with \
                 protocol = \"h2c\") or https:// (HTTP/2 or HTTP/1.1, chosen by ALPN)"
            ));
        }
        None => {
            return Err(format!(
                "missing scheme; write http://{url} or https://{url}"
            ));
        }
    }
    if parsed.host().is_none_or(|h| h.is_empty()) {
        return Err(format!("missing host in {url:?}"));
    }
    if parsed.query().is_some() {
        return Err(format!("a target URL cannot have a query: {url:?}"));
    }
    Ok(())
}
