//! Learned translation in the proxy (`[translate]`, issue 12): the shared [`Learning`]
//! state and its timing.
//!
//! Owns the [`Translator`] (learned credential and id pairs) behind a mutex, and the
//! **pending** mechanism that lets a copy wait for what it needs, in its shadow task only:
//! 1. A mirrored write registers its arrival sequence number as *in flight* on the
//!    handler's path (one short lock; never a wait there).
//! 2. When the primary's answer to it is in, the shadow task *announces* what the answer
//!    issued — the fingerprint of a credential, a created id — as pending, then leaves
//!    the in-flight set.
//! 3. When every target's answer is in, it learns the pairs and clears its announcements.
//!
//! A later copy first waits until no earlier write (lower sequence number) is in flight —
//! the client can only present a token after the primary's answer reached it, so the
//! login that issued it is earlier — then while its credential or one of its ids is
//! pending from an earlier exchange; then it is prepared. Every wait ends at
//! `[proxy] shadow_timeout_ms` (counted); in-flight entries and announcements are dropped
//! by guards whatever happens, and bounded by `max_pending` (past it, not registered and
//! counted). Nothing here writes a credential anywhere: only fingerprints are pending.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::translate::Counters;
use crate::config::{TranslateConfig, TranslateMode};
use crate::identity::IdentityRules;
use crate::identity::configured::ConfiguredIdentities;
use crate::identity::credentials::fingerprint;
use crate::identity::translate::Translator;

/// Something an earlier exchange's primary answer issued and its targets' answers will
/// teach.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// The fingerprint of a credential the primary issued.
    Credential(u128),
    /// An id the primary gave a created resource.
    Id(String),
}

impl Key {
    pub fn credential(value: &str) -> Key {
        Key::Credential(fingerprint(value))
    }
}

/// Shared by every worker.
pub struct Learning {
    pub config: TranslateConfig,
    translator: Mutex<Translator>,
    /// How a request's identity label is read, when `[[identities]]` are configured.
    rules: Option<IdentityRules>,
    inflight: Mutex<BTreeSet<u64>>,
    inflight_len: AtomicUsize,
    /// Key → sequence numbers of the exchanges that announced it.
    pending: Mutex<HashMap<Key, Vec<u64>>>,
    pending_len: AtomicUsize,
    notify: Notify,
    /// How long a copy may wait (`[proxy] shadow_timeout_ms`).
    pub wait: Duration,
    pub counters: Counters,
}

impl std::fmt::Debug for Learning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Learning")
            .field("inflight", &self.inflight_len.load(Ordering::Relaxed))
            .field("pending", &self.pending_len.load(Ordering::Relaxed))
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Learning {
    /// `None` when `[translate] enabled = false`: nothing is kept or counted.
    pub fn new(
        config: &TranslateConfig,
        cookies: Vec<crate::redact::names::Pattern>,
        wait: Duration,
        routes: usize,
    ) -> Option<Arc<Learning>> {
        Learning::with_configured(config, cookies, wait, routes, None)
    }

    /// [`Learning::new`] with `[[identities]]` credentials established at start-up: a copy
    /// whose credential has no learned counterpart falls back to its identity label's
    /// configured credential for the target.
    pub fn with_configured(
        config: &TranslateConfig,
        cookies: Vec<crate::redact::names::Pattern>,
        wait: Duration,
        routes: usize,
        configured: Option<(Arc<ConfiguredIdentities>, IdentityRules)>,
    ) -> Option<Arc<Learning>> {
        if !config.enabled() {
            return None;
        }
        let mut translator = Translator::new(
            config.max_identities,
            Duration::from_secs(config.ttl_s),
            config.max_ids,
            cookies,
        );
        let mut rules = None;
        if let Some((c, r)) = configured {
            translator = translator.with_configured(c);
            rules = Some(r);
        }
        Some(Arc::new(Learning {
            translator: Mutex::new(translator),
            rules,
            config: config.clone(),
            inflight: Mutex::new(BTreeSet::new()),
            inflight_len: AtomicUsize::new(0),
            pending: Mutex::new(HashMap::new()),
            pending_len: AtomicUsize::new(0),
            notify: Notify::new(),
            wait,
            counters: Counters::new(routes),
        }))
    }

    /// A copy presenting a credential without a counterpart is untranslated on every
    /// target (`enabled = true`), not only on targets seen issuing their own.
    /// The identity label `[[identities]]` are matched on (`None` when none are configured).
    pub fn label_of(&self, headers: &http::HeaderMap) -> Option<String> {
        self.rules.as_ref()?.identify(headers, "").label
    }

    pub fn strict(&self) -> bool {
        self.config.enabled == TranslateMode::On
    }

    /// The translator, locked (held for a few map operations only).
    pub fn translator(&self) -> MutexGuard<'_, Translator> {
        lock(&self.translator)
    }

    /// A mirrored write arrived with sequence number `seq` (handler path: no waiting).
    pub fn begin(self: &Arc<Self>, seq: u64) -> Option<Inflight> {
        if self.inflight_len.load(Ordering::Relaxed) + self.pending_len.load(Ordering::Relaxed)
            >= self.config.max_pending
        {
            self.counters.global(&self.counters.pending_full);
            return None;
        }
        lock(&self.inflight).insert(seq);
        self.inflight_len.fetch_add(1, Ordering::Relaxed);
        Some(Inflight {
            learning: Arc::clone(self),
            seq,
        })
    }

    /// Announce what the primary's answer to exchange `seq` issued; cleared when the
    /// returned guard is dropped (after learning from the targets' answers).
    pub fn announce(self: &Arc<Self>, seq: u64, keys: Vec<Key>) -> Announced {
        let mut kept = Vec::new();
        if !keys.is_empty() {
            let mut p = lock(&self.pending);
            for k in keys {
                let held = self.inflight_len.load(Ordering::Relaxed)
                    + self.pending_len.load(Ordering::Relaxed);
                if held >= self.config.max_pending {
                    self.counters.global(&self.counters.pending_full);
                    break;
                }
                p.entry(k.clone()).or_default().push(seq);
                self.pending_len.fetch_add(1, Ordering::Relaxed);
                kept.push(k);
            }
        }
        Announced {
            learning: Arc::clone(self),
            seq,
            keys: kept,
        }
    }

    /// Is a copy of exchange `seq` presenting `keys` still waiting for something?
    fn blocked(&self, seq: u64, keys: &[Key]) -> bool {
        if self.inflight_len.load(Ordering::Relaxed) > 0
            && lock(&self.inflight).range(..seq).next().is_some()
        {
            return true;
        }
        if self.pending_len.load(Ordering::Relaxed) == 0 || keys.is_empty() {
            return false;
        }
        let p = lock(&self.pending);
        keys.iter()
            .any(|k| p.get(k).is_some_and(|seqs| seqs.iter().any(|s| *s < seq)))
    }

    /// Wait (shadow task only) until nothing earlier that `keys` depend on is pending, at
    /// most `self.wait`. False when the wait timed out.
    pub async fn settle(&self, seq: u64, keys: &[Key]) -> bool {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.blocked(seq, keys) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                self.counters.global(&self.counters.wait_timeouts);
                return !self.blocked(seq, keys);
            }
        }
    }

    /// Entries held now: (in-flight writes, pending announcements).
    pub fn held(&self) -> (usize, usize) {
        (
            self.inflight_len.load(Ordering::Relaxed),
            self.pending_len.load(Ordering::Relaxed),
        )
    }

    /// Now, for the translator's clock.
    pub fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A write's place in the in-flight set; dropping it lets later copies on.
pub struct Inflight {
    learning: Arc<Learning>,
    seq: u64,
}

impl Inflight {
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        if lock(&self.learning.inflight).remove(&self.seq) {
            self.learning.inflight_len.fetch_sub(1, Ordering::Relaxed);
        }
        self.learning.notify.notify_waiters();
    }
}

/// What one exchange announced; dropping it clears the announcements.
pub struct Announced {
    learning: Arc<Learning>,
    seq: u64,
    keys: Vec<Key>,
}

impl Drop for Announced {
    fn drop(&mut self) {
        if !self.keys.is_empty() {
            let mut p = lock(&self.learning.pending);
            for k in self.keys.drain(..) {
                if let Some(seqs) = p.get_mut(&k) {
                    if let Some(i) = seqs.iter().position(|s| *s == self.seq) {
                        seqs.swap_remove(i);
                        self.learning.pending_len.fetch_sub(1, Ordering::Relaxed);
                    }
                    if seqs.is_empty() {
                        p.remove(&k);
                    }
                }
            }
        }
        self.learning.notify.notify_waiters();
    }
}

/// Shared counters bump helper.
pub(super) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learning(max_pending: usize) -> Arc<Learning> {
        let config = TranslateConfig {
            max_pending,
            ..TranslateConfig::default()
        };
        Learning::new(&config, Vec::new(), Duration::from_secs(30), 1).expect("enabled")
    }

    #[tokio::test]
    async fn a_copy_waits_for_an_earlier_write_then_for_what_it_announced() {
        let l = learning(100);
        let login = l.begin(1).expect("registered");
        let key = Key::credential("primary-token");
        let waiter = {
            let l = Arc::clone(&l);
            let key = key.clone();
            tokio::spawn(async move { l.settle(2, &[key]).await })
        };
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "the earlier login is still in flight"
        );
        // The primary's answer is in: its token is announced, the write leaves the set.
        let announced = l.announce(1, vec![key.clone()]);
        drop(login);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "its token is pending");
        assert_eq!(l.held(), (0, 1));
        drop(announced);
        assert!(waiter.await.expect("joined"), "settled, not timed out");
        assert_eq!(l.held(), (0, 0));
    }

    #[tokio::test]
    async fn later_writes_and_unrelated_keys_never_hold_a_copy() {
        let l = learning(100);
        let _later = l.begin(5).expect("registered");
        let _other = l.announce(3, vec![Key::Id("17".into())]);
        let _mine_later = l.announce(9, vec![Key::Id("18".into())]);
        assert!(l.settle(4, &[Key::Id("99".into())]).await);
        assert!(
            l.settle(4, &[Key::Id("18".into())]).await,
            "announced later"
        );
        assert!(
            !l.blocked(4, &[]),
            "a later write does not hold an earlier copy"
        );
        assert!(l.blocked(4, &[Key::Id("17".into())]));
    }

    #[tokio::test]
    async fn waits_are_bounded_and_counted() {
        let config = TranslateConfig::default();
        let l = Learning::new(&config, Vec::new(), Duration::from_millis(10), 1).expect("on");
        let _stuck = l.begin(1).expect("registered");
        assert!(!l.settle(2, &[]).await, "timed out");
        assert_eq!(l.counters.wait_timeouts.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn bounded_by_max_pending() {
        let l = learning(2);
        let a = l.begin(1);
        let b = l.announce(2, vec![Key::Id("1".into()), Key::Id("2".into())]);
        assert!(a.is_some());
        assert_eq!(l.held(), (1, 1), "the second key did not fit");
        assert!(l.begin(3).is_none());
        assert_eq!(l.counters.pending_full.load(Ordering::Relaxed), 2);
        drop((a, b));
        assert_eq!(l.held(), (0, 0));
    }
}
