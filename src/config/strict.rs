//! Range checks for single keys: every number, URL and name a running proxy would choke on
//! (or silently misread) is refused here, at its place in the file.
//!
//! Runs before the cross-key validation in `model.rs`. Each problem names the dotted key
//! and points at the value (via [`super::spans`]).

use std::ops::Range;

use super::ConfigFile;
use super::spans::value_span;
use crate::redact::names::Pattern;

/// Largest `max_in_flight_shadows` (tokio's semaphore takes up to 2^61 − 1 permits;
/// beyond a million in-flight shadows the proxy is misconfigured anyway).
pub const MAX_IN_FLIGHT_SHADOWS: usize = 1_000_000;
/// Largest body capture (`max_body_bytes`): 256 MiB.
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;
/// Smallest recording segment (`rotate_bytes`): 1 MiB.
pub const MIN_ROTATE_BYTES: u64 = 1024 * 1024;
/// Longest timeout or grace period: one day.
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;
/// Longest fsync interval: one minute.
pub const MAX_FSYNC_MS: u64 = 60_000;

type Problem = (Range<usize>, String, String);

/// Check every single-key range; the first problem found.
pub(super) fn check(file: &ConfigFile, text: &str) -> Result<(), Problem> {
    let problem = |key: &str, message: String| -> Problem {
        let span = value_span(text, key).unwrap_or(0..0);
        (span, key.to_string(), message)
    };
    let p = &file.proxy;
    if p.admin_enabled && p.listen.port() != 0 && p.listen == p.admin {
        return Err(problem(
            "proxy.admin",
            format!(
                "the admin listener cannot share the proxy's address {}; pick another port",
                p.listen
            ),
        ));
    }
    in_range(
        "proxy.max_body_bytes",
        p.max_body_bytes as u64,
        1,
        MAX_BODY_BYTES as u64,
    )
    .map_err(|m| problem("proxy.max_body_bytes", m))?;
    in_range(
        "proxy.max_in_flight_shadows",
        p.max_in_flight_shadows as u64,
        1,
        MAX_IN_FLIGHT_SHADOWS as u64,
    )
    .map_err(|m| problem("proxy.max_in_flight_shadows", m))?;
    in_range(
        "proxy.max_shadow_connections_per_target",
        p.max_shadow_connections_per_target as u64,
        1,
        MAX_IN_FLIGHT_SHADOWS as u64,
    )
    .map_err(|m| problem("proxy.max_shadow_connections_per_target", m))?;
    for (key, v, min) in [
        ("proxy.primary_timeout_ms", p.primary_timeout_ms, 1),
        ("proxy.shadow_timeout_ms", p.shadow_timeout_ms, 1),
        ("proxy.shutdown_grace_ms", p.shutdown_grace_ms, 0),
    ] {
        in_range(key, v, min, MAX_TIMEOUT_MS).map_err(|m| problem(key, m))?;
    }
    for (name, t) in &file.targets {
        let key = format!("targets.{name}.url");
        check_target_url(t.url.get_ref()).map_err(|m| (t.url.span(), key, m))?;
        if let Some(ms) = t.timeout_ms {
            let key = format!("targets.{name}.timeout_ms");
            in_range(&key, ms, 1, MAX_TIMEOUT_MS).map_err(|m| problem(&key, m))?;
        }
    }
    let r = &file.recording;
    if r.rotate_bytes < MIN_ROTATE_BYTES {
        return Err(problem(
            "recording.rotate_bytes",
            format!(
                "must be at least {MIN_ROTATE_BYTES} (1 MiB), got {}; smaller segments rotate on almost every exchange",
                r.rotate_bytes
            ),
        ));
    }
    in_range(
        "recording.fsync_interval_ms",
        r.fsync_interval_ms,
        1,
        MAX_FSYNC_MS,
    )
    .map_err(|m| problem("recording.fsync_interval_ms", m))?;
    let t = &file.triggers;
    if !(t.p95_ms.is_finite() && t.p95_ms > 0.0) {
        return Err(problem(
            "triggers.p95_ms",
            format!(
                "must be a positive number of milliseconds, got {}",
                t.p95_ms
            ),
        ));
    }
    if !(t.p95_increase_pct.is_finite() && t.p95_increase_pct >= 0.0) {
        return Err(problem(
            "triggers.p95_increase_pct",
            format!(
                "must be 0 or more (a percentage), got {}",
                t.p95_increase_pct
            ),
        ));
    }
    if !(0.0..=100.0).contains(&t.error_rate_pct) {
        return Err(problem(
            "triggers.error_rate_pct",
            format!(
                "must be a percentage from 0 to 100, got {}",
                t.error_rate_pct
            ),
        ));
    }
    for (key, v) in [
        ("triggers.p50_overhead_ms", t.p50_overhead_ms),
        ("triggers.p99_overhead_ms", t.p99_overhead_ms),
    ] {
        if let Some(v) = v
            && !(v.is_finite() && v >= 0.0)
        {
            return Err(problem(
                key,
                format!("must be 0 or more milliseconds, got {v}"),
            ));
        }
    }
    if t.min_samples < crate::stats::MIN_SAMPLES_MW {
        return Err(problem(
            "triggers.min_samples",
            format!(
                "must be at least {} (the Mann-Whitney test's minimum), got {}",
                crate::stats::MIN_SAMPLES_MW,
                t.min_samples
            ),
        ));
    }
    if !(t.confidence >= 0.5 && t.confidence < 1.0) {
        return Err(problem(
            "triggers.confidence",
            format!("must be from 0.5 to below 1, got {}", t.confidence),
        ));
    }
    check_names(file, text)
}

fn in_range(key: &str, v: u64, min: u64, max: u64) -> Result<(), String> {
    if (min..=max).contains(&v) {
        return Ok(());
    }
    let name = key.rsplit('.').next().unwrap_or(key);
    Err(format!("{name} must be from {min} to {max}, got {v}"))
}

/// Redaction names must be usable patterns.
fn check_names(file: &ConfigFile, text: &str) -> Result<(), Problem> {
    let red = &file.redaction;
    let rec = &file.recording;
    let lists: [(&str, &Vec<String>, bool); 6] = [
        ("redaction.headers", &red.headers, false),
        ("redaction.fields", &red.fields, false),
        ("redaction.keep_headers", &red.keep_headers, false),
        ("redaction.keep_fields", &red.keep_fields, false),
        ("recording.redact_headers", &rec.redact_headers, false),
        ("recording.redact_fields", &rec.redact_fields, true),
    ];
    for (key, list, fragment) in lists {
        for (i, name) in list.iter().enumerate() {
            let parsed = if fragment {
                Pattern::fragment(name)
            } else {
                Pattern::parse(name)
            };
            if let Err(m) = parsed {
                let span = value_span(text, &format!("{key}.{i}"))
                    .or_else(|| value_span(text, key))
                    .unwrap_or(0..0);
                return Err((span, key.to_string(), m));
            }
        }
    }
    Ok(())
}

/// A target URL's authority: no credentials, and a port (when written) from 1 to 65535.
/// Scheme, host and query are checked by the cross-key validation.
pub fn check_target_url(url: &str) -> Result<(), String> {
    let Some((_, rest)) = url.split_once("://") else {
        return Ok(());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(format!(
            "a target URL cannot carry credentials (`user:password@`): they would be sent \
             as part of the Host header; remove them from {:?} (clients' own Authorization \
             and other headers are forwarded unchanged)",
            crate::redact::redact_uri(url, &crate::redact::Redaction::default())
                .unwrap_or_else(|| url.to_string())
        ));
    }
    // `[v6]:port` or `host:port`.
    let port = match authority.rsplit_once(']') {
        Some((_, after)) => after.strip_prefix(':'),
        None => authority.rsplit_once(':').map(|(_, p)| p),
    };
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => {
                return Err(format!(
                    "the port must be a number from 1 to 65535, got {port:?} in {url:?}"
                ));
            }
        }
    }
    Ok(())
}

/// `scheme://user:password@` in a line → `scheme://user:[REDACTED]@`.
pub(super) fn mask_userinfo(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(['/', '?', '#', '"', '\'', ' '])
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@').and_then(|at| {
            let (user, _) = authority[..at].split_once(':')?;
            Some(format!(
                "{user}:{}{}",
                crate::redact::MASK,
                &authority[at..]
            ))
        }) {
            Some(masked) => out.push_str(&masked),
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}
