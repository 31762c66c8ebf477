//! `cutover.toml`: the configuration model, loaded and validated in one place.
//!
//! Owns the file's shape (serde structs with `deny_unknown_fields`) and every check that
//! needs more than one key (one primary, known candidates, valid globs). Errors name the
//! file, line, column and key. This module does no network I/O and starts nothing.

mod addr;
mod connections;
mod grouping;
mod identities;
mod identity;
mod model;
mod redaction;
mod routes;
mod spans;
mod strict;
mod tls;
mod translate;
mod validate;

pub use addr::parse_listen;
pub use identities::{
    ConfiguredIdentity, CredentialSource, EnvName, IdentityTarget, MAX_CONFIGURED_IDENTITIES,
    StaticPlace,
};
pub use identity::{DEFAULT_CREDENTIAL_COOKIES, IdentityConfig, LabelMode, OrderBy};
pub use model::*;
pub use redaction::RedactionConfig;
pub use routes::{Route, RouteTable};
pub use strict::{
    MAX_BODY_BYTES, MAX_FSYNC_MS, MAX_IN_FLIGHT_SHADOWS, MAX_TIMEOUT_MS, MIN_ROTATE_BYTES,
    check_target_url,
};
pub use tls::read_ca_file;
pub use translate::{RouteTranslation, TranslateConfig, TranslateMode, TranslateRoute};

use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration that parsed and passed validation.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: ConfigFile,
    pub routes: RouteTable,
    /// Where it came from (for messages); `None` for built-in configurations.
    pub source: Option<PathBuf>,
}

/// A problem with a configuration file, pointing at the place to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read configuration: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Located),
}

/// An error message with its position in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub key: Option<String>,
    pub message: String,
    /// The offending source line, for display.
    pub snippet: Option<String>,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.path, self.line, self.column)?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(snippet) = &self.snippet {
            write!(f, "\n  {:>4} | {}", self.line, snippet)?;
        }
        Ok(())
    }
}

impl Config {
    /// Read and validate a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty());
        let mut cfg = Config::parse_in(&text, &path.display().to_string(), base)?;
        cfg.source = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Parse and validate configuration text; `name` is used in error messages. Relative
    /// file paths in it (`tls_ca_file`) are relative to the current directory.
    pub fn parse(text: &str, name: &str) -> Result<Config, ConfigError> {
        Config::parse_in(text, name, None)
    }

    /// [`Config::parse`] with relative file paths resolved against `base`.
    fn parse_in(text: &str, name: &str, base: Option<&Path>) -> Result<Config, ConfigError> {
        let mut file: ConfigFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            let key = spans::key_at(text, span.start);
            ConfigError::Invalid(locate(text, name, span.start, key, message))
        })?;
        strict::check(&file, text).map_err(|(span, key, message)| {
            ConfigError::Invalid(locate(text, name, span.start, Some(key), message))
        })?;
        identity::check(&file.identity, text).map_err(|(span, key, message)| {
            ConfigError::Invalid(locate(text, name, span.start, Some(key), message))
        })?;
        identities::check(&mut file.identities, &file.targets, text, name, base).map_err(
            |(span, key, message)| {
                ConfigError::Invalid(locate(text, name, span.start, Some(key), message))
            },
        )?;
        translate::check(&file.translate, text).map_err(|(span, key, message)| {
            ConfigError::Invalid(locate(text, name, span.start, Some(key), message))
        })?;
        let routes = file.validate(text).map_err(|(span, key, message)| {
            ConfigError::Invalid(locate(text, name, span.start, Some(key), message))
        })?;
        tls::resolve_ca_files(&mut file.targets, base).map_err(|(span, key, message)| {
            ConfigError::Invalid(locate(text, name, span.start, Some(key), message))
        })?;
        if let (Some(c), Some(base)) = (file.contracts.as_mut(), base)
            && c.dir.is_relative()
        {
            c.dir = base.join(&c.dir);
        }
        Ok(Config {
            file,
            routes,
            source: None,
        })
    }

    pub fn primary(&self) -> (&str, &TargetConfig) {
        self.file
            .targets
            .iter()
            .find(|(_, t)| t.role == Role::Primary)
            .map(|(n, t)| (n.as_str(), t))
            .unwrap_or_else(|| unreachable!("validated: exactly one primary"))
    }

    pub fn secondary(&self) -> Option<(&str, &TargetConfig)> {
        self.file
            .targets
            .iter()
            .find(|(_, t)| t.role == Role::Secondary)
            .map(|(n, t)| (n.as_str(), t))
    }

    pub fn target(&self, name: &str) -> Option<&TargetConfig> {
        self.file.targets.get(name)
    }
}

fn locate(text: &str, name: &str, offset: usize, key: Option<String>, message: String) -> Located {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    // A URL's `user:password@` is not echoed back to the terminal.
    let snippet = text[line_start..].lines().next().map(strict::mask_userinfo);
    Located {
        path: name.to_string(),
        line,
        column,
        key,
        message,
        snippet,
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_identities;
#[cfg(test)]
mod tests_strict;
#[cfg(test)]
mod tests_tls;
