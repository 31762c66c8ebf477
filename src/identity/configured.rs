//! Configured identities (issue 12 item 3): per identity label and target, a credential
//! established once at start-up from `[[identities]]` — a static one read from the
//! environment, or the one a login scenario obtained from the target. The learned
//! translation ([`super::translate::Translator`]) falls back to these for identities whose
//! login is never mirrored (`Translator::with_configured`, `prepare_as`).
//!
//! Owns reading the named environment variables (through a lookup the caller passes, so
//! tests need not touch the process environment), the checks that every variable is set
//! before any login runs (errors name `file:line:column`, the key and the variable — never
//! a value), and the lookup by label and target. It never runs a login itself: the caller
//! passes a [`LoginRunner`] (the scenario layer's `crate::scenario::login`), so this module
//! stays pure logic. Credentials live in memory only; [`Credential`]'s `Debug` redacts them
//! and nothing here logs.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;

use http::HeaderValue;

use super::credentials::{Credential, Place};
use crate::config::{ConfiguredIdentity, CredentialSource, EnvName, StaticPlace};

/// One login to run: the scenario file against the target, as the configured identity.
/// `username` and `password` are secrets: never print them.
pub struct LoginRequest<'a> {
    pub label: &'a str,
    pub target: &'a str,
    pub scenario: &'a Path,
    pub username: &'a str,
    pub password: &'a str,
}

/// Runs a login scenario against a target and returns the credential it was issued.
/// Errors are sentences with secrets already hidden.
pub trait LoginRunner {
    fn login(&self, req: LoginRequest<'_>) -> impl Future<Output = Result<Credential, String>>;
}

/// A runner for configurations without login scenarios (every login is refused).
pub struct NoLogins;

impl LoginRunner for NoLogins {
    async fn login(&self, req: LoginRequest<'_>) -> Result<Credential, String> {
        Err(format!(
            "{}: login scenarios are not available here",
            req.scenario.display()
        ))
    }
}

/// Why the configured identities could not be established.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EstablishError {
    #[error("{at}: environment variable `{variable}` is not set")]
    MissingEnv { at: String, variable: String },
    #[error("{at}: environment variable `{variable}` does not hold a usable header value")]
    BadValue { at: String, variable: String },
    /// The targets could not be prepared for logins.
    #[error("configured identities: {0}")]
    Setup(String),
    #[error("identity `{label}`, target `{target}`: login with {scenario} failed: {message}")]
    Login {
        label: String,
        target: String,
        scenario: String,
        message: String,
    },
}

/// Per label, per target: the credential to send.
#[derive(Debug, Default)]
pub struct ConfiguredIdentities {
    by_label: HashMap<String, HashMap<String, Credential>>,
}

fn read(
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    v: &EnvName,
) -> Result<String, EstablishError> {
    env(&v.name)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| EstablishError::MissingEnv {
            at: v.at.clone(),
            variable: v.name.clone(),
        })
}

impl ConfiguredIdentities {
    /// Establish every configured credential for the targets in `targets` (others are
    /// skipped): all variables are read first (the first one missing is the error), then
    /// each login scenario runs once per identity and target, in file order.
    pub async fn establish<L: LoginRunner>(
        list: &[ConfiguredIdentity],
        targets: &[&str],
        env: &(dyn Fn(&str) -> Option<String> + Sync),
        runner: &L,
    ) -> Result<ConfiguredIdentities, EstablishError> {
        enum Pending<'a> {
            Ready(Credential),
            Login(&'a Path, String, String),
        }
        let mut plan = Vec::new();
        for entry in list {
            for (target, t) in &entry.targets {
                if !targets.contains(&target.as_str()) {
                    continue;
                }
                let source = t.source();
                let pending = match &source {
                    CredentialSource::Static { place, value } => {
                        let secret = read(env, value)?;
                        let cred = Credential {
                            place: match place {
                                StaticPlace::Authorization { scheme } => Place::Authorization {
                                    scheme: scheme.clone(),
                                },
                                StaticPlace::Header { name } => {
                                    Place::Header { name: name.clone() }
                                }
                                StaticPlace::Cookie { name } => {
                                    Place::Cookie { name: name.clone() }
                                }
                            },
                            value: secret,
                        };
                        if !usable(&cred) {
                            return Err(EstablishError::BadValue {
                                at: value.at.clone(),
                                variable: value.name.clone(),
                            });
                        }
                        Pending::Ready(cred)
                    }
                    CredentialSource::Login {
                        username, password, ..
                    } => Pending::Login(
                        t.login.as_deref().unwrap_or(Path::new("")),
                        read(env, username)?,
                        read(env, password)?,
                    ),
                };
                plan.push((entry.label.trim(), target.as_str(), pending));
            }
        }
        let mut out = ConfiguredIdentities::default();
        for (label, target, pending) in plan {
            let cred = match pending {
                Pending::Ready(c) => c,
                Pending::Login(scenario, username, password) => {
                    let req = LoginRequest {
                        label,
                        target,
                        scenario,
                        username: &username,
                        password: &password,
                    };
                    let cred =
                        runner
                            .login(req)
                            .await
                            .map_err(|message| EstablishError::Login {
                                label: label.to_string(),
                                target: target.to_string(),
                                scenario: scenario.display().to_string(),
                                message: hide(&message, &[&username, &password]),
                            })?;
                    if !usable(&cred) {
                        return Err(EstablishError::Login {
                            label: label.to_string(),
                            target: target.to_string(),
                            scenario: scenario.display().to_string(),
                            message: "the issued credential is not a usable header value".into(),
                        });
                    }
                    cred
                }
            };
            out.by_label
                .entry(label.to_string())
                .or_default()
                .insert(target.to_string(), cred);
        }
        Ok(out)
    }

    /// The credential `target` knows for the identity labelled `label`.
    pub fn credential(&self, label: &str, target: &str) -> Option<&Credential> {
        self.by_label.get(label)?.get(target)
    }

    /// Credentials held (identity × target).
    pub fn len(&self) -> usize {
        self.by_label.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Labels configured, sorted (for reports; no credential).
    pub fn labels(&self) -> Vec<&str> {
        let mut l: Vec<&str> = self.by_label.keys().map(String::as_str).collect();
        l.sort_unstable();
        l
    }
}

/// Whether the credential can travel in a header where it goes.
fn usable(c: &Credential) -> bool {
    let text = match &c.place {
        Place::Authorization { scheme } => format!("{scheme} {}", c.value),
        Place::Cookie { name } => format!("{name}={}", c.value),
        Place::Header { .. } => c.value.clone(),
    };
    let cookie_safe = !matches!(c.place, Place::Cookie { .. }) || !c.value.contains(';');
    HeaderValue::from_str(&text).is_ok() && cookie_safe
}

/// `text` with each secret (4 bytes or more) replaced by a marker.
fn hide(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(*s, "[REDACTED]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(extra: &str) -> Config {
        let text = format!(
            "[targets]\nmono = {{ url = \"http://127.0.0.1:1\", role = \"primary\" }}\n\
             auth = {{ url = \"http://127.0.0.1:2\" }}\nlegacy = {{ url = \"http://127.0.0.1:3\" }}\n{extra}"
        );
        match Config::parse(&text, "cutover.toml") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    const BOTH: &str = r#"
[[identities]]
label = "svc-bot"
[identities.targets.auth]
header = "authorization"
scheme = "Token"
value_env = "BOT_AUTH_TOKEN"
[identities.targets.legacy]
login = "scenarios/login.yaml"
username_env = "BOT_USER"
password_env = "BOT_PASSWORD"
"#;

    struct Fixed(&'static str);
    impl LoginRunner for Fixed {
        async fn login(&self, req: LoginRequest<'_>) -> Result<Credential, String> {
            if req.username == "bot" && req.password == "hunter2-long" {
                Ok(Credential {
                    place: Place::Cookie {
                        name: "sessionid".into(),
                    },
                    value: self.0.into(),
                })
            } else {
                Err(format!("401 for {} / {}", req.username, req.password))
            }
        }
    }

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        }
    }

    #[tokio::test]
    async fn static_and_login_credentials_per_label_and_target() {
        let c = config(BOTH);
        let vars = env(&[
            ("BOT_AUTH_TOKEN", "static-secret-value"),
            ("BOT_USER", "bot"),
            ("BOT_PASSWORD", "hunter2-long"),
        ]);
        let ids = ConfiguredIdentities::establish(
            &c.file.identities,
            &["auth", "legacy"],
            &vars,
            &Fixed("sess-42"),
        )
        .await
        .expect("established");
        assert_eq!(ids.len(), 2);
        let a = ids.credential("svc-bot", "auth").expect("auth");
        assert_eq!(
            (&a.place, a.value.as_str()),
            (
                &Place::Authorization {
                    scheme: "Token".into()
                },
                "static-secret-value"
            )
        );
        let l = ids.credential("svc-bot", "legacy").expect("legacy");
        assert_eq!(l.value, "sess-42");
        assert!(ids.credential("svc-bot", "mono").is_none());
        assert!(ids.credential("someone", "auth").is_none());
        let shown = format!("{ids:?}");
        assert!(
            !shown.contains("static-secret") && !shown.contains("sess-42"),
            "{shown}"
        );
        // Only the targets asked for.
        let only = ConfiguredIdentities::establish(&c.file.identities, &["auth"], &vars, &NoLogins)
            .await
            .expect("auth only");
        assert_eq!(only.len(), 1);
    }

    #[tokio::test]
    async fn a_missing_variable_names_file_line_key_and_variable_before_any_login() {
        let c = config(BOTH);
        let vars = env(&[("BOT_USER", "bot"), ("BOT_PASSWORD", "hunter2-long")]);
        let e = ConfiguredIdentities::establish(
            &c.file.identities,
            &["auth", "legacy"],
            &vars,
            &Fixed("x"),
        )
        .await
        .expect_err("missing");
        assert_eq!(
            e.to_string(),
            "cutover.toml:11:13: `identities[0].targets.auth.value_env`: environment variable \
             `BOT_AUTH_TOKEN` is not set"
        );
        let vars = env(&[("BOT_AUTH_TOKEN", "t-123456")]);
        let e = ConfiguredIdentities::establish(
            &c.file.identities,
            &["auth", "legacy"],
            &vars,
            &Fixed("x"),
        )
        .await
        .expect_err("missing");
        assert!(
            e.to_string()
                .contains("`identities[0].targets.legacy.username_env`")
                && e.to_string().contains("`BOT_USER`"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_failed_login_never_shows_the_password_and_bad_values_are_refused() {
        let c = config(BOTH);
        let vars = env(&[
            ("BOT_AUTH_TOKEN", "ok-token"),
            ("BOT_USER", "bot"),
            ("BOT_PASSWORD", "wrong-password"),
        ]);
        let e = ConfiguredIdentities::establish(
            &c.file.identities,
            &["auth", "legacy"],
            &vars,
            &Fixed("x"),
        )
        .await
        .expect_err("login fails");
        let text = e.to_string();
        assert!(
            text.contains("identity `svc-bot`, target `legacy`"),
            "{text}"
        );
        assert!(!text.contains("wrong-password"), "{text}");
        let vars = env(&[("BOT_AUTH_TOKEN", "line\nbreak")]);
        let e = ConfiguredIdentities::establish(&c.file.identities, &["auth"], &vars, &NoLogins)
            .await
            .expect_err("bad value");
        assert!(matches!(e, EstablishError::BadValue { .. }), "{e}");
        assert!(!e.to_string().contains("line\nbreak"));
    }

    #[test]
    fn the_translator_falls_back_to_a_configured_credential() {
        use crate::identity::credentials::Untranslated;
        use crate::identity::translate::Translator;
        use http::header::AUTHORIZATION;
        use http::{HeaderMap, HeaderValue};
        use std::sync::Arc;
        use std::time::{Duration, Instant};
        let now = Instant::now();
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
            &NoLogins,
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
            .prepare_as(Some("bot"), "auth", &mut h, "/x", b"", now, true)
            .expect("configured");
        assert!(p.credential.is_some());
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
            t2.prepare_as(Some("someone"), "auth", &mut h, "/x", b"", now, true)
                .err(),
            Some(Untranslated::UnknownCredential)
        );
    }
}
