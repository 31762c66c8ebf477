//! Learned noise (Diffy's method), as pure counting and a pure decision.
//!
//! Per route, for every `(path, kind)`: `r` = exchanges where primary ≠ candidate there,
//! `n` = exchanges where primary ≠ secondary there, out of `T` exchanges. A difference is
//! reported iff `r > n` and `|r-n|/(r+n) > relative` and `|r-n|/T > absolute` (thresholds
//! from [`NoiseSpec`], in percent). Counts are keyed by kind, so noise seen as `value_changed`
//! never hides a `type_changed` on the same path. [`decide`] works online (counts so far)
//! and offline (final counts, as a report recomputes them). Owns no clock, no I/O.
//!
//! Three guards keep failures from hiding as noise: nothing is learned before
//! `min_exchanges` exchanges (T) were compared on the route; a status difference that
//! changes class (2xx → 5xx, 4xx → 2xx, ...) is never noise ([`changes_status_class`]);
//! and status differences are counted per status pair ([`noise_path`]), so a secondary's
//! `200 → 500` never learns away a candidate's `201 → 200`.
//!
//! A table holds at most [`MAX_NOISE_KEYS`] `(path, kind)` entries (plus one fold per kind):
//! paths past it, or longer than [`MAX_NOISE_PATH_BYTES`], are counted together under
//! ([`OTHER_PATHS`], kind), so bodies with ever-new keys cannot grow it.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::spec::NoiseSpec;
use super::{DiffKind, Difference, Reason};

/// Distinct `(path, kind)` a [`NoiseTable`] keeps before folding into [`OTHER_PATHS`].
pub const MAX_NOISE_KEYS: usize = 256;
/// Paths longer than this are folded into [`OTHER_PATHS`].
pub const MAX_NOISE_PATH_BYTES: usize = 512;
/// The path differences past a per-route cap are counted under.
pub const OTHER_PATHS: &str = "{other paths}";

/// Counts for one `(path, kind)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoiseCounts {
    /// Exchanges where primary and candidate differed here.
    pub r: u64,
    /// Exchanges where primary and secondary differed here.
    pub n: u64,
}

/// What [`decide`] concluded for one `(path, kind)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The candidate differs more often than the secondary: a real difference.
    Report,
    /// As often as two identical deployments disagree: noise, with the counts.
    Noise(Reason),
}

/// The class (1 for 1xx … 5 for 5xx) of a status value.
pub fn status_class(v: Option<&serde_json::Value>) -> Option<u64> {
    v.and_then(serde_json::Value::as_u64).map(|s| s / 100)
}

/// A status difference whose class changes (2xx → 4xx/5xx and back): never noise,
/// whatever a baseline says.
pub fn changes_status_class(d: &Difference) -> bool {
    d.kind == DiffKind::Status
        && status_class(d.primary.as_ref()) != status_class(d.candidate.as_ref())
}

/// The path a difference is counted under: a status difference by its pair
/// (`status 201→200`), so each pair is learned and reported on its own; anything else by
/// its path.
pub fn noise_path(d: &Difference) -> Cow<'_, str> {
    match (d.kind, d.primary.as_ref(), d.candidate.as_ref()) {
        (DiffKind::Status, Some(p), Some(c)) => Cow::Owned(format!("status {p}→{c}")),
        _ => Cow::Borrowed(&d.path),
    }
}

/// Diffy's decision over counts. `total` is T, the exchanges compared on the route; below
/// `spec.min_exchanges` nothing is noise yet.
pub fn decide(counts: NoiseCounts, total: u64, spec: &NoiseSpec) -> Decision {
    let NoiseCounts { r, n } = counts;
    if total < spec.min_exchanges {
        return Decision::Report;
    }
    let noise = Decision::Noise(Reason::LearnedNoise { r, n, total });
    if r <= n {
        return noise;
    }
    let diff = (r - n) as f64;
    let relative = diff / (r + n) as f64 * 100.0;
    let absolute = diff / total.max(1) as f64 * 100.0;
    if relative > spec.relative_threshold_pct && absolute > spec.absolute_threshold_pct {
        Decision::Report
    } else {
        noise
    }
}

/// The counts for one route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoiseTable {
    /// T: exchanges recorded (with a candidate and a secondary outcome).
    pub total: u64,
    /// Keyed by `(path, kind)`; serialised as a list for JSON friendliness.
    #[serde(with = "entries")]
    pub counts: BTreeMap<(String, DiffKind), NoiseCounts>,
}

impl NoiseTable {
    /// Count one exchange: the differences primary vs candidate and primary vs secondary
    /// (each `(path, kind)` at most once per exchange).
    pub fn record<'d>(
        &mut self,
        candidate: impl IntoIterator<Item = &'d Difference>,
        secondary: impl IntoIterator<Item = &'d Difference>,
    ) {
        self.total += 1;
        let keys = |ds: &mut dyn Iterator<Item = &'d Difference>| -> BTreeSet<(String, DiffKind)> {
            ds.map(|d| (noise_path(d).into_owned(), d.kind)).collect()
        };
        let candidate = keys(&mut candidate.into_iter());
        let secondary = keys(&mut secondary.into_iter());
        // Folded keys count once per exchange, like any other.
        let mut r_keys = BTreeSet::new();
        for key in candidate {
            r_keys.insert(self.admit(key));
        }
        for key in r_keys {
            self.counts.entry(key).or_default().r += 1;
        }
        let mut n_keys = BTreeSet::new();
        for key in secondary {
            n_keys.insert(self.admit(key));
        }
        for key in n_keys {
            self.counts.entry(key).or_default().n += 1;
        }
    }

    /// The key counts for `key` go under: itself when kept or when there is room (then it
    /// is kept), else ([`OTHER_PATHS`], kind).
    fn admit(&mut self, key: (String, DiffKind)) -> (String, DiffKind) {
        if self.counts.contains_key(&key) {
            return key;
        }
        if key.0.len() <= MAX_NOISE_PATH_BYTES && self.counts.len() < MAX_NOISE_KEYS {
            self.counts.insert(key.clone(), NoiseCounts::default());
            return key;
        }
        (OTHER_PATHS.to_string(), key.1)
    }

    /// The counts for `(path, kind)`: its own, or its fold's when it was folded.
    pub fn counts(&self, path: &str, kind: DiffKind) -> NoiseCounts {
        self.counts
            .get(&(path.to_string(), kind))
            .or_else(|| self.counts.get(&(OTHER_PATHS.to_string(), kind)))
            .copied()
            .unwrap_or_default()
    }

    /// Decide for one difference with the counts so far (a status class change is always
    /// reported).
    pub fn decide(&self, d: &Difference, spec: &NoiseSpec) -> Decision {
        if changes_status_class(d) {
            return Decision::Report;
        }
        decide(self.counts(&noise_path(d), d.kind), self.total, spec)
    }

    /// Every `(path, kind)` with its final decision (for reports).
    pub fn decisions<'t>(
        &'t self,
        spec: &'t NoiseSpec,
    ) -> impl Iterator<Item = (&'t str, DiffKind, NoiseCounts, Decision)> + 't {
        self.counts
            .iter()
            .map(move |((p, k), c)| (p.as_str(), *k, *c, decide(*c, self.total, spec)))
    }
}

mod entries {
    use super::*;
    use serde::{Deserializer, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Entry {
        path: String,
        kind: DiffKind,
        r: u64,
        n: u64,
    }

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<(String, DiffKind), NoiseCounts>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter().map(|((path, kind), c)| Entry {
            path: path.clone(),
            kind: *kind,
            r: c.r,
            n: c.n,
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<(String, DiffKind), NoiseCounts>, D::Error> {
        let v: Vec<Entry> = Vec::deserialize(d)?;
        Ok(v.into_iter()
            .map(|e| ((e.path, e.kind), NoiseCounts { r: e.r, n: e.n }))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_bounded_by_ever_new_paths() {
        let mut t = NoiseTable::default();
        for i in 0..10_000 {
            let c = [d(&format!("/c{i}"), DiffKind::ValueChanged)];
            let s = [
                d(&format!("/s{i}"), DiffKind::ValueChanged),
                d(&format!("/t{i}"), DiffKind::ValueChanged),
            ];
            t.record(&c, &s);
        }
        assert!(t.counts.len() <= MAX_NOISE_KEYS + 1, "{}", t.counts.len());
        // A fold counts once per exchange, and folded paths read the fold's counts.
        let folded = t.counts("/c9999", DiffKind::ValueChanged);
        assert!(folded.r <= 10_000 && folded.n <= 10_000, "{folded:?}");
        assert_eq!(folded, t.counts(OTHER_PATHS, DiffKind::ValueChanged));
    }

    fn d(path: &str, kind: DiffKind) -> Difference {
        Difference {
            path: path.into(),
            kind,
            primary: None,
            candidate: None,
            detail: None,
        }
    }

    #[test]
    fn diffy_thresholds() {
        let spec = NoiseSpec::default();
        let noise = decide(NoiseCounts { r: 48, n: 50 }, 100, &spec);
        assert_eq!(
            noise,
            Decision::Noise(Reason::LearnedNoise {
                r: 48,
                n: 50,
                total: 100
            })
        );
        assert_eq!(
            Reason::LearnedNoise {
                r: 48,
                n: 50,
                total: 100
            }
            .to_string(),
            "learned noise: the candidate differed from the primary in r=48 exchanges, the \
             secondary (a second primary) in n=50, of T=100 compared with both — the primary \
             disagrees with itself about as often"
        );
        // r > n but within 20 % of each other: noise.
        assert!(matches!(
            decide(NoiseCounts { r: 55, n: 50 }, 100, &spec),
            Decision::Noise(_)
        ));
        assert_eq!(
            decide(NoiseCounts { r: 90, n: 50 }, 100, &spec),
            Decision::Report
        );
        assert_eq!(
            decide(NoiseCounts { r: 1, n: 0 }, 1, &spec),
            Decision::Report
        );
        // 1 in a million: under the absolute threshold.
        assert!(matches!(
            decide(NoiseCounts { r: 1, n: 0 }, 1_000_000, &spec),
            Decision::Noise(_)
        ));
    }

    #[test]
    fn too_few_exchanges_learn_nothing() {
        let spec = NoiseSpec::default();
        // The blind spot seen on a real service: one exchange, both sides differing.
        assert_eq!(
            decide(NoiseCounts { r: 1, n: 1 }, 1, &spec),
            Decision::Report
        );
        assert_eq!(
            decide(NoiseCounts { r: 9, n: 9 }, 9, &spec),
            Decision::Report
        );
        assert!(matches!(
            decide(NoiseCounts { r: 10, n: 10 }, 10, &spec),
            Decision::Noise(_)
        ));
        let strict = NoiseSpec {
            min_exchanges: 50,
            ..NoiseSpec::default()
        };
        assert_eq!(
            decide(NoiseCounts { r: 10, n: 10 }, 10, &strict),
            Decision::Report
        );
    }

    fn status(p: u16, c: u16) -> Difference {
        Difference {
            path: "status".into(),
            kind: DiffKind::Status,
            primary: Some(p.into()),
            candidate: Some(c.into()),
            detail: None,
        }
    }

    #[test]
    fn a_status_class_change_is_never_noise_and_pairs_count_apart() {
        let spec = NoiseSpec::default();
        let mut t = NoiseTable::default();
        // The secondary fails exactly like the candidate on every exchange.
        for _ in 0..100 {
            t.record(&[status(200, 500)], &[status(200, 500)]);
        }
        assert_eq!(t.decide(&status(200, 500), &spec), Decision::Report);
        assert!(changes_status_class(&status(201, 500)));
        assert!(changes_status_class(&status(404, 200)));
        assert!(!changes_status_class(&status(201, 200)));
        // Same class: Diffy decides, per pair.
        for _ in 0..20 {
            t.record(&[status(201, 200)], &[status(201, 200)]);
        }
        assert!(matches!(
            t.decide(&status(201, 200), &spec),
            Decision::Noise(_)
        ));
        assert_eq!(
            t.counts("status 409→422", DiffKind::Status),
            NoiseCounts::default()
        );
        t.record(&[status(409, 422)], &[]);
        assert_eq!(t.decide(&status(409, 422), &spec), Decision::Report);
        assert_eq!(noise_path(&status(409, 422)), "status 409→422");
    }

    #[test]
    fn counts_are_keyed_by_kind() {
        let mut t = NoiseTable::default();
        for _ in 0..10 {
            let c = [d("/ts", DiffKind::ValueChanged)];
            t.record(&c, &c);
        }
        let spec = NoiseSpec::default();
        assert!(matches!(
            t.decide(&d("/ts", DiffKind::ValueChanged), &spec),
            Decision::Noise(_)
        ));
        let c = [
            d("/ts", DiffKind::TypeChanged),
            d("/ts", DiffKind::TypeChanged),
        ];
        t.record(&c, &[]);
        assert_eq!(
            t.counts("/ts", DiffKind::TypeChanged),
            NoiseCounts { r: 1, n: 0 }
        );
        assert_eq!(t.decide(&c[0], &spec), Decision::Report);
        assert_eq!(t.decisions(&spec).count(), 2);
        let json = serde_json::to_string(&t).unwrap_or_default();
        let back: NoiseTable = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, t);
    }
}
