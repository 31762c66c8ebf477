//! Listen addresses: `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT`.
//!
//! `localhost` means the IPv4 loopback 127.0.0.1 (resolved here, without a lookup, so a
//! configuration never depends on the resolver). Port 0 asks the system for a free port.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Deserializer};

/// Parse a listen address.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    let Some((host, port)) = t.rsplit_once(':') else {
        return Err(format!(
            "{text:?} has no port; write HOST:PORT, e.g. \"127.0.0.1:8080\" or \"localhost:8080\""
        ));
    };
    let port: u16 = port.parse().map_err(|_| {
        format!("{text:?}: the port must be a number from 0 to 65535, got {port:?}")
    })?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, port)),
        Err(_) => Err(format!(
            "{text:?}: listen on an IP address or localhost (e.g. \"0.0.0.0:{port}\", \"[::1]:{port}\", \"localhost:{port}\"), not a host name"
        )),
    }
}

/// `#[serde(deserialize_with)]` for `[proxy] listen`.
pub fn listen<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    parse_listen(&s).map_err(serde::de::Error::custom)
}
