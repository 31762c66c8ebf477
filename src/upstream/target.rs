//! Configured targets, resolved once at start-up, and the pools they share.
//!
//! Owns turning a `[targets.NAME]` entry into a [`Target`]: its origin (scheme,
//! `host:port`), path prefix, `Host`, timeout, and the [`Pool`] of its origin — created
//! once per distinct origin *and* TLS/protocol settings by [`Pools`], so two targets on the
//! same `host:port` with the same settings share their connections. TLS settings are
//! checked here (CA file read, system roots loaded once) so a bad one stops the start-up.
//! Shadow targets may get a connection cap ([`Target::with_cap`]); their pool is then
//! separate from any uncapped pool of the same origin.
//! Never sends anything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use http::header::HeaderValue;
use http::uri::{PathAndQuery, Scheme};

use super::connect::{Dialer, TlsDial};
use super::pool::Pool;
use super::tls::{self, ALPN_H2, ALPN_HTTP1, SystemRoots, Trust};
use crate::config::{Protocol, TargetConfig};

/// One configured target, resolved once at start-up.
#[derive(Debug, Clone)]
pub struct Target {
    /// Configured name (`monolith`, `auth`, ...).
    pub name: String,
    /// Index into the caller's target table (the proxy's metrics).
    pub index: usize,
    /// The keep-alive connections to this target's origin; shared with every other target
    /// of the same origin and settings.
    pub pool: Arc<Pool>,
    /// Path prefix without a trailing slash (`""` or `/base`).
    prefix: String,
    /// `Host` header value sent to this target.
    pub(super) host: HeaderValue,
    pub timeout: Duration,
}

/// The pools of every origin, built while targets are resolved.
pub struct Pools {
    by_origin: HashMap<String, Arc<Pool>>,
    workers: usize,
    system_roots: SystemRoots,
}

impl Pools {
    /// Pools whose idle lists are sharded for `workers` threads (see
    /// [`super::pool::set_worker`]; 1 for callers without workers).
    pub fn new(workers: usize) -> Pools {
        Pools {
            by_origin: HashMap::new(),
            workers: workers.max(1),
            system_roots: SystemRoots::default(),
        }
    }
}

impl Target {
    /// Resolve a configured target; `pools` holds one [`Pool`] per origin and settings.
    /// The error names the target and what to fix.
    pub fn new(
        name: &str,
        index: usize,
        cfg: &TargetConfig,
        default_timeout_ms: u64,
        pools: &mut Pools,
    ) -> Result<Target, String> {
        Target::with_cap(name, index, cfg, default_timeout_ms, pools, None)
    }

    /// [`Target::new`] whose origin's HTTP/1.1 connections are capped at `cap` (shadow
    /// targets). A capped pool is never shared with an uncapped one: a primary on the same
    /// origin keeps its own, uncapped connections.
    pub fn with_cap(
        name: &str,
        index: usize,
        cfg: &TargetConfig,
        default_timeout_ms: u64,
        pools: &mut Pools,
        cap: Option<usize>,
    ) -> Result<Target, String> {
        let url: Uri = cfg
            .url
            .get_ref()
            .parse()
            .map_err(|e| format!("target `{name}`: invalid url: {e}"))?;
        let https = url.scheme() == Some(&Scheme::HTTPS);
        let authority = url
            .authority()
            .ok_or_else(|| format!("target `{name}`: url has no host"))?;
        let default_port = if https { 443 } else { 80 };
        let addr = format!(
            "{}:{}",
            authority.host(),
            authority.port_u16().unwrap_or(default_port)
        );
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|e| format!("target `{name}`: invalid host: {e}"))?;
        let protocol = *cfg.protocol.get_ref();
        let insecure = *cfg.insecure.get_ref();
        let ca = cfg.tls_ca_file.as_ref().map(|p| p.get_ref().as_path());
        let key = format!(
            "{}://{addr}|{}|{}|{:?}|{:?}",
            if https { "https" } else { "http" },
            protocol.as_str(),
            insecure,
            ca,
            cap
        );
        let pool = match pools.by_origin.get(&key) {
            Some(p) => Arc::clone(p),
            None => {
                let tls = if https {
                    let trust = match (insecure, ca) {
                        (true, _) => Trust::Insecure,
                        (false, Some(path)) => Trust::CaFile(path),
                        (false, None) => Trust::System,
                    };
                    if insecure {
                        tracing::warn!(
                            "target `{name}` ({}): insecure = true, its TLS certificate is NOT \
                             verified; use this for staging only",
                            cfg.url.get_ref()
                        );
                    }
                    let alpn: &[&[u8]] = match protocol {
                        Protocol::Http1 => &[ALPN_HTTP1],
                        _ => &[ALPN_H2, ALPN_HTTP1],
                    };
                    let fail = |m: String| format!("target `{name}`: {m}");
                    Some(TlsDial {
                        name: tls::server_name(authority.host()).map_err(fail)?,
                        config: tls::client_config(trust, alpn, &mut pools.system_roots)
                            .map_err(fail)?,
                        upgrade_config: tls::client_config(
                            trust,
                            &[ALPN_HTTP1],
                            &mut pools.system_roots,
                        )
                        .map_err(fail)?,
                    })
                } else {
                    None
                };
                let dialer = Dialer {
                    addr,
                    tls,
                    h2c: protocol == Protocol::H2c,
                };
                let scheme = if https { Scheme::HTTPS } else { Scheme::HTTP };
                let pool = Pool::new(dialer, scheme, authority.clone(), pools.workers, cap);
                pools.by_origin.insert(key, Arc::clone(&pool));
                pool
            }
        };
        Ok(Target {
            name: name.to_string(),
            index,
            pool,
            prefix: url.path().trim_end_matches('/').to_string(),
            host,
            timeout: Duration::from_millis(cfg.timeout_ms.unwrap_or(default_timeout_ms)),
        })
    }

    /// The request-target sent to this target (its pool fixes the origin): the path prefix
    /// followed by the request's origin-form path and query, built from parts. Without a
    /// prefix the request's path and query is reused as is (no copy, no re-parse).
    pub fn uri(&self, path_and_query: &PathAndQuery) -> Result<Uri, http::Error> {
        // `*` names the server, not a resource under the prefix.
        let path_and_query = if self.prefix.is_empty() || path_and_query.as_str() == "*" {
            path_and_query.clone()
        } else {
            let pq = path_and_query.as_str();
            let mut s = String::with_capacity(self.prefix.len() + pq.len());
            s.push_str(&self.prefix);
            s.push_str(pq);
            PathAndQuery::try_from(s)?
        };
        Ok(Uri::from(path_and_query))
    }
}
