//! Learned credential pairs (issue 12; used by the proxy through [`super::translate`]): for one
//! identity (what a login names: a username or email), the primary's credential and each
//! target's own credential, so a later shadow copy carrying the primary's credential can
//! carry the target's instead.
//!
//! Memory only, bounded and expiring: at most `max_identities` identities (the least
//! recently learned one is evicted first), each target credential valid for `ttl` after it
//! was learned. Lookups go by the HMAC fingerprint of the primary's credential
//! ([`crate::redact::marker::keyed_digest`]); the target credentials themselves must be
//! kept to be sent, and are never printed ([`Credential`]'s `Debug` shows a marker). Pure:
//! the caller passes the clock (`now`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use crate::redact::marker::{keyed_digest, text_marker};

/// Where a credential travels in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// `Authorization: <scheme> <value>` (`Bearer`, `Token`, ...).
    Authorization { scheme: String },
    /// A cookie of this name.
    Cookie { name: String },
    /// A header of this (lower-case) name, the whole value.
    Header { name: String },
}

/// A credential and where it goes. Its value never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub place: Place,
    pub value: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("place", &self.place)
            .field("value", &text_marker(&self.value))
            .finish()
    }
}

/// Why a request could not be given a target's credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Untranslated {
    /// No login of the identity holding this credential was mirrored (or it was evicted).
    UnknownCredential,
    /// The identity is known, but this target's answer to its login carried no credential.
    NoTargetCredential,
    /// The target's credential was learned longer than `ttl` ago.
    Expired,
}

impl Untranslated {
    pub fn as_str(self) -> &'static str {
        match self {
            Untranslated::UnknownCredential => "unknown_credential",
            Untranslated::NoTargetCredential => "no_target_credential",
            Untranslated::Expired => "expired",
        }
    }
}

#[derive(Debug)]
struct Entry {
    /// Fingerprint of the primary's current credential for this identity.
    primary: Option<u128>,
    /// Per target name: its credential and when it was learned.
    targets: HashMap<String, (Credential, Instant)>,
    /// Key in the eviction order.
    stamp: (Instant, u64),
}

/// Counters for reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CredentialStats {
    pub learned: u64,
    /// Identities evicted because `max_identities` were held.
    pub evicted: u64,
    /// A primary credential learned for one identity was already held by another (the
    /// older pairing was dropped).
    pub collisions: u64,
}

/// Identity → primary credential fingerprint and target credentials.
#[derive(Debug)]
pub struct CredentialPairs {
    max_identities: usize,
    ttl: Duration,
    identities: HashMap<String, Entry>,
    by_primary: HashMap<u128, String>,
    order: BTreeMap<(Instant, u64), String>,
    next: u64,
    pub stats: CredentialStats,
}

/// The fingerprint a primary credential is looked up by.
pub fn fingerprint(credential: &str) -> u128 {
    let d = keyed_digest(b"learned-credential", credential.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    u128::from_be_bytes(k)
}

impl CredentialPairs {
    pub fn new(max_identities: usize, ttl: Duration) -> CredentialPairs {
        CredentialPairs {
            max_identities: max_identities.max(1),
            ttl,
            identities: HashMap::new(),
            by_primary: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
            stats: CredentialStats::default(),
        }
    }

    /// Identities held now.
    pub fn len(&self) -> usize {
        self.identities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// The primary answered `identity`'s login with `credential` (its value as the client
    /// will send it back). A new credential replaces the old one (tokens change mid-run).
    pub fn learn_primary(&mut self, identity: &str, credential: &str, now: Instant) {
        let fp = fingerprint(credential);
        if let Some(owner) = self.by_primary.get(&fp)
            && owner != identity
        {
            self.stats.collisions += 1;
            if let Some(e) = self.identities.get_mut(owner.as_str()) {
                e.primary = None;
            }
        }
        let entry = self.touch(identity, now);
        let old = entry.primary.replace(fp);
        if let Some(old) = old.filter(|o| *o != fp) {
            self.by_primary.remove(&old);
        }
        self.by_primary.insert(fp, identity.to_string());
        self.stats.learned += 1;
    }

    /// `target` answered `identity`'s login with `credential`.
    pub fn learn_target(
        &mut self,
        identity: &str,
        target: &str,
        credential: Credential,
        now: Instant,
    ) {
        let entry = self.touch(identity, now);
        entry.targets.insert(target.to_string(), (credential, now));
        self.stats.learned += 1;
    }

    /// `target` answered `identity`'s latest login without a credential: whatever it
    /// issued before is not used with the new primary credential.
    pub fn forget_target(&mut self, identity: &str, target: &str) {
        if let Some(e) = self.identities.get_mut(identity) {
            e.targets.remove(target);
        }
    }

    /// The identity holding `primary_credential` (its latest login), if learned.
    pub fn identity_of(&self, primary_credential: &str) -> Option<&str> {
        self.by_primary
            .get(&fingerprint(primary_credential))
            .map(String::as_str)
    }

    /// The credential `target` knows for whoever holds `primary_credential`.
    pub fn translate(
        &self,
        primary_credential: &str,
        target: &str,
        now: Instant,
    ) -> Result<&Credential, Untranslated> {
        let identity = self
            .by_primary
            .get(&fingerprint(primary_credential))
            .ok_or(Untranslated::UnknownCredential)?;
        let entry = self
            .identities
            .get(identity.as_str())
            .ok_or(Untranslated::UnknownCredential)?;
        let (cred, at) = entry
            .targets
            .get(target)
            .ok_or(Untranslated::NoTargetCredential)?;
        if now.saturating_duration_since(*at) > self.ttl {
            return Err(Untranslated::Expired);
        }
        Ok(cred)
    }

    /// The identity's entry, created (evicting the least recently learned identity when
    /// full) and moved to the back of the eviction order.
    fn touch(&mut self, identity: &str, now: Instant) -> &mut Entry {
        self.next += 1;
        let stamp = (now, self.next);
        if let Some(e) = self.identities.get_mut(identity) {
            self.order.remove(&e.stamp);
            e.stamp = stamp;
            self.order.insert(stamp, identity.to_string());
        } else {
            while self.identities.len() >= self.max_identities {
                let Some((_, oldest)) = self.order.pop_first() else {
                    break;
                };
                if let Some(gone) = self.identities.remove(&oldest)
                    && let Some(fp) = gone.primary
                {
                    self.by_primary.remove(&fp);
                }
                self.stats.evicted += 1;
            }
            self.order.insert(stamp, identity.to_string());
            self.identities.insert(
                identity.to_string(),
                Entry {
                    primary: None,
                    targets: HashMap::new(),
                    stamp,
                },
            );
        }
        match self.identities.get_mut(identity) {
            Some(e) => e,
            None => unreachable!("inserted above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(v: &str) -> Credential {
        Credential {
            place: Place::Authorization {
                scheme: "Bearer".into(),
            },
            value: v.into(),
        }
    }

    #[test]
    fn learned_pairs_translate_per_target_and_expire() {
        let t0 = Instant::now();
        let mut p = CredentialPairs::new(10, Duration::from_secs(60));
        p.learn_primary("alice", "primary-token-a", t0);
        p.learn_target("alice", "auth", bearer("auth-token-a"), t0);
        assert_eq!(
            p.translate("primary-token-a", "auth", t0)
                .map(|c| c.value.as_str()),
            Ok("auth-token-a")
        );
        assert_eq!(
            p.translate("primary-token-a", "ai", t0).err(),
            Some(Untranslated::NoTargetCredential)
        );
        assert_eq!(
            p.translate("unknown", "auth", t0).err(),
            Some(Untranslated::UnknownCredential)
        );
        let later = t0 + Duration::from_secs(61);
        assert_eq!(
            p.translate("primary-token-a", "auth", later).err(),
            Some(Untranslated::Expired)
        );
        // A new login: new tokens replace the old ones.
        p.learn_primary("alice", "primary-token-a2", later);
        p.learn_target("alice", "auth", bearer("auth-token-a2"), later);
        assert_eq!(
            p.translate("primary-token-a", "auth", later).err(),
            Some(Untranslated::UnknownCredential)
        );
        assert_eq!(
            p.translate("primary-token-a2", "auth", later)
                .map(|c| c.value.as_str()),
            Ok("auth-token-a2")
        );
    }

    #[test]
    fn bounded_by_identities_oldest_evicted() {
        let t0 = Instant::now();
        let mut p = CredentialPairs::new(2, Duration::from_secs(60));
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let at = t0 + Duration::from_millis(i as u64);
            p.learn_primary(name, &format!("tok-{name}"), at);
            p.learn_target(name, "auth", bearer(&format!("auth-{name}")), at);
        }
        assert_eq!(p.len(), 2);
        assert_eq!(p.stats.evicted, 1);
        assert_eq!(
            p.translate("tok-a", "auth", t0).err(),
            Some(Untranslated::UnknownCredential)
        );
        assert!(p.translate("tok-c", "auth", t0).is_ok());
    }

    #[test]
    fn a_shared_primary_credential_is_a_collision_never_a_wrong_translation() {
        let t0 = Instant::now();
        let mut p = CredentialPairs::new(10, Duration::from_secs(60));
        p.learn_primary("a", "same", t0);
        p.learn_target("a", "auth", bearer("auth-a"), t0);
        p.learn_primary("b", "same", t0);
        assert_eq!(p.stats.collisions, 1);
        // The credential now belongs to b, who has no auth credential yet.
        assert_eq!(
            p.translate("same", "auth", t0).err(),
            Some(Untranslated::NoTargetCredential)
        );
    }

    #[test]
    fn debug_never_shows_a_credential() {
        let c = bearer("super-secret-token-value");
        let text = format!("{c:?}");
        assert!(!text.contains("super-secret"), "{text}");
        assert!(text.contains("[REDACTED"));
    }
}
