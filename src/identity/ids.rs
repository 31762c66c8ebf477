//! Learned id pairs (issue 12; used by the proxy through [`super::translate`]): when the primary and a
//! target answer the same create request with their own ids, `primary id ↔ target id` for
//! that target, so later shadow copies can name the target's id and answers can be
//! compared modulo the mapping.
//!
//! Per run, in memory, bounded: at most `max_pairs` pairs per target; past it new pairs
//! are refused and counted (evicting a pair mid-run would turn later answers into false
//! differences). A primary id already paired with another target id (or the reverse) is a
//! conflict: counted, the pairing dropped and both ids never translated again in the run
//! (a copy naming them goes unchanged rather than with a guessed id). Pure.

use std::collections::HashMap;

/// What learning one pair did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    New,
    /// The same pair was already known.
    Known,
    /// One side was already paired with something else: neither id is translated from now.
    Conflict,
    /// The target's table is full.
    Full,
}

#[derive(Debug, Default)]
struct Pairs {
    to_target: HashMap<String, String>,
    to_primary: HashMap<String, String>,
    /// Primary and target ids seen in a conflict (bounded like the pairs).
    poisoned_primary: std::collections::HashSet<String>,
    poisoned_target: std::collections::HashSet<String>,
}

/// Counters for reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IdStats {
    pub learned: u64,
    pub conflicts: u64,
    pub refused_full: u64,
}

/// Per target: primary id ↔ target id.
#[derive(Debug)]
pub struct IdPairs {
    max_pairs: usize,
    targets: HashMap<String, Pairs>,
    pub stats: IdStats,
}

impl IdPairs {
    pub fn new(max_pairs: usize) -> IdPairs {
        IdPairs {
            max_pairs: max_pairs.max(1),
            targets: HashMap::new(),
            stats: IdStats::default(),
        }
    }

    pub fn learn(&mut self, target: &str, primary_id: &str, target_id: &str) -> Learned {
        let pairs = self.targets.entry(target.to_string()).or_default();
        match (
            pairs.to_target.get(primary_id),
            pairs.to_primary.get(target_id),
        ) {
            (Some(t), Some(p)) if t == target_id && p == primary_id => return Learned::Known,
            (None, None)
                if !pairs.poisoned_primary.contains(primary_id)
                    && !pairs.poisoned_target.contains(target_id) => {}
            _ => {
                self.stats.conflicts += 1;
                if let Some(t) = pairs.to_target.remove(primary_id) {
                    pairs.to_primary.remove(&t);
                    pairs.poisoned_target.insert(t);
                }
                if let Some(p) = pairs.to_primary.remove(target_id) {
                    pairs.to_target.remove(&p);
                    pairs.poisoned_primary.insert(p);
                }
                if pairs.poisoned_primary.len() < self.max_pairs {
                    pairs.poisoned_primary.insert(primary_id.to_string());
                }
                if pairs.poisoned_target.len() < self.max_pairs {
                    pairs.poisoned_target.insert(target_id.to_string());
                }
                return Learned::Conflict;
            }
        }
        if pairs.to_target.len() >= self.max_pairs {
            self.stats.refused_full += 1;
            return Learned::Full;
        }
        pairs
            .to_target
            .insert(primary_id.to_string(), target_id.to_string());
        pairs
            .to_primary
            .insert(target_id.to_string(), primary_id.to_string());
        self.stats.learned += 1;
        Learned::New
    }

    /// The target's id for the primary's `id`.
    pub fn to_target(&self, target: &str, id: &str) -> Option<&str> {
        self.targets
            .get(target)?
            .to_target
            .get(id)
            .map(String::as_str)
    }

    /// The primary's id for the target's `id`.
    pub fn to_primary(&self, target: &str, id: &str) -> Option<&str> {
        self.targets
            .get(target)?
            .to_primary
            .get(id)
            .map(String::as_str)
    }

    /// Pairs held for `target`.
    pub fn pairs(&self, target: &str) -> usize {
        self.targets.get(target).map_or(0, |p| p.to_target.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_both_ways_per_target() {
        let mut ids = IdPairs::new(10);
        assert_eq!(ids.learn("auth", "17", "3"), Learned::New);
        assert_eq!(ids.learn("auth", "17", "3"), Learned::Known);
        assert_eq!(ids.to_target("auth", "17"), Some("3"));
        assert_eq!(ids.to_primary("auth", "3"), Some("17"));
        assert_eq!(ids.to_target("ai", "17"), None, "per target");
        assert_eq!(ids.learn("auth", "20", "9"), Learned::New);
        assert_eq!(ids.learn("auth", "17", "4"), Learned::Conflict);
        assert_eq!(
            ids.to_target("auth", "17"),
            None,
            "a colliding id is not translated"
        );
        assert_eq!(ids.to_primary("auth", "3"), None);
        assert_eq!(
            ids.learn("auth", "17", "3"),
            Learned::Conflict,
            "never again"
        );
        assert_eq!(ids.learn("auth", "18", "9"), Learned::Conflict);
        assert_eq!(ids.to_target("auth", "20"), None);
        assert_eq!(ids.stats.conflicts, 3);
    }

    #[test]
    fn bounded_per_target() {
        let mut ids = IdPairs::new(2);
        assert_eq!(ids.learn("auth", "1", "a"), Learned::New);
        assert_eq!(ids.learn("auth", "2", "b"), Learned::New);
        assert_eq!(ids.learn("auth", "3", "c"), Learned::Full);
        assert_eq!(ids.learn("ai", "3", "c"), Learned::New);
        assert_eq!((ids.pairs("auth"), ids.stats.refused_full), (2, 1));
    }
}
