//! The catalogue's entries: for each divergence its name, service, description, trigger,
//! exact expected effects and reach, and the identity modes. Data only; the types and
//! parsing are in `divergence`.

use super::divergence::{Divergence, DivergenceInfo, Effect, EffectKind, Service};

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

/// An admin loses access: status and answer fields vanish, `detail` appears.
const ADMIN_LOSES_AI: &[Effect] = &[
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
];

/// A non-admin gains access: the reverse of [`ADMIN_LOSES_AI`].
const GUEST_GAINS_AI: &[Effect] = &[
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
];

pub static CATALOGUE: &[DivergenceInfo] = &[
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
        expect: ADMIN_LOSES_AI,
    },
    DivergenceInfo {
        divergence: Divergence::AllowlistDefaultGuests,
        name: "allowlist-default-guests",
        service: Service::Ai,
        description: "with ADMIN_ALLOWLIST unset the default is `admina;guest2;guest3` instead of `admina`",
        trigger: "ADMIN_ALLOWLIST unset; guest2 calls GET /ai/status and POST /ai/query",
        reach: &[STATUS, QUERY, STREAM],
        expect: GUEST_GAINS_AI,
    },
    DivergenceInfo {
        divergence: Divergence::AllowlistCaseSensitive,
        name: "allowlist-case-sensitive",
        service: Service::Ai,
        description: "the allowlist comparison is case-sensitive",
        trigger: "ADMIN_ALLOWLIST unset (admina); user AdminA calls GET /ai/status and POST /ai/query",
        reach: &[STATUS, QUERY, STREAM],
        expect: ADMIN_LOSES_AI,
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
    DivergenceInfo {
        divergence: Divergence::AiLatency200ms,
        name: "ai-latency-200ms",
        service: Service::Ai,
        description: "every AI answer is 200 ms slower (the model client moved behind a slow proxy)",
        trigger: "an admin calls GET /ai/status and POST /ai/query",
        reach: &[STREAM],
        expect: &[
            e(STATUS, "latency", K::Latency),
            e(QUERY, "latency", K::Latency),
        ],
    },
    DivergenceInfo {
        divergence: Divergence::AiErrors5pct,
        name: "ai-errors-5pct",
        service: Service::Ai,
        description: "5 % of AI requests answer 500: every 20th request the AI service receives",
        trigger: "a user who is not an admin calls GET /ai/status 20 times: 404 nineteen times, then 500",
        reach: &[QUERY, STREAM],
        expect: &[
            e(STATUS, "status", K::Status),
            e(STATUS, "/detail", K::ValueChanged),
        ],
    },
];

/// Every route of the Auth service.
const AUTH_ROUTES: &[&str] = &[REGISTER, LOGIN, ME, ME_PUT, USER, SEARCH];

/// Identity modes (see `divergence::modes`), numbered after the catalogue.
pub(super) static MODES: &[DivergenceInfo] = &[DivergenceInfo {
    divergence: Divergence::AuthOwnIdentity,
    name: "auth-own-identity",
    service: Service::Auth,
    description: "the Auth service has its own users, tokens and ids: it signs with its own secret, \
names the user by its own id in a `uid` claim (no `sub`), numbers users from 1001 (the AI service \
keeps accepting the monolith's tokens, as it must while clients still hold them)",
    trigger: "any authenticated request (the client presents the monolith's token), any user id",
    reach: AUTH_ROUTES,
    expect: &[],
}];
