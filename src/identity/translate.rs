//! One place that learns from mirrored answers and prepares later shadow copies for a
//! target (issue 12 groundwork, pure and **not wired into the proxy**): a [`Translator`]
//! holds the learned [`CredentialPairs`] and [`IdPairs`] and the credential-cookie names.
//!
//! A copy whose request presents a credential that has no learned counterpart for the
//! target is [`Untranslated`] — it must be counted and reported, never sent with a
//! credential the target cannot know. A copy without any credential passes unchanged
//! (ids are still rewritten).

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderMap;

use super::configured::ConfiguredIdentities;
use super::credentials::{CredentialPairs, Untranslated};
use super::extract::{created_id, issued_credential, login_identity};
use super::ids::{IdPairs, Learned};
use super::rewrite::{presented, rewrite_json, rewrite_uri, set_credential};
use crate::redact::names::Pattern;

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
    /// The credential was replaced by the target's.
    pub credential: bool,
    /// Ids replaced in the URI and the body.
    pub ids: usize,
}

#[derive(Debug)]
pub struct Translator {
    pub credentials: CredentialPairs,
    pub ids: IdPairs,
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
    pub fn prepare_as(
        &self,
        label: Option<&str>,
        target: &str,
        headers: &mut HeaderMap,
        uri: &str,
        body: &[u8],
        now: Instant,
    ) -> Result<Prepared, Untranslated> {
        let err = match self.prepare(target, headers, uri, body, now) {
            Ok(p) => return Ok(p),
            Err(e) => e,
        };
        let configured = label.and_then(|l| self.configured.as_deref()?.credential(l, target));
        let (Some(cred), Some((place, _))) = (configured, presented(headers, &self.cookies)) else {
            return Err(err);
        };
        // The ids as for an anonymous copy, then the configured credential in place.
        let mut prepared = self.prepare(target, &mut HeaderMap::new(), uri, body, now)?;
        if !set_credential(headers, &place, cred) {
            return Err(err);
        }
        prepared.credential = true;
        Ok(prepared)
    }

    /// A mirrored login (or register, or refresh): `request_body` names the identity,
    /// `primary` and `target` answered it. True when something was learned.
    pub fn learn_login(
        &mut self,
        request_body: &[u8],
        identity_pointer: Option<&str>,
        primary: &Answer<'_>,
        target_name: &str,
        target: &Answer<'_>,
        now: Instant,
    ) -> bool {
        let Some(identity) = login_identity(request_body, identity_pointer) else {
            return false;
        };
        let p = issued_credential(primary.headers, primary.body, &self.cookies);
        let t = issued_credential(target.headers, target.body, &self.cookies);
        let (Some(p), Some(t)) = (p, t) else {
            return false;
        };
        self.credentials.learn_primary(&identity, &p.value, now);
        self.credentials
            .learn_target(&identity, target_name, t, now);
        true
    }

    /// A mirrored create: both answers' ids (`pointer`, else `id`, else `Location`) paired.
    pub fn learn_create(
        &mut self,
        pointer: Option<&str>,
        primary: &Answer<'_>,
        target_name: &str,
        target: &Answer<'_>,
    ) -> Option<Learned> {
        let p = created_id(primary.headers, primary.body, pointer)?;
        let t = created_id(target.headers, target.body, pointer)?;
        Some(self.ids.learn(target_name, &p, &t))
    }

    /// Rewrite a copy of a request (its headers in place, its URI and body returned) for
    /// `target`; `Err` when its credential has no counterpart there (headers unchanged).
    pub fn prepare(
        &self,
        target: &str,
        headers: &mut HeaderMap,
        uri: &str,
        body: &[u8],
        now: Instant,
    ) -> Result<Prepared, Untranslated> {
        let mut credential = false;
        if let Some((place, value)) = presented(headers, &self.cookies) {
            let cred = self.credentials.translate(&value, target, now)?;
            credential = set_credential(headers, &place, cred);
            if !credential {
                return Err(Untranslated::NoTargetCredential);
            }
        }
        let map = |id: &str| self.ids.to_target(target, id).map(str::to_string);
        let (uri, in_uri) = rewrite_uri(uri, map);
        let (body, in_body) = match rewrite_json(body, map) {
            Some((b, n)) => (Some(b), n),
            None => (None, 0),
        };
        Ok(Prepared {
            uri,
            body,
            credential,
            ids: in_uri + in_body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use http::header::AUTHORIZATION;

    #[test]
    fn login_then_create_then_a_translated_copy() {
        let now = Instant::now();
        let cookies = crate::config::IdentityConfig::default().cookie_patterns();
        let mut t = Translator::new(100, Duration::from_secs(600), 1000, cookies);
        let none = HeaderMap::new();
        let login = br#"{"username":"alice","password":"pw"}"#;
        assert!(t.learn_login(
            login,
            None,
            &Answer {
                headers: &none,
                body: br#"{"access_token":"P-TOKEN"}"#
            },
            "auth",
            &Answer {
                headers: &none,
                body: br#"{"token":"A-TOKEN","token_type":"Token"}"#
            },
            now,
        ));
        assert_eq!(
            t.learn_create(
                None,
                &Answer {
                    headers: &none,
                    body: br#"{"id":17}"#
                },
                "auth",
                &Answer {
                    headers: &none,
                    body: br#"{"id":3}"#
                },
            ),
            Some(Learned::New)
        );
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer P-TOKEN"));
        let p = t
            .prepare("auth", &mut h, "/users/17", br#"{"friend_id":17}"#, now)
            .expect("translated");
        assert_eq!(
            h.get(AUTHORIZATION).map(|v| v.as_bytes()),
            Some(&b"Token A-TOKEN"[..])
        );
        assert_eq!(p.uri, "/users/3");
        assert_eq!(p.body.as_deref(), Some(&br#"{"friend_id":3}"#[..]));
        assert_eq!((p.credential, p.ids), (true, 2));
        // An identity whose login was never mirrored: untranslated, headers untouched.
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer OTHER"));
        assert_eq!(
            t.prepare("auth", &mut h, "/users/17", b"", now).err(),
            Some(Untranslated::UnknownCredential)
        );
        assert_eq!(
            h.get(AUTHORIZATION).map(|v| v.as_bytes()),
            Some(&b"Bearer OTHER"[..])
        );
        // Anonymous: passes, ids still translated.
        let p = t
            .prepare("auth", &mut HeaderMap::new(), "/users/17", b"", now)
            .expect("anonymous");
        assert_eq!((p.uri.as_str(), p.credential), ("/users/3", false));
        // A configured identity: the fallback when nothing was learned for its label.
        let vars = |n: &str| (n == "BOT_TOKEN").then(|| "CONFIGURED-TOKEN".to_string());
        let cfg = crate::config::Config::parse(
            "[targets]\nm = { url = \"http://127.0.0.1:1\", role = \"primary\" }\n\
             auth = { url = \"http://127.0.0.1:2\" }\n[[identities]]\nlabel = \"bot\"\n\
             [identities.targets.auth]\nheader = \"authorization\"\nvalue_env = \"BOT_TOKEN\"\n",
            "c.toml",
        )
        .expect("config");
        let configured = futures_util::FutureExt::now_or_never(ConfiguredIdentities::establish(
            &cfg.file.identities,
            &["auth"],
            &vars,
            &super::super::configured::NoLogins,
        ))
        .expect("no login to wait for")
        .expect("established");
        let t2 = Translator::new(100, Duration::from_secs(600), 1000, Vec::new())
            .with_configured(Arc::new(configured));
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer BOT-PRIMARY"),
        );
        let p = t2
            .prepare_as(Some("bot"), "auth", &mut h, "/x", b"", now)
            .expect("configured");
        assert!(p.credential);
        assert_eq!(
            h.get(AUTHORIZATION).map(|v| v.as_bytes()),
            Some(&b"Bearer CONFIGURED-TOKEN"[..])
        );
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer BOT-PRIMARY"),
        );
        assert_eq!(
            t2.prepare_as(Some("someone"), "auth", &mut h, "/x", b"", now)
                .err(),
            Some(Untranslated::UnknownCredential)
        );
        // A login answer without a credential teaches nothing.
        assert!(!t.learn_login(
            login,
            None,
            &Answer {
                headers: &none,
                body: br#"{"ok":true}"#
            },
            "auth",
            &Answer {
                headers: &none,
                body: br#"{"token":"x"}"#
            },
            now,
        ));
    }
}
