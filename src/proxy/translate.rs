//! Shadow copies prepared for their target, and what mirrored answers teach
//! (`[translate]`, issue 12). Runs in the shadow task only, never on the client's path.
//!
//! [`prepare_copy`] waits for what the copy depends on ([`super::learn`]), then rewrites
//! its credential and ids for the target — or, when its credential has no learned
//! counterpart there, does not send it: the target's outcome is an `untranslated` failure,
//! counted per route and reason. [`learn`] pairs the primary's issued credential and
//! created id with each target's once every answer is in. [`Counters`] are the
//! `cutover_translation_*` families of `/metrics`; none carries a credential or an id.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};

use super::learn::{Key, Learning, bump};
use crate::exchange::{
    Failure, FailureKind, Headers, IdMapping, Outcome, OutcomeResult, RecordedResponse,
    TargetTranslation,
};
use crate::identity::credentials::Untranslated;
use crate::identity::ids::Learned;
use crate::identity::rewrite::{is_id_key, json_ids};
use crate::identity::translate::Answer;
use crate::upstream::Target;
use crate::upstream::forward::{ForwardBody, build_request};

/// Why a copy was not sent, in counter order.
const REASONS: [&str; 4] = [
    "unknown_credential",
    "no_target_credential",
    "expired",
    "wait_timeout",
];

/// Per-route and global counters (fixed label sets).
#[derive(Debug)]
pub struct Counters {
    /// Per route: copies sent with the target's credential.
    credential: Vec<AtomicU64>,
    /// Per route: copies sent with at least one id rewritten.
    ids: Vec<AtomicU64>,
    /// Per route × reason: copies not sent.
    untranslated: Vec<[AtomicU64; 4]>,
    pub learned_credentials: AtomicU64,
    pub learned_ids: AtomicU64,
    pub id_conflicts: AtomicU64,
    pub ids_full: AtomicU64,
    /// The primary issued a credential, a target's answer carried none.
    pub login_without_target_credential: AtomicU64,
    /// The primary issued a credential to a request naming no identity we could read.
    pub login_without_identity: AtomicU64,
    pub pending_full: AtomicU64,
    pub wait_timeouts: AtomicU64,
}

impl Counters {
    pub fn new(routes: usize) -> Counters {
        let n = routes.max(1);
        Counters {
            credential: (0..n).map(|_| AtomicU64::new(0)).collect(),
            ids: (0..n).map(|_| AtomicU64::new(0)).collect(),
            untranslated: (0..n).map(|_| Default::default()).collect(),
            learned_credentials: AtomicU64::new(0),
            learned_ids: AtomicU64::new(0),
            id_conflicts: AtomicU64::new(0),
            ids_full: AtomicU64::new(0),
            login_without_target_credential: AtomicU64::new(0),
            login_without_identity: AtomicU64::new(0),
            pending_full: AtomicU64::new(0),
            wait_timeouts: AtomicU64::new(0),
        }
    }

    pub fn global(&self, c: &AtomicU64) {
        bump(c);
    }

    /// Prometheus text: per route (`route_names`, same order) and global counters.
    pub fn render(&self, out: &mut String, route_names: &[String]) {
        let _ = writeln!(
            out,
            "# HELP cutover_translated_copies_total Shadow copies sent with a learned credential or ids.\n# TYPE cutover_translated_copies_total counter"
        );
        for (i, name) in route_names.iter().enumerate() {
            let route = escape(name);
            for (what, c) in [("credential", &self.credential), ("ids", &self.ids)] {
                let v = c.get(i).map_or(0, |c| c.load(Ordering::Relaxed));
                let _ = writeln!(
                    out,
                    "cutover_translated_copies_total{{route=\"{route}\",what=\"{what}\"}} {v}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP cutover_untranslated_copies_total Shadow copies not sent: no learned credential for the target.\n# TYPE cutover_untranslated_copies_total counter"
        );
        for (i, name) in route_names.iter().enumerate() {
            let route = escape(name);
            for (r, reason) in REASONS.iter().enumerate() {
                let v = self
                    .untranslated
                    .get(i)
                    .map_or(0, |c| c[r].load(Ordering::Relaxed));
                let _ = writeln!(
                    out,
                    "cutover_untranslated_copies_total{{route=\"{route}\",reason=\"{reason}\"}} {v}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP cutover_translation_events_total What learning from mirrored answers did.\n# TYPE cutover_translation_events_total counter"
        );
        for (event, c) in [
            ("learned_credential", &self.learned_credentials),
            ("learned_id", &self.learned_ids),
            ("id_conflict", &self.id_conflicts),
            ("ids_full", &self.ids_full),
            (
                "login_without_target_credential",
                &self.login_without_target_credential,
            ),
            ("login_without_identity", &self.login_without_identity),
            ("pending_full", &self.pending_full),
            ("wait_timeout", &self.wait_timeouts),
        ] {
            let _ = writeln!(
                out,
                "cutover_translation_events_total{{event=\"{event}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn reason_index(u: Untranslated) -> usize {
    match u {
        Untranslated::UnknownCredential => 0,
        Untranslated::NoTargetCredential => 1,
        Untranslated::Expired => 2,
    }
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// What a copy depends on: its credential's fingerprint, ids in its path, query and body.
fn keys_of(learning: &Learning, headers: &HeaderMap, uri: &str, body: &[u8]) -> Vec<Key> {
    let mut keys = Vec::new();
    if let Some((_, value)) = learning.translator().presented(headers) {
        keys.push(Key::credential(&value));
    }
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    keys.extend(
        path.split('/')
            .filter(|s| !s.is_empty())
            .take(32)
            .map(|s| Key::Id(s.to_string())),
    );
    keys.extend(
        query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .filter(|(k, _)| is_id_key(k))
            .take(32)
            .map(|(_, v)| Key::Id(v.to_string())),
    );
    if !body.is_empty() && learning.held().1 > 0 {
        keys.extend(json_ids(body, 64).into_iter().map(Key::Id));
    }
    keys
}

/// The copy of a request for `target`, prepared: the request to send, or the outcome to
/// record instead (untranslated, unbuildable), and how it was translated.
#[allow(clippy::too_many_arguments)]
pub(super) async fn prepare_copy(
    learning: &Learning,
    target: &Target,
    role: &'static str,
    method: &Method,
    pq: &PathAndQuery,
    headers: &HeaderMap,
    body: &Bytes,
    seq: u64,
    route: usize,
) -> (
    Result<Request<ForwardBody>, OutcomeResult>,
    Option<TargetTranslation>,
) {
    let keys = keys_of(learning, headers, pq.as_str(), body);
    let settled = learning.settle(seq, &keys).await;
    let mut headers = headers.clone();
    let label = learning.label_of(&headers);
    let prepared = learning.translator().prepare_as(
        label.as_deref(),
        &target.name,
        &mut headers,
        pq.as_str(),
        body,
        learning.now(),
        learning.strict(),
    );
    let record = |identity, credential, untranslated: Option<&str>, ids: Vec<(String, String)>| {
        TargetTranslation {
            target: target.name.clone(),
            identity,
            credential,
            untranslated: untranslated.map(str::to_string),
            ids: ids
                .into_iter()
                .map(|(primary, target)| IdMapping { primary, target })
                .collect(),
        }
    };
    let p = match prepared {
        Ok(p) => p,
        Err(why) => {
            // A copy that waited in vain is counted as such, whatever the table said.
            let (i, reason) = if settled {
                (reason_index(why), why.as_str())
            } else {
                (3, REASONS[3])
            };
            if let Some(c) = learning.counters.untranslated.get(route) {
                bump(&c[i]);
            }
            let failure = OutcomeResult::Failure(Failure {
                kind: FailureKind::Untranslated,
                elapsed_us: 0,
                message: format!(
                    "not sent: the credential has no learned counterpart on `{}` ({reason})",
                    target.name
                ),
            });
            return (
                Err(failure),
                Some(record(None, None, Some(reason), Vec::new())),
            );
        }
    };
    if p.credential.is_some()
        && let Some(c) = learning.counters.credential.get(route)
    {
        bump(c);
    }
    if !p.ids.is_empty()
        && let Some(c) = learning.counters.ids.get(route)
    {
        bump(c);
    }
    let pq = match p.uri.parse::<PathAndQuery>() {
        Ok(new) => new,
        Err(_) => pq.clone(),
    };
    let body = match p.body {
        Some(b) => {
            if let Ok(v) = HeaderValue::from_str(&b.len().to_string()) {
                headers.insert(CONTENT_LENGTH, v);
            }
            Bytes::from(b)
        }
        None => body.clone(),
    };
    let entry = (p.credential.is_some() || !p.ids.is_empty()).then(|| {
        let (identity, marker) = match p.credential {
            Some((who, marker)) => (who, Some(marker)),
            None => (None, None),
        };
        record(identity, marker, None, p.ids)
    });
    let req = build_request(
        target,
        method,
        &pq,
        headers,
        ForwardBody::full(body),
        Some(role),
    )
    .map_err(|e| super::handler::dropped(&e.to_string()));
    (req, entry)
}

/// A recorded answer's headers as a map (invalid ones skipped).
fn header_map(headers: &Headers) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in headers.iter().take(256) {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            map.append(n, v);
        }
    }
    map
}

fn success(o: &Outcome) -> Option<&RecordedResponse> {
    o.response().filter(|r| (200..300).contains(&r.status))
}

/// What the primary's answer to a mirrored write issued, to announce as pending.
pub(super) fn issued_keys(
    learning: &Learning,
    method: &Method,
    path: &str,
    primary: &OutcomeResult,
) -> Vec<Key> {
    let OutcomeResult::Response(r) = primary else {
        return Vec::new();
    };
    if !(200..300).contains(&r.status) || !is_write(method) {
        return Vec::new();
    }
    let rt = learning.config.for_path(path);
    let headers = header_map(&r.headers);
    let answer = Answer {
        headers: &headers,
        body: r.body.as_bytes(),
    };
    let t = learning.translator();
    let mut keys = Vec::new();
    if rt.login
        && let Some(c) = t.issued(&answer)
    {
        keys.push(Key::credential(&c.value));
    }
    if rt.create
        && *method == Method::POST
        && let Some(id) = t.created(rt.id_pointer, &answer)
    {
        keys.push(Key::Id(id));
    }
    keys
}

/// Which collection a create's ids belong to: configured, else the segment before the id
/// in the answer's `Location` (`/users/17` → `users`), else the request path's last segment.
fn collection_of(configured: Option<&str>, answer: &HeaderMap, path: &str) -> String {
    if let Some(c) = configured {
        return c.to_string();
    }
    let located = answer
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.split(['?', '#']).next())
        .and_then(|l| {
            let mut segs = l.trim_end_matches('/').rsplit('/');
            segs.next()?;
            segs.next().filter(|s| !s.is_empty())
        });
    located
        .or_else(|| path.rsplit('/').find(|s| !s.is_empty()))
        .unwrap_or("")
        .to_string()
}

/// The request a completed exchange sent (as the client sent it).
pub(super) struct Sent<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Learn from a completed mirrored write: the primary's issued credential and created id
/// paired with each shadow target's; id mappings met in the targets' answers recorded.
pub(super) fn learn(
    learning: &Learning,
    request: Sent<'_>,
    primary: &Outcome,
    shadows: &[&Outcome],
    translation: &mut Vec<TargetTranslation>,
) {
    let Sent {
        method,
        path,
        headers: request_headers,
        body: request_body,
    } = request;
    let mut t = learning.translator();
    let p_resp = success(primary).filter(|_| is_write(method));
    if let Some(pr) = p_resp {
        let rt = learning.config.for_path(path);
        let p_headers = header_map(&pr.headers);
        let p_answer = Answer {
            headers: &p_headers,
            body: pr.body.as_bytes(),
        };
        let collection = collection_of(rt.collection, &p_headers, path);
        let issued = rt.login.then(|| t.issued(&p_answer)).flatten();
        let identity = issued.as_ref().and_then(|_| {
            t.identity(request_body, rt.identity_pointer).or_else(|| {
                // A refresh: the request presents the identity's current credential.
                let (_, v) = t.presented(request_headers)?;
                t.identity_of(&v)
            })
        });
        if issued.is_some() && identity.is_none() {
            bump(&learning.counters.login_without_identity);
        }
        for o in shadows {
            let Some(r) = success(o) else {
                if let (Some(p), Some(who)) = (&issued, &identity) {
                    t.learn_without_target(who, p, &o.target, learning.now());
                    bump(&learning.counters.login_without_target_credential);
                }
                continue;
            };
            let headers = header_map(&r.headers);
            let answer = Answer {
                headers: &headers,
                body: r.body.as_bytes(),
            };
            if let (Some(p), Some(who)) = (&issued, &identity) {
                match t.issued(&answer) {
                    Some(theirs) => {
                        t.learn_credential(who, p, &o.target, theirs, learning.now());
                        bump(&learning.counters.learned_credentials);
                    }
                    None => {
                        t.learn_without_target(who, p, &o.target, learning.now());
                        bump(&learning.counters.login_without_target_credential);
                    }
                }
            }
            if rt.create && *method == Method::POST {
                match t.learn_create(&collection, rt.id_pointer, &p_answer, &o.target, &answer) {
                    Some((Learned::New, p, id)) | Some((Learned::Known, p, id)) => {
                        if p != id {
                            entry(translation, &o.target).ids.push(IdMapping {
                                primary: cut(&p),
                                target: cut(&id),
                            });
                        }
                        bump(&learning.counters.learned_ids);
                    }
                    Some((Learned::Conflict, ..)) => bump(&learning.counters.id_conflicts),
                    Some((Learned::Full, ..)) => bump(&learning.counters.ids_full),
                    None => {}
                }
            }
        }
    }
    // Ids in each target's answer that stand for a primary id.
    for o in shadows {
        let Some(r) = o.response() else { continue };
        let found = t.answer_ids(&o.target, r.body.as_bytes());
        if found.is_empty() {
            continue;
        }
        let e = entry(translation, &o.target);
        for (primary, target) in found {
            if e.ids.len() >= crate::identity::translate::MAX_MAPPINGS {
                break;
            }
            if !e.ids.iter().any(|m| m.target == target) {
                e.ids.push(IdMapping { primary, target });
            }
        }
    }
}

fn cut(s: &str) -> String {
    s.chars()
        .take(crate::identity::translate::MAX_RECORDED_CHARS)
        .collect()
}

fn entry<'a>(list: &'a mut Vec<TargetTranslation>, target: &str) -> &'a mut TargetTranslation {
    let i = match list.iter().position(|t| t.target == target) {
        Some(i) => i,
        None => {
            list.push(TargetTranslation {
                target: target.to_string(),
                ..TargetTranslation::default()
            });
            list.len() - 1
        }
    };
    &mut list[i]
}
