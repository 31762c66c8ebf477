//! JWTs shared by the three services: HS256 with the common `SECRET_KEY`, claims `sub`
//! (username), `exp` (30 minutes), `iat` and a random `jti` (so two tokens for the same user
//! differ). Also reads the token of a request (Bearer header, or the `access_token` cookie
//! where the caller allows it). Never looks at the user store.
//!
//! In the `auth-own-identity` mode the extracted Auth service issues its own tokens
//! instead ([`Scheme::Own`]): signed with its own secret, naming the user by its own id in
//! `uid` (and `username`), with no `sub`.

use axum::http::{HeaderMap, header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::errors::ApiError;

/// Token lifetime in seconds.
pub const TTL_SECS: i64 = 30 * 60;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
}

/// Issue a token for `username`, issued at `iat` (Unix seconds), valid for [`TTL_SECS`].
pub fn issue_at(secret: &str, username: &str, iat: i64) -> Result<String, ApiError> {
    let claims = Claims {
        sub: username.to_string(),
        exp: iat + TTL_SECS,
        iat,
        jti: uuid::Uuid::new_v4().simple().to_string(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|_| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "Token error"))
}

/// Which tokens a deployment issues and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// The monolith's: `sub` = username, the shared secret.
    Shared,
    /// The extracted Auth service's own (`auth-own-identity`): `uid` = its own user id and
    /// `username`, its own secret.
    Own,
}

/// The claims of a [`Scheme::Own`] token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OwnClaims {
    pub uid: i64,
    pub username: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
}

/// Who a verified token names: the username, and the issuer's own user id when the token
/// carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub username: String,
    pub uid: Option<i64>,
}

/// Issue a token of `scheme` for the user `uid` / `username`, valid from now.
pub fn issue_for(
    scheme: Scheme,
    secret: &str,
    uid: i64,
    username: &str,
) -> Result<String, ApiError> {
    match scheme {
        Scheme::Shared => issue(secret, username),
        Scheme::Own => {
            let iat = chrono::Utc::now().timestamp();
            let claims = OwnClaims {
                uid,
                username: username.to_string(),
                exp: iat + TTL_SECS,
                iat,
                jti: uuid::Uuid::new_v4().simple().to_string(),
            };
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(secret.as_bytes()),
            )
            .map_err(|_| {
                ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "Token error")
            })
        }
    }
}

/// Verify a request's token of `scheme`: signature, algorithm, expiry and its claims.
pub fn authenticate_as(
    scheme: Scheme,
    headers: &HeaderMap,
    secret: &str,
    cookie_ok: bool,
) -> Result<Subject, ApiError> {
    let raw = from_request(headers, cookie_ok)?;
    match scheme {
        Scheme::Shared => verify(secret, &raw).map(|c| Subject {
            username: c.sub,
            uid: None,
        }),
        Scheme::Own => {
            let mut validation = Validation::new(Algorithm::HS256);
            validation.leeway = 0;
            validation.set_required_spec_claims(&["exp"]);
            jsonwebtoken::decode::<OwnClaims>(
                &raw,
                &DecodingKey::from_secret(secret.as_bytes()),
                &validation,
            )
            .map(|data| Subject {
                username: data.claims.username,
                uid: Some(data.claims.uid),
            })
            .map_err(|_| ApiError::unauthorized("Could not validate credentials"))
        }
    }
}

/// Issue a token for `username`, valid from now.
pub fn issue(secret: &str, username: &str) -> Result<String, ApiError> {
    issue_at(secret, username, chrono::Utc::now().timestamp())
}

/// Verify a token: signature, algorithm and expiry (no leeway).
pub fn verify(secret: &str, token: &str) -> Result<Claims, ApiError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
    .map_err(|_| ApiError::unauthorized("Could not validate credentials"))
}

/// The raw token of a request: `Authorization: Bearer …`, else (if `cookie_ok`) the
/// `access_token` cookie. `None` → 401 `Not authenticated`.
pub fn from_request(headers: &HeaderMap, cookie_ok: bool) -> Result<String, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or("");
        if let Some((scheme, token)) = value.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
            && !token.trim().is_empty()
        {
            return Ok(token.trim().to_string());
        }
    }
    if cookie_ok {
        for value in headers.get_all(header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for pair in value.split(';') {
                if let Some((name, token)) = pair.trim().split_once('=')
                    && name == "access_token"
                    && !token.is_empty()
                {
                    return Ok(token.trim_matches('"').to_string());
                }
            }
        }
    }
    Err(ApiError::unauthorized("Not authenticated"))
}

/// Verified claims of a request.
pub fn authenticate(
    headers: &HeaderMap,
    secret: &str,
    cookie_ok: bool,
) -> Result<Claims, ApiError> {
    verify(secret, &from_request(headers, cookie_ok)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let t1 = issue("s3cret", "alice").unwrap_or_default();
        let t2 = issue("s3cret", "alice").unwrap_or_default();
        assert_ne!(t1, t2, "jti makes tokens differ");
        assert_eq!(
            verify("s3cret", &t1).map(|c| c.sub).ok().as_deref(),
            Some("alice")
        );
        assert!(verify("other", &t1).is_err());
        let old = issue_at(
            "s3cret",
            "alice",
            chrono::Utc::now().timestamp() - TTL_SECS - 5,
        )
        .unwrap_or_default();
        assert!(verify("s3cret", &old).is_err());
        assert!(verify("s3cret", "garbage").is_err());
    }

    #[test]
    fn own_tokens_are_not_shared_tokens() {
        let own = issue_for(Scheme::Own, "own", 1001, "alice").unwrap_or_default();
        let mut h = HeaderMap::new();
        let bearer = |t: &str| {
            axum::http::HeaderValue::from_str(&format!("Bearer {t}"))
                .unwrap_or_else(|_| axum::http::HeaderValue::from_static("Bearer x"))
        };
        h.insert(header::AUTHORIZATION, bearer(&own));
        assert_eq!(
            authenticate_as(Scheme::Own, &h, "own", false).ok(),
            Some(Subject {
                username: "alice".into(),
                uid: Some(1001)
            })
        );
        // The monolith's secret and claims know nothing of it, and the reverse.
        assert!(authenticate_as(Scheme::Shared, &h, "own", false).is_err());
        assert!(authenticate_as(Scheme::Own, &h, "shared", false).is_err());
        let shared = issue("own", "alice").unwrap_or_default();
        h.insert(header::AUTHORIZATION, bearer(&shared));
        assert!(
            authenticate_as(Scheme::Own, &h, "own", false).is_err(),
            "a token without `uid` is refused even under the right secret"
        );
    }
}
