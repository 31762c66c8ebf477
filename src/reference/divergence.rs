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
    AiLatency200ms,
    AiErrors5pct,
    /// A mode, not a bug (see [`modes`]): the Auth service's own secret, claims and ids.
    AuthOwnIdentity,
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
        // The catalogue and the modes list every variant exactly once (checked by a unit
        // test).
        CATALOGUE
            .iter()
            .chain(MODES)
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

/// The whole catalogue of migration bugs, in documentation order: the parity engine's
/// truth set.
pub fn catalogue() -> &'static [DivergenceInfo] {
    CATALOGUE
}

/// Identity modes: switched on like divergences (`--diverge auth-own-identity`), but not
/// bugs — the normal state of an extracted service with its own users, tokens and ids, which
/// cutover must see through (per-target identity translation). Not part of the truth set:
/// their `expect` is what a run *with* translation shows (nothing); `reach` is every route
/// a run without translation fails on. They combine with any catalogue entry.
pub fn modes() -> &'static [DivergenceInfo] {
    MODES
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
            .chain(MODES)
            .find(|i| i.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| ReferenceError::UnknownDivergence {
                name: name.to_string(),
                known: CATALOGUE.iter().chain(MODES).map(|i| i.name).collect(),
            })?;
        if !out.contains(&found.divergence) {
            out.push(found.divergence);
        }
    }
    Ok(out)
}

use super::catalogue::{CATALOGUE, MODES};

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
                assert_eq!(known.len(), CATALOGUE.len() + MODES.len());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn modes_follow_the_catalogue_and_parse_like_it() {
        for (i, info) in MODES.iter().enumerate() {
            assert_eq!(
                info.divergence as usize,
                CATALOGUE.len() + i,
                "{}",
                info.name
            );
            assert_eq!(info.divergence.name(), info.name);
            assert!(info.expect.is_empty(), "{}: a mode is not a bug", info.name);
            assert!(!info.reach.is_empty(), "{}", info.name);
        }
        assert!(matches!(
            parse_divergences(&["auth-own-identity".into(), "id-as-string".into()]).as_deref(),
            Ok([Divergence::AuthOwnIdentity, Divergence::IdAsString])
        ));
        assert!(
            !catalogue()
                .iter()
                .any(|i| i.divergence == Divergence::AuthOwnIdentity)
        );
    }

    #[test]
    fn set_membership() {
        let s = DivergenceSet::new(&[Divergence::SseChunksSplit]);
        assert!(s.has(Divergence::SseChunksSplit));
        assert!(!s.has(Divergence::IdAsString));
    }
}
