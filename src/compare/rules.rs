//! [`Rules`]: a [`RuleSpec`] compiled into matchers, and the per-path lookups the walk uses.
//!
//! Owns validation of user-written rules (every error names the rule and the bad path) and
//! the answer to "is this path ignored / unordered / tolerant / normalised?". Never looks at
//! bodies itself and never does I/O.

use std::collections::BTreeSet;

use super::path::{PathPattern, Seg};
use super::spec::{NoiseSpec, NormaliserKind, RuleSpec};

/// Header names ignored unless `compare_headers` names them. `content-length` is handled
/// separately (ignored when the bodies agree); `set-cookie` is compared without values.
pub const DEFAULT_IGNORED_HEADERS: [&str; 6] = [
    "date",
    "server",
    "x-request-id",
    "transfer-encoding",
    "connection",
    "keep-alive",
];

/// A rule that does not compile, naming the rule kind, the path as written, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("[compare] {rule}: bad path {path:?}: {reason}")]
    BadPath {
        rule: &'static str,
        path: String,
        reason: String,
    },
    #[error("[compare] tolerance at {path:?}: {reason}")]
    BadTolerance { path: String, reason: String },
    #[error("[compare] unordered at {path:?}: {reason}")]
    BadKey { path: String, reason: String },
    #[error("[compare] noise: {0}")]
    BadNoise(String),
}

#[derive(Debug, Clone)]
pub struct Unordered {
    pub pattern: PathPattern,
    pub key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Tolerance {
    pub pattern: PathPattern,
    pub abs: Option<f64>,
    pub pct: Option<f64>,
}

/// Compiled comparison rules.
#[derive(Debug, Clone)]
pub struct Rules {
    pub ignore: Vec<PathPattern>,
    pub unordered: Vec<Unordered>,
    pub tolerance: Vec<Tolerance>,
    pub normalise: Vec<(PathPattern, NormaliserKind)>,
    /// Lower-case header names ignored (built-in list plus `ignore_headers`, minus
    /// `compare_headers`).
    pub ignored_headers: BTreeSet<String>,
    /// Lower-case names from `compare_headers` (overrides every built-in treatment).
    pub compared_headers: BTreeSet<String>,
    pub noise: NoiseSpec,
    /// Detect timestamps, JWTs and UUIDs on paths no rule names.
    pub automatic: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Rules::from_parts(&[], &[])
    }
}

impl Rules {
    /// Compile user rules.
    pub fn compile(spec: &RuleSpec) -> Result<Rules, RuleError> {
        fn bad(rule: &'static str, path: &str) -> impl FnOnce(String) -> RuleError {
            let path = path.to_string();
            move |reason| RuleError::BadPath { rule, path, reason }
        }
        let mut rules = Rules::from_parts(&spec.ignore_headers, &spec.compare_headers);
        for p in &spec.ignore {
            rules
                .ignore
                .push(PathPattern::parse(p).map_err(bad("ignore", p))?);
        }
        for u in &spec.unordered {
            let pattern = PathPattern::parse(&u.path).map_err(bad("unordered", &u.path))?;
            if u.key.as_deref().is_some_and(str::is_empty) {
                return Err(RuleError::BadKey {
                    path: u.path.clone(),
                    reason: "`key` is empty; name a field such as \"id\" or leave it out".into(),
                });
            }
            rules.unordered.push(Unordered {
                pattern,
                key: u.key.clone(),
            });
        }
        for t in &spec.tolerance {
            let pattern = PathPattern::parse(&t.path).map_err(bad("tolerance", &t.path))?;
            if t.abs.is_none() && t.pct.is_none() {
                return Err(RuleError::BadTolerance {
                    path: t.path.clone(),
                    reason: "give `abs` or `pct` (or both)".into(),
                });
            }
            for (name, v) in [("abs", t.abs), ("pct", t.pct)] {
                if let Some(v) = v
                    && !(v.is_finite() && v >= 0.0)
                {
                    return Err(RuleError::BadTolerance {
                        path: t.path.clone(),
                        reason: format!("`{name}` must be a finite number >= 0, got {v}"),
                    });
                }
            }
            rules.tolerance.push(Tolerance {
                pattern,
                abs: t.abs,
                pct: t.pct,
            });
        }
        for n in &spec.normalise {
            let pattern = PathPattern::parse(&n.path).map_err(bad("normalise", &n.path))?;
            rules.normalise.push((pattern, n.kind));
        }
        let noise = &spec.noise;
        for (name, v) in [
            ("relative_threshold_pct", noise.relative_threshold_pct),
            ("absolute_threshold_pct", noise.absolute_threshold_pct),
        ] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return Err(RuleError::BadNoise(format!(
                    "`{name}` must be a percentage between 0 and 100, got {v}"
                )));
            }
        }
        if noise.min_repeats == 0 {
            return Err(RuleError::BadNoise(
                "`min_repeats` must be at least 1 (one repeated request proves nothing \
                 when it is zero)"
                    .into(),
            ));
        }
        rules.noise = noise.clone();
        Ok(rules)
    }

    fn from_parts(ignore_headers: &[String], compare_headers: &[String]) -> Rules {
        let compared: BTreeSet<String> = compare_headers.iter().map(|h| h.to_lowercase()).collect();
        let ignored = DEFAULT_IGNORED_HEADERS
            .iter()
            .map(|h| h.to_string())
            .chain(ignore_headers.iter().map(|h| h.to_lowercase()))
            .filter(|h| !compared.contains(h))
            .collect();
        Rules {
            ignore: Vec::new(),
            unordered: Vec::new(),
            tolerance: Vec::new(),
            normalise: Vec::new(),
            ignored_headers: ignored,
            compared_headers: compared,
            noise: NoiseSpec::default(),
            automatic: true,
        }
    }

    /// No rules and no automatic normalisers: every difference counts (for tests and tools
    /// that want the raw structural diff).
    pub fn strict() -> Rules {
        Rules {
            automatic: false,
            ..Rules::default()
        }
    }

    /// The ignore pattern covering this path (the path or an ancestor), if any.
    pub fn ignored(&self, path: &[Seg<'_>]) -> Option<&PathPattern> {
        self.ignore.iter().find(|p| p.covers(path))
    }

    pub fn unordered_at(&self, path: &[Seg<'_>]) -> Option<&Unordered> {
        self.unordered.iter().find(|u| u.pattern.matches(path))
    }

    pub fn tolerance_at(&self, path: &[Seg<'_>]) -> Option<&Tolerance> {
        self.tolerance.iter().find(|t| t.pattern.matches(path))
    }

    pub fn normaliser_at(&self, path: &[Seg<'_>]) -> Option<(&PathPattern, NormaliserKind)> {
        self.normalise
            .iter()
            .find(|(p, _)| p.matches(path))
            .map(|(p, k)| (p, *k))
    }
}

impl Tolerance {
    /// Within tolerance? `pct` is relative to the primary's value.
    pub fn accepts(&self, primary: f64, other: f64) -> bool {
        let delta = (primary - other).abs();
        self.abs.is_some_and(|a| delta <= a)
            || self.pct.is_some_and(|p| delta <= primary.abs() * p / 100.0)
    }

    /// `tolerance ±5`, `tolerance ±2%`.
    pub fn describe(&self) -> String {
        match (self.abs, self.pct) {
            (Some(a), Some(p)) => format!("tolerance ±{a} or ±{p}%"),
            (Some(a), None) => format!("tolerance ±{a}"),
            (None, Some(p)) => format!("tolerance ±{p}%"),
            (None, None) => "tolerance".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::spec::{ToleranceRule, UnorderedRule};

    #[test]
    fn compile_reports_the_bad_path() {
        let spec = RuleSpec {
            ignore: vec!["/ok".into(), "created_at".into()],
            ..RuleSpec::default()
        };
        let err = Rules::compile(&spec).err().map(|e| e.to_string());
        let msg = err.unwrap_or_default();
        assert!(
            msg.contains("ignore") && msg.contains("\"created_at\""),
            "{msg}"
        );

        let spec = RuleSpec {
            tolerance: vec![ToleranceRule {
                path: "/price".into(),
                abs: None,
                pct: None,
            }],
            ..RuleSpec::default()
        };
        assert!(matches!(
            Rules::compile(&spec),
            Err(RuleError::BadTolerance { .. })
        ));
        let spec = RuleSpec {
            unordered: vec![UnorderedRule {
                path: "/items/x*".into(),
                key: None,
            }],
            ..RuleSpec::default()
        };
        assert!(matches!(
            Rules::compile(&spec),
            Err(RuleError::BadPath {
                rule: "unordered",
                ..
            })
        ));
    }

    #[test]
    fn headers_lists_combine() {
        let spec = RuleSpec {
            ignore_headers: vec!["X-Trace".into()],
            compare_headers: vec!["Server".into()],
            ..RuleSpec::default()
        };
        let rules = Rules::compile(&spec).unwrap_or_default();
        assert!(rules.ignored_headers.contains("x-trace"));
        assert!(rules.ignored_headers.contains("date"));
        assert!(!rules.ignored_headers.contains("server"));
    }

    #[test]
    fn tolerance_abs_and_pct() {
        let t = Tolerance {
            pattern: PathPattern::parse("/p").unwrap_or_else(|e| panic!("{e}")),
            abs: Some(5.0),
            pct: None,
        };
        assert!(t.accepts(100.0, 104.0));
        assert!(!t.accepts(100.0, 106.0));
        let t = Tolerance {
            abs: None,
            pct: Some(2.0),
            ..t
        };
        assert!(t.accepts(100.0, 102.0));
        assert!(!t.accepts(100.0, 103.0));
        assert_eq!(t.describe(), "tolerance ±2%");
    }
}
