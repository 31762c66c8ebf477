//! JWTs shared by the three services: HS256 with the common `SECRET_KEY`, claims `sub`
//! (username), `exp` (30 minutes), `iat` and a random `jti` (so two tokens for the same user
//! differ). Also reads the token of a request (Bearer header, or the `access_token` cookie
//! where the caller allows it). Never looks at the user store.

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
}
