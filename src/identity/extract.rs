//! What a mirrored login or create answer teaches (issue 12): who logged in (from the request), which credential a target issued (from its
//! answer), which id a target gave a created resource. Pure functions over bytes and
//! headers; bounded by the bodies they are given (already capped by the capture).

use http::HeaderMap;
use http::header::{LOCATION, SET_COOKIE};
use serde_json::Value;

use super::credentials::{Credential, Place};
use crate::redact::names::{Pattern, normalise};

/// Request fields that name who logs in, tried in order.
pub const IDENTITY_FIELDS: &[&str] = &["username", "email", "login", "user", "name"];
/// Answer fields that carry an issued credential, tried in order (top level, then one
/// level down, e.g. `{"data": {"token": ...}}`).
pub const TOKEN_FIELDS: &[&str] = &["access_token", "accessToken", "token", "jwt", "id_token"];
/// Longest identity or id kept.
const MAX_VALUE_BYTES: usize = 256;

/// Who a login / register request names: the JSON Pointer `pointer` when given, else the
/// first of [`IDENTITY_FIELDS`], in a JSON or form body.
pub fn login_identity(body: &[u8], pointer: Option<&str>) -> Option<String> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let found = match pointer {
            Some(p) => v.pointer(p),
            None => IDENTITY_FIELDS.iter().find_map(|f| v.get(*f)),
        };
        return found.and_then(scalar);
    }
    if pointer.is_some() {
        return None;
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body)
        .take(256)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    IDENTITY_FIELDS.iter().find_map(|f| {
        pairs
            .iter()
            .find(|(k, _)| k == f)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty() && v.len() <= MAX_VALUE_BYTES)
    })
}

/// The credential a login answer issued: a token field of a JSON body (with its
/// `token_type` as the scheme, `Bearer` by default), else a `Set-Cookie` whose name is a
/// credential cookie (`cookies`, see [`crate::config::IdentityConfig::cookie_patterns`]).
pub fn issued_credential(
    headers: &HeaderMap,
    body: &[u8],
    cookies: &[Pattern],
) -> Option<Credential> {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        let nested = map.values().filter_map(Value::as_object);
        let found = std::iter::once(&map).chain(nested).find_map(|o| {
            TOKEN_FIELDS.iter().find_map(|f| {
                o.get(*f)
                    .and_then(Value::as_str)
                    .filter(|t| !t.trim().is_empty())
                    .map(|t| (o, t.trim().to_string()))
            })
        });
        if let Some((o, token)) = found {
            let scheme = match o.get("token_type").and_then(Value::as_str) {
                Some(t) if t.eq_ignore_ascii_case("bearer") || t.is_empty() => "Bearer".to_string(),
                Some(t) if t.bytes().all(|b| b.is_ascii_alphanumeric()) && t.len() <= 32 => {
                    t.to_string()
                }
                _ => "Bearer".to_string(),
            };
            return Some(Credential {
                place: Place::Authorization { scheme },
                value: token,
            });
        }
    }
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .map(|(n, v)| (n.trim(), v.trim().trim_matches('"')))
        .find(|(n, v)| {
            let n = normalise(n);
            !v.is_empty() && cookies.iter().any(|p| p.matches(&n))
        })
        .map(|(n, v)| Credential {
            place: Place::Cookie {
                name: n.to_string(),
            },
            value: v.to_string(),
        })
}

/// The id a create answer gave: the JSON Pointer `pointer` when given, else the top-level
/// `id`, else the last segment of `Location`.
pub fn created_id(headers: &HeaderMap, body: &[u8], pointer: Option<&str>) -> Option<String> {
    let json = serde_json::from_slice::<Value>(body).ok();
    if let Some(p) = pointer {
        return json.as_ref().and_then(|v| v.pointer(p)).and_then(scalar);
    }
    if let Some(id) = json.as_ref().and_then(|v| v.get("id")).and_then(scalar) {
        return Some(id);
    }
    let location = headers.get(LOCATION)?.to_str().ok()?;
    let path = location.split(['?', '#']).next()?;
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty() && s.len() <= MAX_VALUE_BYTES)
        .map(str::to_string)
}

/// A string or number as text (ids and names), within [`MAX_VALUE_BYTES`].
fn scalar(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty() && s.len() <= MAX_VALUE_BYTES).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn patterns() -> Vec<Pattern> {
        crate::config::IdentityConfig::default().cookie_patterns()
    }

    #[test]
    fn identities_from_json_form_and_pointer() {
        assert_eq!(
            login_identity(br#"{"username":"alice","password":"x"}"#, None),
            Some("alice".into())
        );
        assert_eq!(
            login_identity(b"username=bob&password=x", None),
            Some("bob".into())
        );
        assert_eq!(
            login_identity(br#"{"user":{"email":"c@x.io"}}"#, Some("/user/email")),
            Some("c@x.io".into())
        );
        assert_eq!(login_identity(br#"{"password":"x"}"#, None), None);
        assert_eq!(login_identity(b"\xff\xfe", None), None);
        assert_eq!(login_identity(br#"{"username":{"a":1}}"#, None), None);
    }

    #[test]
    fn credentials_from_bodies_and_cookies() {
        let h = HeaderMap::new();
        let c = issued_credential(
            &h,
            br#"{"access_token":"t1","token_type":"bearer"}"#,
            &patterns(),
        )
        .expect("a token");
        assert_eq!(c.value, "t1");
        assert_eq!(
            c.place,
            Place::Authorization {
                scheme: "Bearer".into()
            }
        );
        let c = issued_credential(&h, br#"{"user":{"token":"t2"}}"#, &patterns()).expect("nested");
        assert_eq!(c.value, "t2");
        let c = issued_credential(&h, br#"{"token":"t3","token_type":"Token"}"#, &patterns())
            .expect("scheme kept");
        assert_eq!(
            c.place,
            Place::Authorization {
                scheme: "Token".into()
            }
        );
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, HeaderValue::from_static("theme=dark; Path=/"));
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("sessionid=s9; HttpOnly"),
        );
        let c = issued_credential(&h, b"{}", &patterns()).expect("cookie");
        assert_eq!(
            c.place,
            Place::Cookie {
                name: "sessionid".into()
            }
        );
        assert_eq!(c.value, "s9");
        assert!(issued_credential(&HeaderMap::new(), br#"{"ok":true}"#, &patterns()).is_none());
        assert!(issued_credential(&HeaderMap::new(), b"not json", &patterns()).is_none());
    }

    #[test]
    fn ids_from_body_location_and_pointer() {
        let h = HeaderMap::new();
        assert_eq!(created_id(&h, br#"{"id":17}"#, None), Some("17".into()));
        assert_eq!(
            created_id(&h, br#"{"data":{"uid":"u-1"}}"#, Some("/data/uid")),
            Some("u-1".into())
        );
        let mut h = HeaderMap::new();
        h.insert(LOCATION, HeaderValue::from_static("/users/42?x=1"));
        assert_eq!(created_id(&h, b"", None), Some("42".into()));
        assert_eq!(created_id(&HeaderMap::new(), b"[]", None), None);
    }
}
