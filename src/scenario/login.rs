//! Login scenarios for `[[identities]]` (issue 12 item 3): a scenario file run once against
//! one `cutover.toml` target at start-up, as a configured identity, to obtain the credential
//! that target issues it. The scenario declares `username` and `password` in its `vars`
//! (defaults for `cutover verify`, e.g. `${env.BOT_USER:-alice}`); here they are set from the
//! environment variables the configuration names, as secrets. The credential is taken from
//! the answers the way learned translation takes it (a token field of a JSON body, else a
//! credential cookie): the last answer that carries one wins.
//!
//! Each step runs once (loops are not expanded); any failed assertion fails the login. Owns
//! [`ScenarioLogins`] (the [`LoginRunner`] of [`crate::identity::configured`]) and
//! [`establish`]; never prints, and failure messages hide the username, password and any
//! captured secret.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::deployment::Deployment;
use super::exec::{Env, run_step};
use super::load::load_file;
use super::vars::{Frame, Scope};
use crate::compare::Rules;
use crate::config::Config;
use crate::identity::configured::{
    ConfiguredIdentities, EstablishError, LoginRequest, LoginRunner,
};
use crate::identity::credentials::Credential;
use crate::identity::extract::issued_credential;
use crate::redact::names::Pattern;
use crate::upstream::{Pools, Target};

/// Runs login scenarios against the targets of one configuration.
pub struct ScenarioLogins {
    targets: HashMap<String, Deployment>,
    env: Env,
    cookies: Vec<Pattern>,
}

impl ScenarioLogins {
    /// Every target of `config`, resolved with its own settings (TLS, timeout).
    pub fn for_config(config: &Config) -> Result<ScenarioLogins, String> {
        let mut pools = Pools::new(1);
        let mut targets = HashMap::new();
        let timeout = config.file.proxy.shadow_timeout_ms;
        for (i, (name, t)) in config.file.targets.iter().enumerate() {
            let target = Target::new(name, i, t, timeout, &mut pools)?;
            targets.insert(
                name.clone(),
                Deployment::of_target(name, t.url.get_ref(), target),
            );
        }
        Ok(ScenarioLogins {
            targets,
            env: Env {
                redaction: crate::redact::Redaction::for_config(&config.file),
                rules: Arc::new(Rules::default()),
                contracts: None,
            },
            cookies: config.file.identity.cookie_patterns(),
        })
    }
}

impl LoginRunner for ScenarioLogins {
    async fn login(&self, req: LoginRequest<'_>) -> Result<Credential, String> {
        let dep = self
            .targets
            .get(req.target)
            .ok_or_else(|| format!("no target `{}`", req.target))?;
        login(
            dep,
            req.scenario,
            req.username,
            req.password,
            &self.env,
            &self.cookies,
        )
        .await
    }
}

/// Run the scenario at `path` on `dep` as `username` / `password`; the credential issued.
pub async fn login(
    dep: &Deployment,
    path: &Path,
    username: &str,
    password: &str,
    env: &Env,
    cookies: &[Pattern],
) -> Result<Credential, String> {
    let scenario = load_file(path).map_err(|e| e.to_string())?;
    for var in ["username", "password"] {
        if !scenario.vars.iter().any(|(n, _)| n == var) {
            return Err(format!(
                "{}: a login scenario declares `{var}` in its `vars` (cutover sets it)",
                scenario.file
            ));
        }
    }
    let mut scope = Scope::new(&scenario.env, "login");
    for (name, value) in &scenario.vars {
        let v = match name.as_str() {
            "username" => Value::String(username.to_string()),
            "password" => Value::String(password.to_string()),
            _ => match scope.resolve_value(value, &Frame::default()) {
                Ok(v) => v,
                Err(e) => return Err(format!("{}: var `{name}`: {e}", scenario.file)),
            },
        };
        let secret =
            matches!(name.as_str(), "username" | "password") || env.redaction.is_secret_field(name);
        scope.set(name, v, secret);
    }
    let mut found = None;
    for step in &scenario.steps {
        let run = run_step(
            dep,
            step,
            &scenario.file,
            &Frame::default(),
            &mut scope,
            env,
        )
        .await;
        if !run.passed() {
            return Err(format!(
                "step `{}` ({}): {}",
                step.doc.name,
                step.location(&scenario.file),
                scope.hide(&run.failures.join("; "))
            ));
        }
        if let Some(resp) = run.outcome.as_ref().and_then(|o| o.response()) {
            let mut headers = HeaderMap::new();
            for (n, v) in &resp.headers {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(n.as_bytes()),
                    HeaderValue::from_str(v),
                ) {
                    headers.append(n, v);
                }
            }
            if let Some(c) = issued_credential(&headers, resp.body.as_bytes(), cookies) {
                found = Some(c);
            }
        }
    }
    found.ok_or_else(|| {
        format!(
            "{}: no answer issued a credential (a token field such as `access_token`, or a \
             credential cookie)",
            scenario.file
        )
    })
}

/// Establish `config`'s `[[identities]]` for `targets` from the process environment,
/// running login scenarios against the configured targets.
pub async fn establish(
    config: &Config,
    targets: &[&str],
) -> Result<ConfiguredIdentities, EstablishError> {
    let env = |name: &str| std::env::var(name).ok();
    let runner = ScenarioLogins::for_config(config).map_err(EstablishError::Setup)?;
    ConfiguredIdentities::establish(&config.file.identities, targets, &env, &runner).await
}
