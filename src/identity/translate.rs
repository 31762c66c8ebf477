//! One place that learns from mirrored answers and prepares later shadow copies for a
//! target (issue 12): a [`Translator`] holds the learned [`CredentialPairs`] and
//! [`IdPairs`], the collections ids were learned under, and the credential-cookie names.
//! The proxy (`crate::proxy::learn`) owns the timing; this is pure.
//!
//! A copy whose request presents a credential that has no learned counterpart for the
//! target is [`Untranslated`] — it must be counted and reported, never sent with a
//! credential the target cannot know (in `auto` mode only once the target was seen
//! issuing its own credentials). A copy without any credential passes (ids are still
//! rewritten). Ids are rewritten in a path only after a collection they were created in
//! (`/users/17` after `POST /users` taught 17 ↔ 1017), in queries and JSON bodies only
//! under id-named keys.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderMap;

use super::configured::ConfiguredIdentities;
use super::credentials::{Credential, CredentialPairs, Place, Untranslated};
use super::extract::{created_id, issued_credential, login_identity};
use super::ids::{IdPairs, Learned};
use super::rewrite::{json_ids, presented, rewrite_json, rewrite_uri, set_credential};
use crate::redact::marker::text_marker;
use crate::redact::names::Pattern;

/// Collections (id tables) per target; creates on further collections teach nothing.
pub const MAX_COLLECTIONS: usize = 32;
/// Id mappings recorded per exchange and target.
pub const MAX_MAPPINGS: usize = 32;
/// Longest id or identity name written into an exchange.
pub const MAX_RECORDED_CHARS: usize = 64;

/// One answer as seen by the translator.
pub struct Answer<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// A shadow copy rewritten for a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub uri: String,
    /// The new body, when ids in it were rewritten.
    pub body: Option<Vec<u8>>,
    /// The credential was replaced by the target's: whose, and a redaction marker of it.
    pub credential: Option<(Option<String>, String)>,
    /// Id mappings used (primary id, target id).
    pub ids: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct Translator {
    pub credentials: CredentialPairs,
    pub ids: IdPairs,
    /// Per target: the collections (`users`) ids were learned under.
    collections: HashMap<String, HashSet<String>>,
    /// Targets seen issuing a credential of their own (not the primary's).
    own: HashSet<String>,
    cookies: Vec<Pattern>,
    /// `[[identities]]`: the fallback for labels whose login was never mirrored.
    configured: Option<Arc<ConfiguredIdentities>>,
}

impl Translator {
    pub fn new(
        max_identities: usize,
        ttl: Duration,
        max_ids: usize,
        cookies: Vec<Pattern>,
    ) -> Translator {
        Translator {
            credentials: CredentialPairs::new(max_identities, ttl),
            ids: IdPairs::new(max_ids),
            collections: HashMap::new(),
            own: HashSet::new(),
            cookies,
            configured: None,
        }
    }

    /// Fall back to these configured credentials ([`Translator::prepare_as`]).
    pub fn with_configured(mut self, configured: Arc<ConfiguredIdentities>) -> Translator {
        self.configured = Some(configured);
        self
    }

    /// [`Translator::prepare`] for a request of the identity labelled `label`: when its
    /// credential has no learned counterpart for `target` but `[[identities]]` configured
    /// one for the label, that one is sent (ids are rewritten as usual).
    #[allow(clippy::too_many_arguments)]
    pub fn prepare_as(
        &self,
        label: Option<&str>,
        target: &str,
        headers: &mut HeaderMap,
        uri: &str,
        body: &[u8],
        now: Instant,
        strict: bool,
    ) -> Result<Prepared, Untranslated> {
        let err = match self.prepare(target, headers, uri, body, now, strict) {
            Ok(p) => return Ok(p),
            Err(e) => e,
        };
        let configured = label.and_then(|l| self.configured.as_deref()?.credential(l, target));
        let (Some(cred), Some((place, _))) = (configured, presented(headers, &self.cookies)) else {
            return Err(err);
        };
        // The ids as for an anonymous copy, then the configured credential in place.
        let mut prepared = self.prepare(target, &mut HeaderMap::new(), uri, body, now, strict)?;
        if !set_credential(headers, &place, cred) {
            return Err(err);
        }
        prepared.credential = label.map(|l| (Some(l.to_string()), text_marker(&cred.value)));
        Ok(prepared)
    }

    /// The credential an answer issued, if any.
    pub fn issued(&self, answer: &Answer<'_>) -> Option<Credential> {
        issued_credential(answer.headers, answer.body, &self.cookies)
    }

    /// The credential a request presents: where, and its value.
    pub fn presented(&self, headers: &HeaderMap) -> Option<(Place, String)> {
        presented(headers, &self.cookies)
    }

    /// Who a login request names.
    pub fn identity(&self, body: &[u8], pointer: Option<&str>) -> Option<String> {
        login_identity(body, pointer)
    }

    /// The identity holding the primary's credential `value`.
    pub fn identity_of(&self, value: &str) -> Option<String> {
        self.credentials.identity_of(value).map(str::to_string)
    }

    /// `identity` logged in: the primary issued `primary`, `target` issued `theirs`.
    pub fn learn_credential(
        &mut self,
        identity: &str,
        primary: &Credential,
        target: &str,
        theirs: Credential,
        now: Instant,
    ) {
        // A target whose token carries other claims (or is opaque and different) cannot
        // be expected to accept the primary's: from now on, unknown credentials are not
        // sent to it (`auto`). Same claims apart from times and ids: a shared issuer.
        if !super::jwt::same_claims(&primary.value, &theirs.value) {
            self.own.insert(target.to_string());
        }
        self.credentials
            .learn_primary(identity, &primary.value, now);
        self.credentials.learn_target(identity, target, theirs, now);
    }

    /// `identity` logged in, the primary issued `primary`, `target` answered without a
    /// credential: copies presenting `primary` are untranslated there (`no_target_credential`).
    pub fn learn_without_target(
        &mut self,
        identity: &str,
        primary: &Credential,
        target: &str,
        now: Instant,
    ) {
        self.credentials
            .learn_primary(identity, &primary.value, now);
        self.credentials.forget_target(identity, target);
    }

    /// `target` was seen issuing credentials of its own.
    pub fn issues_own(&self, target: &str) -> bool {
        self.own.contains(target)
    }

    /// A create on `collection` (the last segment of its path): both answers' ids paired.
    pub fn learn_create(
        &mut self,
        collection: &str,
        pointer: Option<&str>,
        primary: &Answer<'_>,
        target: &str,
        theirs: &Answer<'_>,
    ) -> Option<(Learned, String, String)> {
        let p = created_id(primary.headers, primary.body, pointer)?;
        let t = created_id(theirs.headers, theirs.body, pointer)?;
        let set = self.collections.entry(target.to_string()).or_default();
        if set.len() >= MAX_COLLECTIONS && !set.contains(collection) {
            return Some((Learned::Full, p, t));
        }
        set.insert(collection.to_string());
        let learned = self.ids.learn(&table(target, collection), &p, &t);
        Some((learned, p, t))
    }

    /// The id the primary gave in a create answer (for announcing it as pending).
    pub fn created(&self, pointer: Option<&str>, answer: &Answer<'_>) -> Option<String> {
        created_id(answer.headers, answer.body, pointer)
    }

    /// Rewrite a copy of a request (its headers in place, its URI and body returned) for
    /// `target`; `Err` when its credential has no counterpart there (headers unchanged).
    /// `strict`: a credential without a counterpart is untranslated even on a target not
    /// (yet) seen issuing its own credentials.
    pub fn prepare(
        &self,
        target: &str,
        headers: &mut HeaderMap,
        uri: &str,
        body: &[u8],
        now: Instant,
        strict: bool,
    ) -> Result<Prepared, Untranslated> {
        let mut credential = None;
        if let Some((place, value)) = presented(headers, &self.cookies) {
            match self.credentials.translate(&value, target, now) {
                Ok(cred) => {
                    // Where the client put it (a cookie stays a cookie), with the target's
                    // value; every other place still holding the primary's value too.
                    let cred = &Credential {
                        place: place_for(&place, &cred.place),
                        value: cred.value.clone(),
                    };
                    if !set_credential(headers, &place, cred) {
                        return Err(Untranslated::NoTargetCredential);
                    }
                    super::rewrite::replace_cookie_values(headers, &value, &cred.value);
                    let who = self.credentials.identity_of(&value).map(short);
                    credential = Some((who, text_marker(&cred.value)));
                }
                Err(why) if strict || self.issues_own(target) => return Err(why),
                Err(_) => {}
            }
        }
        let scoped = self.collections.get(target).filter(|c| !c.is_empty());
        if scoped.is_none() {
            // No id learned for this target: nothing to look for in the path or body.
            return Ok(Prepared {
                uri: uri.to_string(),
                body: None,
                credential,
                ids: Vec::new(),
            });
        }
        let used = std::cell::RefCell::new(Vec::new());
        let note = |p: &str, t: &str| {
            let mut u = used.borrow_mut();
            if u.len() < MAX_MAPPINGS && !u.iter().any(|(a, _): &(String, String)| a == p) {
                u.push((short(p), short(t)));
            }
        };
        let in_path = |prev: &str, id: &str| {
            let t = if scoped.is_some_and(|c| c.contains(prev)) {
                self.ids.to_target(&table(target, prev), id)?.to_string()
            } else if super::rewrite::is_id_key(prev) {
                self.any(target, id, IdPairs::to_target)?
            } else {
                return None;
            };
            note(id, &t);
            Some(t)
        };
        let (uri, _) = rewrite_uri(uri, in_path);
        let in_body = |id: &str| {
            let t = self.any(target, id, IdPairs::to_target)?;
            note(id, &t);
            Some(t)
        };
        let body = rewrite_json(body, in_body).map(|(b, _)| b);
        Ok(Prepared {
            uri,
            body,
            credential,
            ids: used.into_inner(),
        })
    }

    /// `id` looked up (`lookup`) in every id table of `target`: the one answer when the
    /// tables that know it agree; `None` when none knows it or they disagree (which
    /// collection an id in a body belongs to is not known).
    fn any(
        &self,
        target: &str,
        id: &str,
        lookup: for<'a> fn(&'a IdPairs, &str, &str) -> Option<&'a str>,
    ) -> Option<String> {
        let mut found: Option<&str> = None;
        for c in self.collections.get(target)? {
            if let Some(v) = lookup(&self.ids, &table(target, c), id) {
                match found {
                    Some(f) if f != v => return None,
                    _ => found = Some(v),
                }
            }
        }
        found.map(str::to_string)
    }

    /// Ids in `target`'s answer that stand for a primary id: (primary id, target id).
    pub fn answer_ids(&self, target: &str, body: &[u8]) -> Vec<(String, String)> {
        if self.collections.get(target).is_none_or(|c| c.is_empty()) {
            return Vec::new();
        }
        let mut out: Vec<(String, String)> = Vec::new();
        for t in json_ids(body, 4 * MAX_MAPPINGS) {
            if let Some(p) = self.any(target, &t, IdPairs::to_primary)
                && p != t
                && !out.iter().any(|(_, x)| *x == t)
            {
                out.push((short(&p), short(&t)));
                if out.len() >= MAX_MAPPINGS {
                    break;
                }
            }
        }
        out
    }
}

/// Where the target's credential goes: the client's place, except a scheme or cookie name
/// the target itself stated.
fn place_for(presented: &Place, learned: &Place) -> Place {
    match (presented, learned) {
        (Place::Authorization { scheme }, Place::Authorization { scheme: theirs }) => {
            Place::Authorization {
                scheme: if theirs.eq_ignore_ascii_case("bearer") && !scheme.is_empty() {
                    scheme.clone()
                } else {
                    theirs.clone()
                },
            }
        }
        (_, Place::Cookie { name }) => Place::Cookie { name: name.clone() },
        (presented, _) => presented.clone(),
    }
}

/// The id table of one target's collection.
fn table(target: &str, collection: &str) -> String {
    format!("{target}\0{collection}")
}

/// A value cut to [`MAX_RECORDED_CHARS`] characters.
fn short(s: &str) -> String {
    s.chars().take(MAX_RECORDED_CHARS).collect()
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
