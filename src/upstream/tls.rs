//! TLS to upstreams: rustls with the `ring` provider.
//!
//! Owns building one client configuration per TLS origin: the trust anchors (the system's
//! root certificates, loaded once, or the target's `tls_ca_file` instead of them), ALPN
//! (`h2` then `http/1.1`, or `http/1.1` alone) and the `insecure` switch, which replaces
//! certificate verification by an accept-all verifier that still checks the handshake
//! signatures. The server name (SNI and the name verified) is the target URL's host. Never
//! opens a connection itself (`connect.rs` does).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// ALPN protocol ids.
pub const ALPN_H2: &[u8] = b"h2";
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Where a TLS origin's trust comes from.
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// The system's root certificates.
    System,
    /// The certificates of this PEM file only.
    CaFile(&'a Path),
    /// No verification of the certificate (staging).
    Insecure,
}

/// The system roots, loaded at most once per [`super::Pools`].
#[derive(Default)]
pub struct SystemRoots(Option<Arc<RootCertStore>>);

impl SystemRoots {
    fn get(&mut self) -> Result<Arc<RootCertStore>, String> {
        if let Some(r) = &self.0 {
            return Ok(Arc::clone(r));
        }
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map_or_else(String::new, |e| format!(" ({e})"));
            return Err(format!(
                "no system root certificate could be loaded{why}; install the system CA \
                 bundle or set tls_ca_file"
            ));
        }
        let roots = Arc::new(roots);
        self.0 = Some(Arc::clone(&roots));
        Ok(roots)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration for one origin, offering `alpn` in order.
pub fn client_config(
    trust: Trust<'_>,
    alpn: &[&[u8]],
    system: &mut SystemRoots,
) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let mut config = match trust {
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth(),
        Trust::System => builder
            .with_root_certificates(system.get()?)
            .with_no_client_auth(),
        Trust::CaFile(path) => {
            let mut roots = RootCertStore::empty();
            for cert in crate::config::read_ca_file(path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("the CA file {}: {e}", path.display()))?;
            }
            builder
                .with_root_certificates(Arc::new(roots))
                .with_no_client_auth()
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The name a TLS connection to `host` sends (SNI) and verifies: a DNS name, or an IP
/// address (no SNI then; the certificate must name the address).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("invalid TLS server name {host:?}: {e}"))
}

/// `insecure = true`: any certificate is accepted; handshake signatures are still checked
/// (so the peer holds the key of the certificate it showed).
#[derive(Debug)]
struct NoVerification(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
