//! The embedded reference system: a chat monolith and its extracted Auth and AI services,
//! served with axum on real sockets, plus a catalogue of switchable migration bugs.
//!
//! Owns start-up (binding, with a typed error for a port in use), the per-deployment state
//! ([`App`]), the router of each deployment, the middleware that stamps legitimate noise
//! (`x-request-id`, `server`) and injects the `error-500-10pct`, `ai-errors-5pct` and `ai-latency-200ms`
//! divergences, and shutdown.
//! Divergences only ever apply to the extracted services: the monolith is the reference.
//!
//! Layout: `api.rs` (the operation table and types: routers and `GET /openapi.json`
//! come from it), `auth.rs` (the 6 auth endpoints), `ai.rs` (the 3 AI endpoints and the fake
//! model), `chat.rs` (channels, messages, health: monolith only), `store.rs` (in-memory
//! state), `token.rs` (JWTs), `errors.rs` (FastAPI-shaped errors), `noise.rs` (formats that
//! differ legitimately), `divergence.rs` (the catalogue).
//!
//! Registration auto-joins the user to `#general` (channel 1) in the monolith: observable as
//! a `join` message `"<username> joined #general"` in `GET /channels/1/messages` and in
//! `member_count` of `GET /channels`.
//!
//! The `auth-own-identity` mode ([`Divergence::AuthOwnIdentity`], a mode rather than a bug)
//! gives the Auth service its own identities: its own signing secret ([`own_secret`]), its
//! own claims (`uid` + `username`, see [`token::Scheme::Own`]) and its own id sequence
//! (from [`OWN_FIRST_ID`]). The AI service keeps accepting the monolith's tokens: while Auth
//! is being extracted and shadowed, production clients still hold tokens the monolith issued,
//! and the AI service that already serves them validates those (it sits beside the monolith,
//! sharing its `SECRET_KEY`).

mod ai;
pub mod api;
mod auth;
mod catalogue;
mod chat;
pub mod divergence;
mod errors;
pub mod noise;
mod store;
pub mod token;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use ai::answer as fake_answer;
pub use divergence::{
    Divergence, DivergenceInfo, DivergenceSet, Effect, EffectKind, Service, catalogue, modes,
    parse_divergences,
};

use errors::ApiError;
use noise::{Doc, Style};
use store::Store;

/// The first user id of the Auth service in the `auth-own-identity` mode (the monolith's
/// is 1).
pub const OWN_FIRST_ID: i64 = 1001;

/// The Auth service's own signing secret in the `auth-own-identity` mode, derived from the
/// shared one so it differs whatever `SECRET_KEY` is.
pub fn own_secret(shared: &str) -> String {
    format!("{shared}:auth-service")
}

/// Request bodies above this size answer 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Default JWT secret when `SECRET_KEY` is not set (the reference system is a local fixture).
pub const DEFAULT_SECRET: &str = "cutover-reference-secret";

/// Options for starting the reference system.
#[derive(Debug, Clone)]
pub struct Options {
    pub host: IpAddr,
    /// 0 = ephemeral port (the same for the other ports).
    pub monolith_port: u16,
    pub auth_port: u16,
    pub ai_port: u16,
    /// `Some(p)`: also start a second, independent monolith instance (for noise learning).
    pub secondary_port: Option<u16>,
    /// Migration bugs switched on in the extracted services.
    pub divergences: Vec<Divergence>,
    /// `ADMIN_ALLOWLIST`: semicolon-separated usernames; `None` or empty → `admina`.
    pub admin_allowlist: Option<String>,
    /// `SECRET_KEY` shared by the three services.
    pub secret_key: String,
    /// bcrypt cost (4..=31); tests and benchmarks lower it.
    pub bcrypt_cost: u32,
    /// AI requests per user per window.
    pub ai_rate_limit: u32,
    pub ai_rate_window: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            monolith_port: 0,
            auth_port: 0,
            ai_port: 0,
            secondary_port: None,
            divergences: Vec::new(),
            admin_allowlist: None,
            secret_key: DEFAULT_SECRET.to_string(),
            bcrypt_cost: bcrypt::DEFAULT_COST,
            ai_rate_limit: 20,
            ai_rate_window: Duration::from_secs(60),
        }
    }
}

/// Why the reference system could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error(
        "cannot start {service}: port {port} is already in use (pick another with --{service}-port, or 0 for a free one)"
    )]
    PortInUse { service: &'static str, port: u16 },
    #[error("unknown divergence `{name}`; known: {}", known.join(", "))]
    UnknownDivergence {
        name: String,
        known: Vec<&'static str>,
    },
    #[error("cannot start {service}: {source}")]
    Io {
        service: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Which deployment a router serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Monolith,
    Auth,
    Ai,
}

impl Role {
    fn service_name(self) -> &'static str {
        match self {
            Role::Monolith => "monolith",
            Role::Auth => "auth-service",
            Role::Ai => "ai-service",
        }
    }
}

/// `ADMIN_ALLOWLIST` as one deployment understands it.
#[derive(Debug, Clone)]
pub(crate) struct Allowlist {
    names: Vec<String>,
    case_sensitive: bool,
}

impl Allowlist {
    fn new(raw: Option<&str>, div: DivergenceSet) -> Allowlist {
        let case_sensitive = div.has(Divergence::AllowlistCaseSensitive);
        let sep = if div.has(Divergence::AllowlistCommaSplit) {
            ','
        } else {
            ';'
        };
        let default = if div.has(Divergence::AllowlistDefaultGuests) {
            "admina;guest2;guest3"
        } else {
            "admina"
        };
        let split = |s: &str, sep: char| -> Vec<String> {
            s.split(sep)
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| {
                    if case_sensitive {
                        n.to_string()
                    } else {
                        n.to_lowercase()
                    }
                })
                .collect()
        };
        let mut names = raw.map(|r| split(r, sep)).unwrap_or_default();
        if names.is_empty() {
            names = split(default, ';');
        }
        Allowlist {
            names,
            case_sensitive,
        }
    }

    pub(crate) fn allows(&self, username: &str) -> bool {
        if self.case_sensitive {
            self.names.iter().any(|n| n == username)
        } else {
            let lower = username.to_lowercase();
            self.names.contains(&lower)
        }
    }
}

/// The state of one deployment.
#[derive(Debug)]
pub(crate) struct App {
    pub role: Role,
    /// Empty for the monolith.
    pub div: DivergenceSet,
    pub style: Style,
    pub secret: String,
    /// The tokens this deployment issues and accepts.
    pub tokens: token::Scheme,
    pub allowlist: Allowlist,
    pub bcrypt_cost: u32,
    pub store: Store,
    requests: AtomicU64,
}

fn divergences_of(opts: &Options, service: Service) -> Vec<Divergence> {
    opts.divergences
        .iter()
        .copied()
        .filter(|d| d.info().service == service)
        .collect()
}

impl App {
    fn new(role: Role, opts: &Options) -> App {
        let div = match role {
            Role::Monolith => DivergenceSet::default(),
            // Each bug lives in one extracted service only.
            Role::Auth => DivergenceSet::new(&divergences_of(opts, Service::Auth)),
            Role::Ai => DivergenceSet::new(&divergences_of(opts, Service::Ai)),
        };
        // Only the Auth service has its own identities; AI keeps the monolith's tokens.
        let own = role == Role::Auth && opts.divergences.contains(&Divergence::AuthOwnIdentity);
        let (tokens, secret, first_id) = if own {
            (
                token::Scheme::Own,
                own_secret(&opts.secret_key),
                OWN_FIRST_ID,
            )
        } else {
            (token::Scheme::Shared, opts.secret_key.clone(), 1)
        };
        App {
            role,
            div,
            style: match role {
                Role::Monolith => Style::MONOLITH,
                Role::Auth => Style::AUTH,
                Role::Ai => Style::AI,
            },
            secret,
            tokens,
            allowlist: Allowlist::new(opts.admin_allowlist.as_deref(), div),
            bcrypt_cost: opts.bcrypt_cost.clamp(4, 31),
            store: Store::new(opts.ai_rate_limit, opts.ai_rate_window, first_id),
            requests: AtomicU64::new(0),
        }
    }

    /// A JSON answer rendered in this deployment's style.
    pub fn json(&self, status: StatusCode, doc: Doc) -> Response {
        let mut resp = (status, self.style.render(doc)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

fn router(app: Arc<App>) -> Router {
    let mut routes = Router::new().route("/health", axum::routing::get(chat::health));
    for op in api::OPERATIONS
        .iter()
        .filter(|op| api::serves(app.role, op))
    {
        routes = routes.route(op.path, (op.handler)());
    }
    let doc = api::openapi(app.role.service_name(), app.role);
    routes = routes.route(
        "/openapi.json",
        axum::routing::get(move || std::future::ready(axum::Json(doc.clone()))),
    );
    if app.role == Role::Monolith {
        routes = routes.merge(chat::routes());
    }
    routes
        .fallback(|| async { ApiError::not_found("Not Found") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(app.clone(), stamp))
        .with_state(app)
}

/// Noise headers on every answer, and the every-10th (every-20th) request 500 divergences.
async fn stamp(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let n = app.requests.fetch_add(1, Ordering::Relaxed) + 1;
    if app.div.has(Divergence::AiLatency200ms) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let failing = (app.div.has(Divergence::Error500EveryTenth) && n % 10 == 0)
        || (app.div.has(Divergence::AiErrors5pct) && n % 20 == 0);
    let mut resp = if failing {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
    } else {
        next.run(req).await
    };
    let id = uuid::Uuid::new_v4().to_string();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert("x-request-id", v);
    }
    headers.insert(header::SERVER, HeaderValue::from_static("uvicorn"));
    resp
}

/// The running services.
#[derive(Debug)]
pub struct ReferenceSystem {
    pub monolith: SocketAddr,
    /// The second monolith instance, when asked for.
    pub secondary: Option<SocketAddr>,
    pub auth: SocketAddr,
    pub ai: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn bind(
    host: IpAddr,
    port: u16,
    service: &'static str,
) -> Result<tokio::net::TcpListener, ReferenceError> {
    tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AddrInUse => ReferenceError::PortInUse { service, port },
            _ => ReferenceError::Io { service, source },
        })
}

impl ReferenceSystem {
    /// Bind every port (all or nothing), then serve until [`ReferenceSystem::shutdown`].
    pub async fn start(opts: Options) -> Result<ReferenceSystem, ReferenceError> {
        let monolith = bind(opts.host, opts.monolith_port, "monolith").await?;
        let secondary = match opts.secondary_port {
            Some(port) => Some(bind(opts.host, port, "secondary").await?),
            None => None,
        };
        let auth = bind(opts.host, opts.auth_port, "auth").await?;
        let ai = bind(opts.host, opts.ai_port, "ai").await?;
        let local = |l: &tokio::net::TcpListener, service| {
            l.local_addr()
                .map_err(|source| ReferenceError::Io { service, source })
        };
        let (stop, _) = watch::channel(false);
        let mut system = ReferenceSystem {
            monolith: local(&monolith, "monolith")?,
            secondary: secondary
                .as_ref()
                .map(|l| local(l, "secondary"))
                .transpose()?,
            auth: local(&auth, "auth")?,
            ai: local(&ai, "ai")?,
            stop,
            tasks: Vec::new(),
        };
        let mut deployments = vec![
            (monolith, Role::Monolith),
            (auth, Role::Auth),
            (ai, Role::Ai),
        ];
        if let Some(l) = secondary {
            deployments.push((l, Role::Monolith));
        }
        for (listener, role) in deployments {
            let app = Arc::new(App::new(role, &opts));
            let mut stop = system.stop.subscribe();
            let serve = axum::serve(listener, router(app)).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            system.tasks.push(tokio::spawn(async move {
                if let Err(e) = serve.await {
                    tracing::error!(service = role.service_name(), error = %e, "server stopped");
                }
            }));
        }
        Ok(system)
    }

    /// Stop accepting, let in-flight requests finish (at most 3 s), then stop.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(3), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_parsing() {
        let none = DivergenceSet::default();
        assert!(Allowlist::new(None, none).allows("AdminA"));
        assert!(Allowlist::new(Some("  "), none).allows("admina"));
        let l = Allowlist::new(Some("alice; Bob"), none);
        assert!(l.allows("bob") && l.allows("ALICE") && !l.allows("admina"));
        let comma = DivergenceSet::new(&[Divergence::AllowlistCommaSplit]);
        assert!(!Allowlist::new(Some("alice;bob"), comma).allows("bob"));
        let cs = DivergenceSet::new(&[Divergence::AllowlistCaseSensitive]);
        assert!(!Allowlist::new(None, cs).allows("AdminA"));
        let guests = DivergenceSet::new(&[Divergence::AllowlistDefaultGuests]);
        assert!(Allowlist::new(None, guests).allows("guest2"));
    }
}
