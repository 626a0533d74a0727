//! Who a request comes from, as far as rate limits care: the client's address. That is the peer
//! address, unless the peer is one of `http.trusted_proxies`: then it is the address the proxies
//! saw, read from `X-Forwarded-For` right to left, skipping the trusted proxies themselves (a
//! client can write anything on the left of that header; only what a trusted proxy appended is
//! believed).

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

use super::error::ApiError;
use crate::limits::Limit;
use crate::outbound::canonical;
use crate::state::AppState;

/// An address (`10.0.0.5`, a network of one) or a CIDR network (`10.0.0.0/8`).
pub fn network(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// The client's address: the peer, or — behind a trusted proxy — the last address in
/// `X-Forwarded-For` that is not a trusted proxy.
pub fn client_address(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = canonical(req.peer_addr()?.ip());
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().parse::<IpAddr>().map(canonical))
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    Some(forwarded.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer))
}

/// The key a request's budgets are kept under: its client address.
pub fn address_key(state: &AppState, req: &HttpRequest) -> Option<String> {
    client_address(req, state.limits.trusted_proxies()).map(|ip| format!("ip:{ip}"))
}

/// Takes one from `which`'s budget of the request's client; 429 when it is spent.
pub fn limit(state: &AppState, which: Limit, req: &HttpRequest) -> Result<(), ApiError> {
    let Some(key) = address_key(state, req) else { return Ok(()) };
    state.limits.take(which, &key).map_err(|s| ApiError::rate_limited(s.what, s.retry_after_secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn from(peer: &str, xff: Option<&str>, trusted: &[&str]) -> Option<IpAddr> {
        let mut r = TestRequest::default().peer_addr(peer.parse().unwrap());
        if let Some(x) = xff {
            r = r.insert_header(("X-Forwarded-For", x));
        }
        let trusted: Vec<IpNet> = trusted.iter().map(|t| network(t).unwrap()).collect();
        client_address(&r.to_http_request(), &trusted)
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // No proxies trusted: the header is anyone's to write.
        assert_eq!(from("203.0.113.9:5000", Some("198.51.100.1"), &[]), ip("203.0.113.9"));
        // From a trusted proxy: the address it appended.
        assert_eq!(from("10.0.0.2:5000", Some("198.51.100.1"), &["10.0.0.0/8"]), ip("198.51.100.1"));
        // A client's forged entries on the left are passed over; proxies on the right skipped.
        assert_eq!(from("10.0.0.2:5000", Some("1.2.3.4, 198.51.100.1, 10.0.0.7"), &["10.0.0.0/8"]), ip("198.51.100.1"));
        // A trusted peer without the header, or with garbage in it, is the client itself.
        assert_eq!(from("10.0.0.2:5000", None, &["10.0.0.2"]), ip("10.0.0.2"));
        assert_eq!(from("10.0.0.2:5000", Some("not-an-address"), &["10.0.0.2"]), ip("10.0.0.2"));
        // An untrusted peer's header is ignored even if it names a trusted address.
        assert_eq!(from("[::ffff:203.0.113.9]:5000", Some("10.0.0.1"), &["10.0.0.0/8"]), ip("203.0.113.9"));
        assert!(network("10.0.0.0/33").is_none() && network("fd00::1").is_some());
    }
}
