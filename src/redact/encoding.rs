//! Bodies under a `Content-Encoding`: a gzip'd login answer holds its token as plainly as
//! an uncompressed one (anyone can gunzip a recording), so it is scanned decompressed.
//!
//! `gzip`/`x-gzip` and `deflate` (zlib or raw) are decompressed (up to [`MAX_INFLATED`];
//! a capture cut at the body cap decompresses as far as it goes) and scanned; a clean body
//! keeps its exact compressed bytes, a redacted one is re-compressed with the same coding
//! so it still matches its headers. A body in a coding cutover cannot read (`br`, `zstd`,
//! stacked codings, corrupt data, or more than [`MAX_INFLATED`] once inflated) cannot be
//! shown to be free of secrets and is replaced by one marker (`[REDACTED string …]`: equal
//! bodies keep equal markers).

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};

use super::marker::{bytes_marker, is_marker_bytes};
use super::{Redaction, body};

/// Largest decompressed body scanned (zip-bomb bound).
pub const MAX_INFLATED: usize = 64 * 1024 * 1024;

/// What to do with an encoded body.
pub(super) enum Encoded {
    /// No content coding (or `identity`): scan the bytes as they are.
    Plain,
    /// Scanned: `None` = clean (keep the bytes), `Some` = the redacted encoded bytes.
    Scanned(Option<Vec<u8>>),
}

/// Scan `bytes` under the given `Content-Encoding` header value.
pub(super) fn redact_encoded(
    bytes: &[u8],
    content_encoding: Option<&str>,
    content_type: Option<&str>,
    rules: &Redaction,
) -> Encoded {
    let coding = content_encoding.unwrap_or("").trim().to_ascii_lowercase();
    if coding.is_empty() || coding == "identity" || bytes.is_empty() {
        return Encoded::Plain;
    }
    let masked = || (!is_marker_bytes(bytes)).then(|| bytes_marker(bytes).into_bytes());
    let inflated = match coding.as_str() {
        "gzip" | "x-gzip" => inflate(MultiGzDecoder::new(bytes)),
        "deflate" => {
            inflate(ZlibDecoder::new(bytes)).or_else(|| inflate(DeflateDecoder::new(bytes)))
        }
        _ => None,
    };
    let Some(plain) = inflated else {
        return Encoded::Scanned(masked());
    };
    let Some(redacted) = body::redact_bytes(&plain, content_type, rules) else {
        return Encoded::Scanned(None);
    };
    let encoded = match coding.as_str() {
        "deflate" => {
            let mut e = ZlibEncoder::new(Vec::new(), Compression::fast());
            e.write_all(&redacted).and_then(|()| e.finish())
        }
        _ => {
            let mut e = GzEncoder::new(Vec::new(), Compression::fast());
            e.write_all(&redacted).and_then(|()| e.finish())
        }
    };
    Encoded::Scanned(Some(
        encoded.unwrap_or_else(|_| bytes_marker(bytes).into_bytes()),
    ))
}

/// Decompress up to [`MAX_INFLATED`] bytes; a stream cut short yields what it holds, a
/// corrupt one or one that inflates past the bound yields `None`.
fn inflate(mut r: impl Read) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => return Some(out),
            Ok(n) => {
                if out.len() + n > MAX_INFLATED {
                    return None;
                }
                out.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {
                return Some(out);
            }
            Err(_) => return None,
        }
    }
}
