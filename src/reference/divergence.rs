//! The divergence catalogue: named migration bugs the extracted services can switch on.
//!
//! Owns the list of divergences, their documentation (`trigger`, `expect`) and the parsing of
//! `--diverge a,b`. It is plain data: the services consult a [`DivergenceSet`] where a bug
//! lives; nothing here does I/O. The catalogue doubles as the parity engine's truth set, so
//! every `expect` entry lists exactly the effects a structural diff of the monolith's answer
//! against the extracted service's answer shows for the `trigger` (noise stripped).
//!
//! `expect` paths use the parity engine's names: `status`, `header:<name>` (lower-case;
//! cookies as `header:set-cookie:<cookie>`), `body` (a non-JSON body as a whole),
//! `body:data` / `body:events` (an event stream's reassembled data / its split into events),
//! `latency` (the response time as a whole, for kind `latency`), or a JSON Pointer into the
//! body (`""` is the root value). Array elements keep their index (`/0/id`).

use std::fmt;

use super::ReferenceError;

/// Which extracted service a divergence lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Auth,
    Ai,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Auth => "auth",
            Service::Ai => "ai",
        }
    }
}

/// The kind of an observable effect (same names as the diff engine's kinds, plus `latency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EffectKind {
    Status,
    Header,
    ValueChanged,
    TypeChanged,
    Missing,
    Extra,
    ArrayLength,
    OrderOnly,
    Text,
    Latency,
}

impl EffectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EffectKind::Status => "status",
            EffectKind::Header => "header",
            EffectKind::ValueChanged => "value_changed",
            EffectKind::TypeChanged => "type_changed",
            EffectKind::Missing => "missing",
            EffectKind::Extra => "extra",
            EffectKind::ArrayLength => "array_length",
            EffectKind::OrderOnly => "order_only",
            EffectKind::Text => "text",
            EffectKind::Latency => "latency",
        }
    }
}

/// One observable effect of a divergence: on `route` (a template such as
/// `GET /auth/users/{id}`), at `path`, of `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Effect {
    pub route: &'static str,
    pub path: &'static str,
    pub kind: EffectKind,
}

/// A named migration bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Divergence {
    IdAsString,
    DisplayNameOmittedWhenNull,
    ExtraFieldIsActive,
    ErrorTextUserNotFound,
    DisplayNameLimit64,
    SearchOrderByUsername,
    TokenTypeCapitalised,
    MissingSetCookie,
    Latency200ms,
    Error500EveryTenth,
    DuplicateRegister409,
    MeIgnoresCookie,
    NonAdmin403,
    AllowlistCommaSplit,
    AllowlistDefaultGuests,
    AllowlistCaseSensitive,
    SseChunksSplit,
    StreamDropsLastChunk,
    RemainingOffByOne,
    TokensCountChars,
    RateLimitNotEnforced,
}

/// Documentation of one catalogue entry.
#[derive(Debug, Clone, Copy)]
pub struct DivergenceInfo {
    pub divergence: Divergence,
    /// kebab-case name used with `--diverge`.
    pub name: &'static str,
    pub service: Service,
    pub description: &'static str,
    /// The request (sequence) that makes the bug observable.
    pub trigger: &'static str,
    /// Exactly the effects a diff of monolith vs. extracted service shows for the trigger.
    pub expect: &'static [Effect],
    /// Routes beyond those in `expect` that the bug also reaches in mixed traffic (every
    /// request of the service, every AI route, state left behind by a failed write), where
    /// its effects take other shapes. A parity report may flag these routes too.
    pub reach: &'static [&'static str],
}

impl Divergence {
    pub fn info(self) -> &'static DivergenceInfo {
        // The catalogue lists every variant exactly once (checked by a unit test).
        CATALOGUE
            .iter()
            .find(|i| i.divergence == self)
            .unwrap_or(&CATALOGUE[0])
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of switched-on divergences (cheap to copy and to query on the hot path).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DivergenceSet(u32);

impl DivergenceSet {
    pub fn new(list: &[Divergence]) -> DivergenceSet {
        DivergenceSet(list.iter().fold(0, |acc, d| acc | d.bit()))
    }

    pub fn has(self, d: Divergence) -> bool {
        self.0 & d.bit() != 0
    }
}

/// The whole catalogue, in documentation order.
pub fn catalogue() -> &'static [DivergenceInfo] {
    CATALOGUE
}

/// Parse divergence names (as given to `--diverge`); unknown names are an error listing the
/// valid ones. Empty strings are skipped; duplicates are kept once.
pub fn parse_divergences(list: &[String]) -> Result<Vec<Divergence>, ReferenceError> {
    let mut out = Vec::new();
    for raw in list {
        let name = raw.trim();
        if name.is_empty() {
            continue;
        }
        let found = CATALOGUE
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| ReferenceError::UnknownDivergence {
                name: name.to_string(),
                known: CATALOGUE.iter().map(|i| i.name).collect(),
            })?;
        if !out.contains(&found.divergence) {
            out.push(found.divergence);
        }
    }
    Ok(out)
}

use EffectKind as K;

const fn e(route: &'static str, path: &'static str, kind: EffectKind) -> Effect {
    Effect { route, path, kind }
}

const REGISTER: &str = "POST /auth/register";
const LOGIN: &str = "POST /auth/login";
const ME: &str = "GET /auth/me";
const ME_PUT: &str = "PUT /auth/me";
const USER: &str = "GET /auth/users/{id}";
const SEARCH: &str = "GET /auth/users/search";
const QUERY: &str = "POST /ai/query";
const STREAM: &str = "POST /ai/query/stream";
const STATUS: &str = "GET /ai/status";

static CATALOGUE: &[DivergenceInfo] = &[
    DivergenceInfo {
        divergence: Divergence::IdAsString,
        name: "id-as-string",
        service: Service::Auth,
        description: "user `id` is serialised as a string (\"1\") instead of a number",
        trigger: "register, login, GET /auth/me, GET /auth/users/1, search q=ali, PUT /auth/me {profile_picture_url}",
        reach: &[],
        expect: &[
            e(REGISTER, "/id", K::TypeChanged),
            e(ME, "/id", K::TypeChanged),
            e(USER, "/id", K::TypeChanged),
            e(SEARCH, "/0/id", K::TypeChanged),
            e(ME_PUT, "/id", K::TypeChanged),
        ],
    },
    DivergenceInfo {
        divergence: Divergence::DisplayNameOmittedWhenNull,
        name: "display-name-omitted-when-null",
        service: Service::Auth,
        description: "`display_name` is left out of user objects when it is null (exclude_none)",
        trigger: "register without display_name, login, GET /auth/me, GET /auth/users/1, search q=ali, PUT /auth/me {profile_picture_url}",
        reach: &[],
        expect: &[
            e(REGISTER, "/display_name", K::Missing),
            e(ME, "/display_name", K::Missing),
            e(USER, "/display_name", K::Missing),
            e(SEARCH, "/0/display_name", K::Missing),
            e(ME_PUT, "/display_name", K::Missing),
        ],
    },
    DivergenceInfo {
        divergence: Divergence::ExtraFieldIsActive,
        name: "extra-field-is-active",
        service: Service::Auth,
        description: "user objects carry an extra `is_active` field from the new service's model",
        trigger: "register, login, GET /auth/me, GET /auth/users/1, search q=ali, PUT /auth/me {profile_picture_url}",
        reach: &[],
        expect: &[
            e(REGISTER, "/is_active", K::Extra),
            e(ME, "/is_active", K::Extra),
            e(USER, "/is_active", K::Extra),
            e(SEARCH, "/0/is_active", K::Extra),
            e(ME_PUT, "/is_active", K::Extra),
        ],
    },
    DivergenceInfo {
        divergence: Divergence::ErrorTextUserNotFound,
        name: "error-text-user-not-found",
        service: Service::Auth,
        description: "unknown user answers `User does not exist` instead of `User not found`",
        trigger: "GET /auth/users/999",
        reach: &[],
        expect: &[e(USER, "/detail", K::ValueChanged)],
    },
    DivergenceInfo {
        divergence: Divergence::DisplayNameLimit64,
        name: "display-name-limit-64",
        service: Service::Auth,
        description: "display names up to 64 characters are accepted (the monolith's limit is 50)",
        trigger: "register, login, PUT /auth/me with a 60-character display_name",
        reach: &[],
        expect: &[
            e(ME_PUT, "status", K::Status),
            e(ME_PUT, "/detail", K::Missing),
            e(ME_PUT, "/id", K::Extra),
            e(ME_PUT, "/username", K::Extra),
            e(ME_PUT, "/display_name", K::Extra),
            e(ME_PUT, "/status", K::Extra),
            e(ME_PUT, "/profile_picture_url", K::Extra),
            e(ME_PUT, "/created_at", K::Extra),
        ],
    },
    DivergenceInfo {
        divergence: Divergence::SearchOrderByUsername,
        name: "search-order-by-username",
        service: Service::Auth,
        description: "user search is ordered by username instead of by id",
        trigger: "register carol then alice, login, GET /auth/users/search?q=a",
        reach: &[],
        expect: &[e(SEARCH, "", K::OrderOnly)],
    },
    DivergenceInfo {
        divergence: Divergence::TokenTypeCapitalised,
        name: "token-type-capitalised",
        service: Service::Auth,
        description: "login answers `token_type: \"Bearer\"` instead of `\"bearer\"`",
        trigger: "register, POST /auth/login",
        reach: &[],
        expect: &[e(LOGIN, "/token_type", K::ValueChanged)],
    },
    DivergenceInfo {
        divergence: Divergence::MissingSetCookie,
        name: "missing-set-cookie",
        service: Service::Auth,
        description: "login does not set the `access_token` cookie",
        trigger: "register, POST /auth/login",
        reach: &[],
        expect: &[e(LOGIN, "header:set-cookie:access_token", K::Header)],
    },
    DivergenceInfo {
        divergence: Divergence::Latency200ms,
        name: "latency-200ms",
        service: Service::Auth,
        description: "login answers 200 ms slower (password check moved onto a slow path)",
        trigger: "register, POST /auth/login",
        reach: &[],
        expect: &[e(LOGIN, "latency", K::Latency)],
    },
    DivergenceInfo {
        divergence: Divergence::Error500EveryTenth,
        name: "error-500-10pct",
        service: Service::Auth,
        description: "10 % of requests answer 500: every 10th request the service receives",
        trigger: "register (request 1), then GET /auth/users/1 nine times: the 10th request answers 500",
        reach: &[REGISTER, LOGIN, ME, ME_PUT, USER, SEARCH],
        expect: &[
            e(USER, "status", K::Status),
            e(USER, "/detail", K::Extra),
            e(USER, "/id", K::Missing),
            e(USER, "/username", K::Missing),
            e(USER, "/display_name", K::Missing),
            e(USER, "/status", K::Missing),
            e(USER, "/profile_picture_url", K::Missing),
            e(USER, "/created_at", K::Missing),
        ],
    },
    DivergenceInfo {
        divergence: Divergence::DuplicateRegister409,
        name: "duplicate-register-409",
        service: Service::Auth,
        description: "registering a taken username answers 409 instead of 400",
        trigger: "register alice twice",
        reach: &[],
        expect: &[e(REGISTER, "status", K::Status)],
    },
    DivergenceInfo {
        divergence: Divergence::MeIgnoresCookie,
        name: "me-ignores-cookie",
        service: Service::Auth,
        description: "/auth/me only reads the Authorization header, not the `access_token` cookie",
        trigger: "register, login, GET /auth/me with only the access_token cookie",
        reach: &[],
        expect: &[
            e(ME, "status", K::Status),
            e(ME, "header:www-authenticate", K::Header),
            e(ME, "/detail", K::Extra),
            e(ME, "/id", K::Missing),
            e(ME, "/username", K::Missing),
            e(ME, "/display_name", K::Missing),
            e(ME, "/status", K::Missing),
            e(ME, "/profile_picture_url", K::Missing),
            e(ME, "/created_at", K::Missing),
        ],
    },
    DivergenceInfo {
        divergence: Divergence::NonAdmin403,
        name: "non-admin-403",
        service: Service::Ai,
        description: "non-admins get 403 `Not enough permissions` instead of 404 `Not Found`",
        trigger: "a user not in ADMIN_ALLOWLIST calls GET /ai/status, POST /ai/query, POST /ai/query/stream",
        reach: &[STATUS, QUERY, STREAM],
        expect: &[
            e(STATUS, "status", K::Status),
            e(STATUS, "/detail", K::ValueChanged),
            e(QUERY, "status", K::Status),
            e(QUERY, "/detail", K::ValueChanged),
            e(STREAM, "status", K::Status),
            e(STREAM, "/detail", K::ValueChanged),
        ],
    },
    DivergenceInfo {
        divergence: Divergence::AllowlistCommaSplit,
        name: "allowlist-comma-split",
        service: Service::Ai,
        description: "ADMIN_ALLOWLIST is split on `,` instead of `;`",
        trigger: "ADMIN_ALLOWLIST=admina;carol; carol calls GET /ai/status and POST /ai/query",
        reach: &[STATUS, QUERY, STREAM],
        expect: &[
            e(STATUS, "status", K::Status),
            e(STATUS, "/available", K::Missing),
            e(STATUS, "/model", K::Missing),
            e(STATUS, "/remaining_requests", K::Missing),
            e(STATUS, "/reset_at", K::Missing),
            e(STATUS, "/detail", K::Extra),
            e(QUERY, "status", K::Status),
            e(QUERY, "/answer", K::Missing),
            e(QUERY, "/model", K::Missing),
            e(QUERY, "/tokens", K::Missing),
            e(QUERY, "/latency_ms", K::Missing),
            e(QUERY, "/remaining", K::Missing),
            e(QUERY, "/detail", K::Extra),
        ],
    },
    DivergenceInfo {
        divergence: Divergence::AllowlistDefaultGuests,
        name: "allowlist-default-guests",
        service: Service::Ai,
        description: "with ADMIN_ALLOWLIST unset the default is `admina;guest2;guest3` instead of `admina`",
        trigger: "ADMIN_ALLOWLIST unset; guest2 calls GET /ai/status and POST /ai/query",
        reach: &[STATUS, QUERY, STREAM],
        expect: &[
            e(STATUS, "status", K::Status),
            e(STATUS, "/detail", K::Missing),
            e(STATUS, "/available", K::Extra),
            e(STATUS, "/model", K::Extra),
            e(STATUS, "/remaining_requests", K::Extra),
            e(STATUS, "/reset_at", K::Extra),
            e(QUERY, "status", K::Status),
            e(QUERY, "/detail", K::Missing),
            e(QUERY, "/answer", K::Extra),
            e(QUERY, "/model", K::Extra),
            e(QUERY, "/tokens", K::Extra),
            e(QUERY, "/latency_ms", K::Extra),
            e(QUERY, "/remaining", K::Extra),
        ],
    },
    DivergenceInfo {
        divergence: Divergence::AllowlistCaseSensitive,
        name: "allowlist-case-sensitive",
        service: Service::Ai,
        description: "the allowlist comparison is case-sensitive",
        trigger: "ADMIN_ALLOWLIST unset (admina); user AdminA calls GET /ai/status and POST /ai/query",
        reach: &[STATUS, QUERY, STREAM],
        expect: &[
            e(STATUS, "status", K::Status),
            e(STATUS, "/available", K::Missing),
            e(STATUS, "/model", K::Missing),
            e(STATUS, "/remaining_requests", K::Missing),
            e(STATUS, "/reset_at", K::Missing),
            e(STATUS, "/detail", K::Extra),
            e(QUERY, "status", K::Status),
            e(QUERY, "/answer", K::Missing),
            e(QUERY, "/model", K::Missing),
            e(QUERY, "/tokens", K::Missing),
            e(QUERY, "/latency_ms", K::Missing),
            e(QUERY, "/remaining", K::Missing),
            e(QUERY, "/detail", K::Extra),
        ],
    },
    DivergenceInfo {
        divergence: Divergence::SseChunksSplit,
        name: "sse-chunks-split",
        service: Service::Ai,
        description: "the stream sends two words per `data:` event instead of one (same text)",
        trigger: "an admin calls POST /ai/query/stream with a prompt of several words",
        reach: &[],
        expect: &[e(STREAM, "body:events", K::ValueChanged)],
    },
    DivergenceInfo {
        divergence: Divergence::StreamDropsLastChunk,
        name: "stream-drops-last-chunk",
        service: Service::Ai,
        description: "the event stream loses its last data chunk before `[DONE]` (an unflushed buffer)",
        trigger: "an admin calls POST /ai/query/stream",
        reach: &[],
        expect: &[e(STREAM, "body:data", K::Text)],
    },
    DivergenceInfo {
        divergence: Divergence::RemainingOffByOne,
        name: "remaining-off-by-one",
        service: Service::Ai,
        description: "`remaining` in the query answer is computed before the request is counted",
        trigger: "an admin calls POST /ai/query",
        reach: &[],
        expect: &[e(QUERY, "/remaining", K::ValueChanged)],
    },
    DivergenceInfo {
        divergence: Divergence::TokensCountChars,
        name: "tokens-count-chars",
        service: Service::Ai,
        description: "token usage counts characters instead of words",
        trigger: "an admin calls POST /ai/query",
        reach: &[],
        expect: &[
            e(QUERY, "/tokens/input", K::ValueChanged),
            e(QUERY, "/tokens/output", K::ValueChanged),
        ],
    },
    DivergenceInfo {
        divergence: Divergence::RateLimitNotEnforced,
        name: "rate-limit-not-enforced",
        service: Service::Ai,
        description: "the per-user AI rate limit is counted but never enforced (no 429)",
        trigger: "AI rate limit 2; an admin calls POST /ai/query three times",
        reach: &[STREAM],
        expect: &[
            e(QUERY, "status", K::Status),
            e(QUERY, "/detail", K::Missing),
            e(QUERY, "/answer", K::Extra),
            e(QUERY, "/model", K::Extra),
            e(QUERY, "/tokens", K::Extra),
            e(QUERY, "/latency_ms", K::Extra),
            e(QUERY, "/remaining", K::Extra),
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_listed_once_with_a_kebab_name() {
        assert!(CATALOGUE.len() >= 14);
        for (i, info) in CATALOGUE.iter().enumerate() {
            assert_eq!(info.divergence as usize, i, "{} out of order", info.name);
            assert_eq!(info.divergence.name(), info.name);
            assert!(
                info.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{} is not kebab-case",
                info.name
            );
            assert!(!info.expect.is_empty(), "{} expects nothing", info.name);
        }
    }

    #[test]
    fn parse_rejects_unknown_and_lists_known() {
        let ok = parse_divergences(&["id-as-string".into(), " non-admin-403 ".into()]);
        assert!(matches!(
            ok.as_deref(),
            Ok([Divergence::IdAsString, Divergence::NonAdmin403])
        ));
        match parse_divergences(&["nope".into()]) {
            Err(ReferenceError::UnknownDivergence { name, known }) => {
                assert_eq!(name, "nope");
                assert_eq!(known.len(), CATALOGUE.len());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn set_membership() {
        let s = DivergenceSet::new(&[Divergence::SseChunksSplit]);
        assert!(s.has(Divergence::SseChunksSplit));
        assert!(!s.has(Divergence::IdAsString));
    }
}
