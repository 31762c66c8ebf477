//! `[[identities]]`: per-target credentials for identities that learning cannot reach
//! (issue 12 item 3) — a service account whose login is never mirrored, a target that
//! issues credentials only through its own login flow.
//!
//! Each entry names an identity label (what [`crate::identity::ClientIdentity::label`] gives
//! a client request, e.g. a JWT claim) and, per target, either a **static credential** (a
//! header or cookie whose value is read from an environment variable named here) or a
//! **login scenario** (a scenario file run against the target at start-up, its `username`
//! and `password` variables set from environment variables named here). Secret values are
//! never written in the file: only the names of the variables that hold them.
//!
//! Owns the table's shape, its checks (known targets, one kind per target, valid names) and
//! where each variable name was written (`file:line:column` and key, for the error when it
//! is not set). Never reads the environment and never runs a login: that is
//! [`crate::identity::configured`] and `crate::scenario::login`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::model::TargetConfig;
use super::spans::value_span;

/// Most `[[identities]]` entries.
pub const MAX_CONFIGURED_IDENTITIES: usize = 1_000;
/// Longest label.
const MAX_LABEL: usize = 64;

/// One `[[identities]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredIdentity {
    /// The identity label of the client requests this applies to.
    pub label: String,
    /// Per target name: how that target knows this identity.
    pub targets: BTreeMap<String, IdentityTarget>,
}

/// How one target knows a configured identity: `value_env` with `header` or `cookie` (a
/// static credential), or `login` with `username_env` and `password_env` (a scenario).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityTarget {
    /// Static credential: this request header (`authorization` takes `scheme`).
    #[serde(default)]
    pub header: Option<String>,
    /// Static credential: this cookie.
    #[serde(default)]
    pub cookie: Option<String>,
    /// `Authorization` scheme of a static credential (default `Bearer`).
    #[serde(default)]
    pub scheme: Option<String>,
    /// The environment variable holding the static credential's value.
    #[serde(default)]
    pub value_env: Option<String>,
    /// A login scenario file (relative to the configuration file), run against the target.
    #[serde(default)]
    pub login: Option<PathBuf>,
    /// The environment variables the scenario's `username` and `password` come from.
    #[serde(default)]
    pub username_env: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    /// Where each `*_env` key was written (`file:line:column: `key``), filled when the
    /// file is read.
    #[serde(skip)]
    pub written_at: BTreeMap<String, String>,
}

/// Where a configured credential goes in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticPlace {
    /// `Authorization: <scheme> <value>`.
    Authorization {
        scheme: String,
    },
    /// A header, the whole value.
    Header {
        name: String,
    },
    Cookie {
        name: String,
    },
}

/// An environment variable name and where the configuration names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvName {
    pub name: String,
    /// `file:line:column: `identities[0].targets.auth.value_env``.
    pub at: String,
}

/// A checked [`IdentityTarget`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    Static {
        place: StaticPlace,
        value: EnvName,
    },
    Login {
        scenario: PathBuf,
        username: EnvName,
        password: EnvName,
    },
}

impl IdentityTarget {
    fn env(&self, key: &str, name: Option<&String>) -> EnvName {
        EnvName {
            name: name.cloned().unwrap_or_default(),
            at: self
                .written_at
                .get(key)
                .cloned()
                .unwrap_or_else(|| format!("`{key}`")),
        }
    }

    /// The checked source (the file was validated when read; an unvalidated entry without
    /// a login is a static credential in `Authorization`).
    pub fn source(&self) -> CredentialSource {
        if let Some(scenario) = &self.login {
            return CredentialSource::Login {
                scenario: scenario.clone(),
                username: self.env("username_env", self.username_env.as_ref()),
                password: self.env("password_env", self.password_env.as_ref()),
            };
        }
        let place = match (&self.header, &self.cookie) {
            (_, Some(c)) => StaticPlace::Cookie { name: c.clone() },
            (Some(h), None) if !h.eq_ignore_ascii_case("authorization") => StaticPlace::Header {
                name: h.to_ascii_lowercase(),
            },
            _ => StaticPlace::Authorization {
                scheme: self.scheme.clone().unwrap_or_else(|| "Bearer".into()),
            },
        };
        CredentialSource::Static {
            place,
            value: self.env("value_env", self.value_env.as_ref()),
        }
    }
}

type Problem = (std::ops::Range<usize>, String, String);

fn env_name_ok(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && n.len() <= 128
}

fn token_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 128
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Check every entry, resolve `login` paths against `base`, and record where each
/// variable name was written (`name` is the file's name in messages).
pub(super) fn check(
    list: &mut [ConfiguredIdentity],
    targets: &BTreeMap<String, TargetConfig>,
    text: &str,
    name: &str,
    base: Option<&Path>,
) -> Result<(), Problem> {
    let problem = |key: &str, message: String| -> Problem {
        let span = value_span(text, key).unwrap_or(0..0);
        let shown = key
            .replacen("identities.", "identities[", 1)
            .replacen('.', "].", 1);
        (span, shown, message)
    };
    if list.len() > MAX_CONFIGURED_IDENTITIES {
        return Err(problem(
            "identities",
            format!(
                "at most {MAX_CONFIGURED_IDENTITIES} configured identities, got {}",
                list.len()
            ),
        ));
    }
    let mut labels = BTreeSet::new();
    for (i, entry) in list.iter_mut().enumerate() {
        let at = |k: &str| format!("identities.{i}.{k}");
        let label = entry.label.trim();
        if label.is_empty() || label.chars().count() > MAX_LABEL {
            return Err(problem(
                &at("label"),
                format!("a label is 1 to {MAX_LABEL} characters"),
            ));
        }
        if !labels.insert(label.to_string()) {
            return Err(problem(
                &at("label"),
                format!("label `{label}` is configured twice"),
            ));
        }
        if entry.targets.is_empty() {
            return Err(problem(
                &at("targets"),
                "no targets: name at least one".into(),
            ));
        }
        for (target, t) in entry.targets.iter_mut() {
            let key = |k: &str| format!("identities.{i}.targets.{target}.{k}");
            if !targets.contains_key(target) {
                return Err(problem(
                    &format!("identities.{i}.targets.{target}"),
                    format!(
                        "unknown target `{target}`; known: {}",
                        targets.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            check_target(t, &key, &problem)?;
            for field in ["value_env", "username_env", "password_env"] {
                let k = key(field);
                if let Some(span) = value_span(text, &k) {
                    let loc = super::locate(text, name, span.start, None, String::new());
                    let shown = format!("identities[{i}].targets.{target}.{field}");
                    t.written_at.insert(
                        field.to_string(),
                        format!("{}:{}:{}: `{shown}`", loc.path, loc.line, loc.column),
                    );
                }
            }
            if let (Some(login), Some(base)) = (t.login.as_mut(), base)
                && login.is_relative()
            {
                *login = base.join(&*login);
            }
        }
    }
    Ok(())
}

fn check_target(
    t: &IdentityTarget,
    key: &dyn Fn(&str) -> String,
    problem: &dyn Fn(&str, String) -> Problem,
) -> Result<(), Problem> {
    let envs = [
        ("value_env", &t.value_env),
        ("username_env", &t.username_env),
        ("password_env", &t.password_env),
    ];
    for (field, v) in envs {
        if let Some(n) = v
            && !env_name_ok(n)
        {
            return Err(problem(
                &key(field),
                format!("`{n}` is not an environment variable name (letters, digits, `_`)"),
            ));
        }
    }
    match (&t.value_env, &t.login) {
        (Some(_), Some(_)) => Err(problem(
            &key("login"),
            "either `value_env` (a static credential) or `login` (a scenario), not both".into(),
        )),
        (None, None) => Err(problem(
            &key("value_env").replace(".value_env", ""),
            "give `value_env` with `header` or `cookie` (a static credential), or `login` with \
`username_env` and `password_env` (a login scenario)"
                .into(),
        )),
        (None, Some(_)) => {
            for (field, v) in [
                ("username_env", &t.username_env),
                ("password_env", &t.password_env),
            ] {
                if v.is_none() {
                    return Err(problem(
                        &key("login"),
                        format!("a login scenario needs `{field}`"),
                    ));
                }
            }
            for (field, v) in [
                ("header", &t.header),
                ("cookie", &t.cookie),
                ("scheme", &t.scheme),
            ] {
                if v.is_some() {
                    return Err(problem(
                        &key(field),
                        format!(
                            "`{field}` is for static credentials; a login scenario's credential \
is taken from its answers"
                        ),
                    ));
                }
            }
            Ok(())
        }
        (Some(_), None) => {
            if t.username_env.is_some() || t.password_env.is_some() {
                return Err(problem(
                    &key("value_env"),
                    "`username_env` / `password_env` go with `login`".into(),
                ));
            }
            match (&t.header, &t.cookie) {
                (Some(_), Some(_)) | (None, None) => Err(problem(
                    &key("value_env"),
                    "a static credential goes in exactly one of `header` or `cookie`".into(),
                )),
                (Some(h), None) => {
                    if !token_ok(h) {
                        return Err(problem(
                            &key("header"),
                            format!("`{h}` is not a header name"),
                        ));
                    }
                    match &t.scheme {
                        Some(_) if !h.eq_ignore_ascii_case("authorization") => Err(problem(
                            &key("scheme"),
                            "`scheme` goes with `header = \"authorization\"` only".into(),
                        )),
                        Some(s)
                            if !(1..=32).contains(&s.len())
                                || !s.bytes().all(|b| b.is_ascii_alphanumeric()) =>
                        {
                            Err(problem(
                                &key("scheme"),
                                format!("`{s}` is not an authorization scheme (letters, digits)"),
                            ))
                        }
                        _ => Ok(()),
                    }
                }
                (None, Some(c)) => {
                    if t.scheme.is_some() {
                        return Err(problem(
                            &key("scheme"),
                            "`scheme` goes with `header = \"authorization\"` only".into(),
                        ));
                    }
                    if token_ok(c) {
                        Ok(())
                    } else {
                        Err(problem(
                            &key("cookie"),
                            format!("`{c}` is not a cookie name"),
                        ))
                    }
                }
            }
        }
    }
}
