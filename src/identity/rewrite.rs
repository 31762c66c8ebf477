//! Rewriting a shadow copy for a target (issue 12):
//! its credential replaced by the target's own ([`super::credentials`]), and ids the
//! primary gave replaced by the target's ([`super::ids`]) in the path, the query and the
//! body. Pure: headers, strings and bytes in, rewritten copies and counts out.
//!
//! Ids in a JSON body are rewritten only under keys named `id` or ending in `id`/`_id`/`Id`
//! (a quantity that happens to equal an id stays as it is); path segments and query values
//! only when they equal a learned id exactly.

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::credentials::{Credential, Place};
use crate::redact::names::{Pattern, normalise};

/// Headers that carry a credential as their whole value (as in [`super::ClientIdentity`]).
const API_KEY_HEADERS: &[&str] = &["x-api-key", "x-auth-token"];

/// The credential a request presents, as the client sent it: an `Authorization` value
/// without its scheme, else an API-key header, else the first credential cookie.
pub fn presented(headers: &HeaderMap, cookies: &[Pattern]) -> Option<(Place, String)> {
    if let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let (scheme, value) = v.split_once(' ').unwrap_or(("", v));
        if !value.trim().is_empty() {
            return Some((
                Place::Authorization {
                    scheme: scheme.to_string(),
                },
                value.trim().to_string(),
            ));
        }
    }
    for name in API_KEY_HEADERS {
        if let Some(v) = headers.get(*name).and_then(|v| v.to_str().ok())
            && !v.trim().is_empty()
        {
            return Some((
                Place::Header {
                    name: (*name).to_string(),
                },
                v.trim().to_string(),
            ));
        }
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .take(64)
        .filter_map(|p| p.split_once('='))
        .map(|(n, v)| (n.trim(), v.trim()))
        .find(|(n, v)| {
            let n = normalise(n);
            !v.is_empty() && cookies.iter().any(|p| p.matches(&n))
        })
        .map(|(n, v)| {
            (
                Place::Cookie {
                    name: n.to_string(),
                },
                v.to_string(),
            )
        })
}

/// Replace the presented credential (at `was`) by `cred`. False (headers unchanged) when
/// the value cannot be a header value.
pub fn set_credential(headers: &mut HeaderMap, was: &Place, cred: &Credential) -> bool {
    let new = match &cred.place {
        Place::Authorization { scheme } => format!("{scheme} {}", cred.value),
        Place::Cookie { name } => format!("{name}={}", cred.value),
        Place::Header { .. } => cred.value.clone(),
    };
    let Ok(new) = HeaderValue::from_str(&new) else {
        return false;
    };
    match was {
        Place::Authorization { .. } => {
            headers.remove(AUTHORIZATION);
        }
        Place::Cookie { name } => {
            let kept: Vec<String> = headers
                .get_all(COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .map(str::trim)
                .filter(|p| {
                    p.split_once('=')
                        .is_none_or(|(n, _)| n.trim() != name.as_str())
                })
                .map(str::to_string)
                .collect();
            headers.remove(COOKIE);
            if !kept.is_empty()
                && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
            {
                headers.insert(COOKIE, v);
            }
        }
        Place::Header { name } => {
            headers.remove(name.as_str());
        }
    }
    match &cred.place {
        Place::Authorization { .. } => {
            headers.insert(AUTHORIZATION, new);
        }
        Place::Cookie { .. } => {
            let joined = match headers.get(COOKIE).and_then(|v| v.to_str().ok()) {
                Some(old) => {
                    HeaderValue::from_str(&format!("{old}; {}", new.to_str().unwrap_or(""))).ok()
                }
                None => Some(new),
            };
            if let Some(v) = joined {
                headers.insert(COOKIE, v);
            }
        }
        Place::Header { name } => {
            if let Ok(n) = http::HeaderName::from_bytes(name.as_bytes()) {
                headers.insert(n, new);
            }
        }
    }
    true
}

/// Every cookie whose value is `old` (the primary's credential, sent in a second place)
/// given `new` instead; other cookies untouched.
pub fn replace_cookie_values(headers: &mut HeaderMap, old: &str, new: &str) {
    let mut changed = false;
    let joined: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) if v.trim().trim_matches('"') == old => {
                changed = true;
                format!("{n}={new}")
            }
            _ => p.to_string(),
        })
        .collect();
    if !changed {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(&joined.join("; ")) {
        headers.remove(COOKIE);
        headers.insert(COOKIE, v);
    }
}

/// An origin-form URI with ids replaced: `map(context, value)` is asked for every path
/// segment (context: the previous segment, e.g. `users` for `/users/17`) and for every
/// query value under an id-named key (context: the key). Returns the new URI and how many
/// values were replaced.
pub fn rewrite_uri(uri: &str, map: impl Fn(&str, &str) -> Option<String>) -> (String, usize) {
    let (path, query) = match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    };
    let mut n = 0;
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = String::with_capacity(uri.len());
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        let prev = if i > 0 { segments[i - 1] } else { "" };
        match (!seg.is_empty()).then(|| map(prev, seg)).flatten() {
            Some(new) => {
                n += 1;
                out.push_str(&new);
            }
            None => out.push_str(seg),
        }
    }
    if let Some(q) = query {
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if is_id_key(k) => match map(k, v) {
                    Some(new) => {
                        n += 1;
                        format!("{k}={new}")
                    }
                    None => pair.to_string(),
                },
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    (out, n)
}

/// Every scalar under an id-named key of a JSON body (at most `max`), for reading ids
/// out of an answer.
pub fn json_ids(body: &[u8], max: usize) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = vec![&v];
    while let Some(node) = stack.pop() {
        if out.len() >= max {
            break;
        }
        match node {
            Value::Object(m) => {
                for (k, child) in m {
                    if is_id_key(k) {
                        match child {
                            Value::Array(items) => {
                                out.extend(items.iter().filter_map(scalar_text).take(max))
                            }
                            other => out.extend(scalar_text(other)),
                        }
                    } else {
                        stack.push(child);
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    out.truncate(max);
    out
}

/// A JSON body with ids under id-named keys replaced; `None` when the body is not JSON or
/// nothing was replaced. Numbers stay numbers when the replacement is a number.
pub fn rewrite_json(body: &[u8], map: impl Fn(&str) -> Option<String>) -> Option<(Vec<u8>, usize)> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let mut n = 0;
    // Iterative: serde_json already bounds the depth it parses (128).
    let mut stack: Vec<&mut Value> = vec![&mut v];
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(map_) => {
                for (k, child) in map_.iter_mut() {
                    if is_id_key(k) {
                        if let Some(new) = scalar_text(child).and_then(|s| map(&s)) {
                            *child = retyped(child, new);
                            n += 1;
                            continue;
                        }
                        if let Value::Array(items) = child {
                            for item in items.iter_mut() {
                                if let Some(new) = scalar_text(item).and_then(|s| map(&s)) {
                                    *item = retyped(item, new);
                                    n += 1;
                                }
                            }
                            continue;
                        }
                    }
                    stack.push(child);
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
    if n == 0 {
        return None;
    }
    serde_json::to_vec(&v).ok().map(|b| (b, n))
}

/// `id`, `user_id`, `userId`, `ownerID`, `ids`.
pub fn is_id_key(k: &str) -> bool {
    let n = normalise(k);
    n == "id" || n == "ids" || k.ends_with("_id") || k.ends_with("Id") || k.ends_with("ID")
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn retyped(old: &Value, new: String) -> Value {
    match (old, new.parse::<i64>()) {
        (Value::Number(_), Ok(i)) => Value::from(i),
        _ => Value::String(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns() -> Vec<Pattern> {
        crate::config::IdentityConfig::default().cookie_patterns()
    }

    fn map(s: &str) -> Option<String> {
        match s {
            "17" => Some("3".into()),
            "a-1" => Some("b-9".into()),
            _ => None,
        }
    }

    #[test]
    fn credentials_are_swapped_in_place() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Token primary-jwt"));
        let (place, value) = presented(&h, &patterns()).expect("presented");
        assert_eq!(value, "primary-jwt");
        let cred = Credential {
            place: Place::Authorization {
                scheme: "Bearer".into(),
            },
            value: "target-jwt".into(),
        };
        assert!(set_credential(&mut h, &place, &cred));
        assert_eq!(
            h.get(AUTHORIZATION).map(|v| v.as_bytes()),
            Some(&b"Bearer target-jwt"[..])
        );

        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("theme=dark; sessionid=p1"));
        let (place, value) = presented(&h, &patterns()).expect("cookie");
        assert_eq!(value, "p1");
        let cred = Credential {
            place: Place::Cookie { name: "sid".into() },
            value: "t1".into(),
        };
        assert!(set_credential(&mut h, &place, &cred));
        assert_eq!(
            h.get(COOKIE).map(|v| v.as_bytes()),
            Some(&b"theme=dark; sid=t1"[..])
        );
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("k1"));
        let (place, value) = presented(&h, &patterns()).expect("api key");
        assert_eq!(value, "k1");
        assert!(set_credential(
            &mut h,
            &place,
            &Credential {
                place: place.clone(),
                value: "k2".into()
            }
        ));
        assert_eq!(h.get("x-api-key").map(|v| v.as_bytes()), Some(&b"k2"[..]));
        let bad = Credential {
            place: Place::Authorization {
                scheme: "Bearer".into(),
            },
            value: "x\ny".into(),
        };
        assert!(!set_credential(&mut h, &place, &bad));
    }

    #[test]
    fn ids_in_paths_queries_and_bodies() {
        let scoped = |prev: &str, v: &str| match prev {
            "users" | "owner_id" => map(v),
            _ => None,
        };
        assert_eq!(
            rewrite_uri("/users/17/posts/17?owner_id=17&page=17", scoped),
            ("/users/3/posts/17?owner_id=3&page=17".to_string(), 2)
        );
        assert_eq!(
            rewrite_uri("/users/18", scoped),
            ("/users/18".to_string(), 0)
        );
        assert_eq!(
            json_ids(br#"{"id":1,"items":[{"user_id":"u"}],"n":2,"ids":[3]}"#, 10).len(),
            3
        );
        let (body, n) = rewrite_json(
            br#"{"user_id":17,"quantity":17,"items":[{"id":"a-1"}],"ids":[17,5]}"#,
            map,
        )
        .expect("rewritten");
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(n, 3);
        assert_eq!(v["user_id"], 3);
        assert_eq!(v["quantity"], 17, "not an id key");
        assert_eq!(v["items"][0]["id"], "b-9");
        assert_eq!(v["ids"], serde_json::json!([3, 5]));
        assert!(rewrite_json(b"not json", map).is_none());
        assert!(rewrite_json(br#"{"id":1}"#, map).is_none());
    }
}
