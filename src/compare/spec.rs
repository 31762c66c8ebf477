//! The `[compare]` rules as written in `cutover.toml` (globally and per route).
//!
//! Plain data: the compare engine compiles a [`RuleSpec`] into its matchers. Paths are JSON
//! Pointers with wildcards: `*` matches one segment, `**` any number of segments
//! (`/**/created_at`, `/items/*/id`).

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// JSON paths whose differences are ignored (reported as suppressed by rule).
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Header names ignored on top of the built-in list (date, server, x-request-id, ...).
    #[serde(default)]
    pub ignore_headers: Vec<String>,
    /// Header names compared even though the built-in list would ignore them.
    #[serde(default)]
    pub compare_headers: Vec<String>,
    /// Arrays compared as multisets, optionally matched up by a key field.
    #[serde(default)]
    pub unordered: Vec<UnorderedRule>,
    /// Numbers equal within a tolerance.
    #[serde(default)]
    pub tolerance: Vec<ToleranceRule>,
    /// Named normalisers applied to values at paths (on top of the automatic detection).
    #[serde(default)]
    pub normalise: Vec<NormaliseRule>,
    /// Learned-noise thresholds: Diffy's r/n rule with a secondary, volatility learned from
    /// the primary's repeated identical requests without one.
    #[serde(default)]
    pub noise: NoiseSpec,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UnorderedRule {
    pub path: String,
    /// Field that identifies an element (`id`); without it elements are matched by value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToleranceRule {
    pub path: String,
    /// Absolute tolerance: |a - b| <= abs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abs: Option<f64>,
    /// Relative tolerance in percent of the primary's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pct: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NormaliseRule {
    pub path: String,
    #[serde(rename = "as")]
    pub kind: NormaliserKind,
}

/// A named normaliser: values of this kind that stay of this kind are noise; a value that
/// stops being of this kind is a real difference.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NormaliserKind {
    /// ISO 8601 / RFC 3339 timestamps (with or without a zone, `T` or space, any number of
    /// fractional digits) and RFC 2822 / HTTP dates; under a rule also dates and epoch
    /// numbers. Equal instants in different formats are equal, and different instants are
    /// noise as long as both stay timestamps.
    Timestamp,
    Uuid,
    Jwt,
    /// Opaque random token (long base64/hex string).
    Token,
    /// Seconds since the Unix epoch (a number, or a string of digits), only where a rule
    /// declares it.
    EpochS,
    /// Milliseconds since the Unix epoch, only where a rule declares it.
    EpochMs,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoiseSpec {
    /// A path is reported only when |r-n|/(r+n) exceeds this percentage.
    #[serde(default = "default_relative_pct")]
    pub relative_threshold_pct: f64,
    /// ... and |r-n|/total exceeds this percentage.
    #[serde(default = "default_absolute_pct")]
    pub absolute_threshold_pct: f64,
    /// Nothing is learned as noise on a route before this many exchanges were compared
    /// against a healthy baseline there (T): `r=1 n=1 T=1` is no evidence.
    #[serde(default = "default_min_exchanges")]
    pub min_exchanges: u64,
    /// Without a secondary: a path is volatile on the primary only after this many repeated
    /// identical requests showed it changing on its own (see `compare::volatile`).
    #[serde(default = "default_min_repeats")]
    pub min_repeats: u64,
}

impl Default for NoiseSpec {
    fn default() -> Self {
        NoiseSpec {
            relative_threshold_pct: default_relative_pct(),
            absolute_threshold_pct: default_absolute_pct(),
            min_exchanges: default_min_exchanges(),
            min_repeats: default_min_repeats(),
        }
    }
}

fn default_relative_pct() -> f64 {
    20.0
}
fn default_absolute_pct() -> f64 {
    0.03
}
fn default_min_exchanges() -> u64 {
    10
}
fn default_min_repeats() -> u64 {
    2
}

impl RuleSpec {
    /// Rules of `self` followed by those of `more` (route rules refine the global ones).
    pub fn merged(&self, more: &RuleSpec) -> RuleSpec {
        let mut out = self.clone();
        out.ignore.extend(more.ignore.iter().cloned());
        out.ignore_headers
            .extend(more.ignore_headers.iter().cloned());
        out.compare_headers
            .extend(more.compare_headers.iter().cloned());
        out.unordered.extend(more.unordered.iter().cloned());
        out.tolerance.extend(more.tolerance.iter().cloned());
        out.normalise.extend(more.normalise.iter().cloned());
        if more.noise != NoiseSpec::default() {
            out.noise = more.noise.clone();
        }
        out
    }
}
