//! Where a scenario's requests go: a [`Deployment`] is a set of services (`monolith`,
//! `auth`, `ai`, ...) with a base URL each and a routing table by path prefix, like the
//! ingress in front of a migration (`/auth/*` → auth, `/ai/*` → ai, the rest → monolith).
//! A target given as one URL is a deployment whose every service is that URL.
//!
//! Owns resolving each service's URL into an upstream [`Target`] once (through the same
//! validation `cutover.toml` targets get) and picking the service of a request. Never sends.

use crate::config::Config;
use crate::upstream::{Pools, Target};

/// One service of a deployment.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// Base URL, as given.
    pub url: String,
    pub target: Target,
}

/// The services a scenario runs against on one side.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The target's name as given on the command line (`monolith`, `services`, a URL).
    pub name: String,
    services: Vec<Service>,
    /// Path prefix → service index, longest first.
    prefixes: Vec<(String, usize)>,
    default: usize,
}

/// Resolve a base URL into a [`Target`] named `name`.
pub fn target(name: &str, url: &str, timeout_ms: u64, pools: &mut Pools) -> Result<Target, String> {
    let text = format!(
        "[targets]\n{} = {{ url = {}, role = \"primary\", timeout_ms = {timeout_ms} }}\n",
        toml::Value::String(name.to_string()),
        toml::Value::String(url.to_string())
    );
    let config = Config::parse(&text, "<target>").map_err(|e| format!("`{url}`: {e}"))?;
    let cfg = config
        .target(name)
        .ok_or_else(|| format!("`{url}`: not a usable target"))?;
    Target::new(name, 0, cfg, timeout_ms, pools)
}

impl Deployment {
    /// Every service at one URL.
    pub fn single(
        name: &str,
        url: &str,
        timeout_ms: u64,
        pools: &mut Pools,
    ) -> Result<Deployment, String> {
        Ok(Deployment {
            name: name.to_string(),
            services: vec![Service {
                name: name.to_string(),
                url: url.to_string(),
                target: target(name, url, timeout_ms, pools)?,
            }],
            prefixes: Vec::new(),
            default: 0,
        })
    }

    /// Every service at one already resolved target (a `cutover.toml` target, with its TLS
    /// settings).
    pub fn of_target(name: &str, url: &str, target: Target) -> Deployment {
        Deployment {
            name: name.to_string(),
            services: vec![Service {
                name: name.to_string(),
                url: url.to_string(),
                target,
            }],
            prefixes: Vec::new(),
            default: 0,
        }
    }

    /// Services by name, path prefixes routed to them, and the service of every other
    /// path (`default`, which must be one of `services`).
    pub fn routed(
        name: &str,
        services: &[(&str, String)],
        prefixes: &[(&str, &str)],
        default: &str,
        timeout_ms: u64,
        pools: &mut Pools,
    ) -> Result<Deployment, String> {
        let mut list = Vec::new();
        for (svc, url) in services {
            list.push(Service {
                name: svc.to_string(),
                url: url.clone(),
                target: target(&format!("{name}/{svc}"), url, timeout_ms, pools)?,
            });
        }
        let index = |svc: &str| {
            list.iter()
                .position(|s| s.name == svc)
                .ok_or_else(|| format!("deployment `{name}`: no service `{svc}`"))
        };
        let mut routes = Vec::new();
        for (prefix, svc) in prefixes {
            routes.push((prefix.to_string(), index(svc)?));
        }
        routes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        let default = index(default)?;
        Ok(Deployment {
            name: name.to_string(),
            services: list,
            prefixes: routes,
            default,
        })
    }

    /// The service a request goes to: the named one (unknown names and single-URL
    /// deployments: the default), else by path prefix.
    pub fn service(&self, name: Option<&str>, path: &str) -> &Service {
        let by_name = name.and_then(|n| self.services.iter().find(|s| s.name == n));
        let by_path = || {
            self.prefixes
                .iter()
                .find(|(p, _)| path.starts_with(p.as_str()))
                .map(|(_, i)| &self.services[*i])
        };
        match (name, by_name) {
            (_, Some(s)) => s,
            (Some(_), None) => &self.services[self.default],
            (None, _) => by_path().unwrap_or(&self.services[self.default]),
        }
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_route_by_name_then_prefix() {
        let mut pools = Pools::new(1);
        let d = Deployment::routed(
            "services",
            &[
                ("monolith", "http://127.0.0.1:1".into()),
                ("auth", "http://127.0.0.1:2".into()),
            ],
            &[("/auth/", "auth")],
            "monolith",
            1000,
            &mut pools,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.service(None, "/auth/login").name, "auth");
        assert_eq!(d.service(None, "/channels").name, "monolith");
        assert_eq!(d.service(Some("monolith"), "/auth/me").name, "monolith");
        let one = Deployment::single("x", "http://127.0.0.1:3/base", 1000, &mut pools)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            one.service(Some("auth"), "/auth/me").url,
            "http://127.0.0.1:3/base"
        );
        assert!(Deployment::single("x", "ftp://h", 1000, &mut pools).is_err());
    }
}
