//! Request URIs: secret query/fragment parameters, path-segment parameters
//! (`;jsessionid=…`) and path segments that look like secrets.
//!
//! [`looks_secret_segment`] is the one definition of "this path segment is a credential,
//! not an identifier"; route grouping uses it too, so a reset token never becomes a route
//! name, a metric label or a report row.

use std::borrow::Cow;

use super::Redaction;
use super::marker::{is_marker, text_marker};
use super::pairs::redact_pairs;

/// Minimum length of a secret-looking path segment.
pub const SECRET_SEGMENT_MIN_LEN: usize = 16;

/// Does a path segment look like a secret (a token, key or signature) rather than a name
/// or an identifier the report needs?
///
/// The segment is percent-decoded first. It must be at least 16 characters long and made
/// only of `A–Z a–z 0–9 - _ . ~ + / =` (the base64, base64url and hex alphabets); numbers and
/// UUIDs are never secret. It is secret when any of these holds (rules 3 and 4 only when
/// at most one character in six is a separator `- _ . ~` — slugs and version strings have
/// more — and the segment does not end in a file extension such as `.pdf`):
/// 1. JWT-shaped: three dot-separated parts, the first starting with `eyJ`;
/// 2. hexadecimal of 32 characters or more, with letters and digits;
/// 3. not hexadecimal, letters and digits both present and interleaved — at least 3
///    places where a letter and a digit touch, or a change of character class (lower,
///    upper, digit) between at least 40 % of neighbouring letters/digits — and a character
///    entropy of at least 3 bits per character;
/// 4. letters only, both cases, at least 20 long, with the upper-case share between 30 %
///    and 70 % and at least one case change every three characters (random base64
///    without a digit; camelCase names have far fewer capitals).
pub fn looks_secret_segment(segment: &str) -> bool {
    let decoded: Cow<str> = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
    let s = decoded.as_ref();
    let b = s.as_bytes();
    if b.len() < SECRET_SEGMENT_MIN_LEN
        || !b
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"-_.~+/=".contains(&c))
        || b.iter().all(u8::is_ascii_digit)
        || is_uuid(s)
    {
        return false;
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() == 3 && s.starts_with("eyJ") && parts.iter().all(|p| !p.is_empty()) {
        return true;
    }
    let letters = b.iter().filter(|c| c.is_ascii_alphabetic()).count();
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let hex_lower = b
        .iter()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
    let hex_upper = b
        .iter()
        .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c));
    if (hex_lower || hex_upper) && b.len() >= 32 && letters > 0 && digits > 0 {
        return true;
    }
    let touches = b
        .windows(2)
        .filter(|w| {
            (w[0].is_ascii_alphabetic() && w[1].is_ascii_digit())
                || (w[0].is_ascii_digit() && w[1].is_ascii_alphabetic())
        })
        .count();
    // Shorter hex strings are identifiers (object ids, short hashes): rule 2 decides hex.
    // Many separators make a version or a slug (`v1.2.3-beta4-build5678`), not a token.
    let separators = b.iter().filter(|c| b"-_.~".contains(c)).count();
    if separators * 6 > b.len() || has_file_extension(s) {
        return false;
    }
    // Character-class changes (lower / upper / digit) between neighbours: about 62 % of
    // neighbours in random base62, far fewer in words, slugs and camelCase names.
    let class = |c: u8| match c {
        b'a'..=b'z' => 1,
        b'A'..=b'Z' => 2,
        b'0'..=b'9' => 3,
        _ => 0,
    };
    let pairs: Vec<(u8, u8)> = b
        .windows(2)
        .map(|w| (class(w[0]), class(w[1])))
        .filter(|(x, y)| *x != 0 && *y != 0)
        .collect();
    let changes = pairs.iter().filter(|(x, y)| x != y).count();
    let mixed = letters > 0 && digits > 0 && (touches >= 3 || changes * 5 >= pairs.len() * 2);
    if mixed && !(hex_lower || hex_upper) && entropy(b) >= 3.0 {
        return true;
    }
    if digits == 0 && b.len() >= 20 {
        let upper = b.iter().filter(|c| c.is_ascii_uppercase()).count();
        let share = upper as f64 / letters.max(1) as f64;
        let changes = b
            .windows(2)
            .filter(|w| {
                w[0].is_ascii_alphabetic()
                    && w[1].is_ascii_alphabetic()
                    && w[0].is_ascii_uppercase() != w[1].is_ascii_uppercase()
            })
            .count();
        return (0.3..=0.7).contains(&share) && changes * 3 >= b.len();
    }
    false
}

/// `name.ext` with a 1–4 letter extension (a file name, not a token).
fn has_file_extension(s: &str) -> bool {
    s.rsplit_once('.').is_some_and(|(name, ext)| {
        !name.is_empty()
            && (1..=4).contains(&ext.len())
            && ext.bytes().all(|c| c.is_ascii_alphabetic())
    })
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Shannon entropy in bits per byte.
fn entropy(b: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &c in b {
        counts[c as usize] += 1;
    }
    let n = b.len() as f64;
    counts
        .iter()
        .filter(|&&k| k > 0)
        .map(|&k| {
            let p = f64::from(k) / n;
            -p * p.log2()
        })
        .sum()
}

/// A URI (origin form `/p?q#f`, or absolute `http://host/p?q`) with secrets replaced:
/// userinfo passwords, secret query and fragment parameters, secret path-segment
/// parameters, and (when enabled) secret-looking path segments. `None` when unchanged.
pub fn redact_uri(uri: &str, rules: &Redaction) -> Option<String> {
    let (head, rest) = split_authority(uri);
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (rest, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before_fragment, None),
    };
    let mut changed = false;
    let head = match redact_userinfo(head) {
        Some(h) => {
            changed = true;
            Cow::Owned(h)
        }
        None => Cow::Borrowed(head),
    };
    let path = match redact_path(path, rules) {
        Some(p) => {
            changed = true;
            Cow::Owned(p)
        }
        None => Cow::Borrowed(path),
    };
    let mut redact_part = |part: Option<&str>| {
        part.map(|q| match redact_pairs(q.as_bytes(), rules) {
            Some(r) => {
                changed = true;
                String::from_utf8_lossy(&r).into_owned()
            }
            None => q.to_string(),
        })
    };
    let query = redact_part(query);
    let fragment = redact_part(fragment);
    if !changed {
        return None;
    }
    let mut out = format!("{head}{path}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(&q);
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(&f);
    }
    Some(out)
}

/// The path with secret segments and secret `;name=value` segment parameters replaced.
pub fn redact_path(path: &str, rules: &Redaction) -> Option<String> {
    let mut changed = false;
    let segments: Vec<Cow<str>> = path
        .split('/')
        .map(|seg| {
            let (name, params) = match seg.split_once(';') {
                Some((n, p)) => (n, Some(p)),
                None => (seg, None),
            };
            let name: Cow<str> = if rules.path_segments() && looks_secret_segment(name) {
                changed = true;
                Cow::Owned(text_marker(name))
            } else {
                Cow::Borrowed(name)
            };
            match params {
                None if matches!(name, Cow::Borrowed(_)) => Cow::Borrowed(seg),
                None => Cow::Owned(name.into_owned()),
                Some(p) => {
                    let p = match redact_pairs(p.as_bytes(), rules) {
                        Some(r) => {
                            changed = true;
                            String::from_utf8_lossy(&r).into_owned()
                        }
                        None => p.to_string(),
                    };
                    Cow::Owned(format!("{name};{p}"))
                }
            }
        })
        .collect();
    changed.then(|| segments.join("/"))
}

/// `http://user:pw@host` → (`http://user:pw@host`, rest); origin-form → ("", uri).
fn split_authority(uri: &str) -> (&str, &str) {
    let Some(scheme_end) = uri.find("://") else {
        return ("", uri);
    };
    if !uri[..scheme_end]
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
    {
        return ("", uri);
    }
    let after = scheme_end + 3;
    let end = uri[after..]
        .find(['/', '?', '#'])
        .map_or(uri.len(), |p| after + p);
    (&uri[..end], &uri[end..])
}

/// `scheme://user:secret@host` → `scheme://user:[REDACTED string 3f…]@host`.
fn redact_userinfo(head: &str) -> Option<String> {
    let at = head.rfind('@')?;
    let start = head.find("://").map_or(0, |i| i + 3);
    let userinfo = &head[start..at];
    let (user, pw) = userinfo.split_once(':')?;
    (!is_marker(pw)).then(|| {
        format!(
            "{}{user}:{}{}",
            &head[..start],
            text_marker(pw),
            &head[at..]
        )
    })
}
