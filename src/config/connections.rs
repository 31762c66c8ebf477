//! Validation of the `[proxy]` connection limits (`header_read_timeout_ms`,
//! `idle_timeout_ms`, `max_connections`, `max_headers`).
//!
//! Owns only these checks; each error points at the key's line in the file. Starts nothing.

use super::model::{Problem, ProxyConfig};

/// Header fields per request above this would make every request head allocate that many
/// parser slots; no origin needs more.
pub const MAX_HEADERS_LIMIT: usize = 16_384;

/// Check the connection limits of `[proxy]`; `text` is the file, for error locations.
pub(super) fn validate(proxy: &ProxyConfig, text: &str) -> Result<(), Problem> {
    let problem = |key: &str, message: String| {
        let at = key_offset(text, key);
        (at..at, format!("proxy.{key}"), message)
    };
    for (key, value) in [
        ("header_read_timeout_ms", proxy.header_read_timeout_ms),
        ("idle_timeout_ms", proxy.idle_timeout_ms),
    ] {
        if value == 0 {
            return Err(problem(
                key,
                "must be greater than 0 (milliseconds); a connection would be closed before it could send anything".into(),
            ));
        }
    }
    if proxy.max_connections == Some(0) {
        return Err(problem(
            "max_connections",
            "must be greater than 0; omit it to derive it from the file-descriptor limit".into(),
        ));
    }
    if proxy.max_headers == 0 || proxy.max_headers > MAX_HEADERS_LIMIT {
        return Err(problem(
            "max_headers",
            format!(
                "must be between 1 and {MAX_HEADERS_LIMIT}, got {}",
                proxy.max_headers
            ),
        ));
    }
    Ok(())
}

/// Where `key = ...` is written in the `[proxy]` table (start of the file when not found).
fn key_offset(text: &str, key: &str) -> usize {
    let proxy = text
        .match_indices("[proxy]")
        .map(|(i, _)| i)
        .next()
        .unwrap_or(0);
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if offset >= proxy {
            if let Some(rest) = trimmed.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return offset + (line.len() - trimmed.len());
                }
            }
        }
        offset += line.len();
    }
    text.find(key).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};

    fn error(proxy: &str) -> crate::config::Located {
        let text = format!(
            "[proxy]\nlisten = \"127.0.0.1:1\"\n{proxy}\n[targets]\nm = {{ url = \"http://a:1\", role = \"primary\" }}\n"
        );
        match Config::parse(&text, "cutover.toml") {
            Err(ConfigError::Invalid(l)) => l,
            other => panic!("expected an invalid-config error, got {other:?}"),
        }
    }

    #[test]
    fn connection_limits_are_validated_with_their_place() {
        for (line, key) in [
            ("header_read_timeout_ms = 0", "proxy.header_read_timeout_ms"),
            ("idle_timeout_ms = 0", "proxy.idle_timeout_ms"),
            ("max_connections = 0", "proxy.max_connections"),
            ("max_headers = 0", "proxy.max_headers"),
            ("max_headers = 100000", "proxy.max_headers"),
        ] {
            let e = error(line);
            assert_eq!(e.line, 3, "{line}: {e}");
            assert_eq!(e.column, 1, "{line}: {e}");
            assert_eq!(e.key.as_deref(), Some(key), "{line}: {e}");
        }
    }

    #[test]
    fn connection_limits_have_defaults() {
        let text = "[targets]\nm = { url = \"http://a:1\", role = \"primary\" }\n";
        let cfg = Config::parse(text, "t.toml").expect("valid");
        let p = &cfg.file.proxy;
        assert_eq!(p.header_read_timeout_ms, 10_000);
        assert_eq!(p.idle_timeout_ms, 60_000);
        assert_eq!(p.max_connections, None);
        assert_eq!(p.max_headers, 256);
    }
}
