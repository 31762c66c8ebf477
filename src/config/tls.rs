//! `[targets.NAME]` TLS and protocol keys: `protocol`, `tls_ca_file`, `insecure`.
//!
//! Owns the [`Protocol`] values, their cross-key checks (which scheme each key fits) and reading a CA file into
//! certificates, so an unreadable file or a PEM without a certificate is refused at its
//! place in `cutover.toml` before anything starts. Builds no TLS configuration and opens no
//! connection (that is `upstream`'s job).

use std::path::Path;

use serde::Deserialize;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use toml::Spanned;

use super::model::{Problem, TargetConfig};

/// `[targets.NAME] protocol`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// HTTP/1.1 over `http://`; over `https://` whatever ALPN settles (h2, else http/1.1).
    #[default]
    Auto,
    /// HTTP/1.1 only (ALPN offers only `http/1.1` over `https://`).
    Http1,
    /// HTTP/2 with prior knowledge over plain `http://` (h2c).
    H2c,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Auto => "auto",
            Protocol::Http1 => "http1",
            Protocol::H2c => "h2c",
        }
    }
}

/// Scheme-dependent checks of one target's TLS and protocol keys.
pub(super) fn check_target(name: &str, t: &TargetConfig) -> Result<(), Problem> {
    let https = t.url.get_ref().starts_with("https://");
    let key = |k: &str| format!("targets.{name}.{k}");
    if !https {
        if let Some(ca) = &t.tls_ca_file {
            return Err((
                ca.span(),
                key("tls_ca_file"),
                "only an https:// target has a certificate to check; remove it or write https://"
                    .into(),
            ));
        }
        if *t.insecure.get_ref() {
            return Err((
                t.insecure.span(),
                key("insecure"),
                "only an https:// target has a certificate to skip; remove it or write https://"
                    .into(),
            ));
        }
    }
    if https && *t.protocol.get_ref() == Protocol::H2c {
        return Err((
            t.protocol.span(),
            key("protocol"),
            "h2c is HTTP/2 over plain http://; an https:// target negotiates HTTP/2 by ALPN \
             with protocol = \"auto\" (or use protocol = \"http1\")"
                .into(),
        ));
    }
    if *t.insecure.get_ref() {
        if let Some(ca) = &t.tls_ca_file {
            return Err((
                ca.span(),
                key("tls_ca_file"),
                "insecure = true skips certificate checks, so a CA file would be ignored; \
                 keep one of the two"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// Resolve and read every `tls_ca_file`: relative paths are joined to `base` (the
/// configuration file's directory); the resolved path is stored back.
pub(super) fn resolve_ca_files(
    targets: &mut std::collections::BTreeMap<String, TargetConfig>,
    base: Option<&Path>,
) -> Result<(), Problem> {
    for (name, t) in targets.iter_mut() {
        let Some(ca) = &t.tls_ca_file else { continue };
        let path = match base {
            Some(dir) if ca.get_ref().is_relative() => dir.join(ca.get_ref()),
            _ => ca.get_ref().clone(),
        };
        read_ca_file(&path).map_err(|m| (ca.span(), format!("targets.{name}.tls_ca_file"), m))?;
        t.tls_ca_file = Some(Spanned::new(ca.span(), path));
    }
    Ok(())
}

/// The certificates of a PEM file; an error names the file and what is wrong with it.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = std::fs::read(path)
        .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(&text) {
        match item {
            Ok(cert) => certs.push(cert),
            Err(e) => {
                return Err(format!(
                    "the CA file {} is not valid PEM: {e}",
                    path.display()
                ));
            }
        }
    }
    if certs.is_empty() {
        return Err(format!(
            "the CA file {} holds no certificate (expected a PEM block \
             `-----BEGIN CERTIFICATE-----`)",
            path.display()
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in &certs {
        roots.add(cert.clone()).map_err(|e| {
            format!(
                "the CA file {} holds a certificate that cannot be a trust anchor: {e}",
                path.display()
            )
        })?;
    }
    Ok(certs)
}
