//! Where Opsline may connect on someone's behalf — health checks (http, tcp, tls, dns, postgres)
//! and webhooks, every redirect hop included — decided in one place.
//!
//! Every address is first made canonical: an IPv4 address written inside IPv6 (`::ffff:a.b.c.d`,
//! `::a.b.c.d`, `64:ff9b::a.b.c.d`) is checked as the IPv4 address it reaches. A URL's host is
//! taken as the URL standard normalises it (`http://2130706433/` and `http://127.1/` are
//! 127.0.0.1). A name is resolved once, here; the connection goes to an address this module
//! checked, so a name that answers differently the second time (DNS rebinding) cannot switch it.
//!
//! Two rules: checks may reach anything but `checks.denied_networks` (customers' private systems
//! are the point of a check); webhooks may reach public addresses, and internal ones only in
//! `webhooks.allowed_networks`.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Which addresses a kind of outbound traffic may reach.
#[derive(Debug, Clone)]
pub enum Rule {
    /// Anything but these networks (checks: `checks.denied_networks`).
    AllBut(Vec<IpNet>),
    /// Public addresses, and internal ones in these networks (webhooks:
    /// `webhooks.allowed_networks`).
    PublicAnd(Vec<IpNet>),
}

/// Why a connection is not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0} is {1}")]
    Address(IpAddr, &'static str),
    #[error("{host} resolves only to addresses that {why}")]
    Name { host: String, why: &'static str },
    #[error("could not resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("`{0}` names no host")]
    NoHost(String),
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
}

/// Turns a name into addresses. The system's resolver in production; tests give their own.
pub trait Lookup: Send + Sync {
    fn lookup(&self, host: &str, port: u16) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;
}

/// The operating system's resolver.
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str, port: u16) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>> {
        let host = host.to_string();
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), port)).await?.collect()) })
    }
}

/// The address a connection to `ip` reaches, as policies compare it: the IPv4 address an IPv6
/// address embeds — IPv4-mapped (`::ffff:0:0/96`), IPv4-compatible (`::/96`, but not `::` and
/// `::1`), the NAT64 well-known prefix (`64:ff9b::/96`) — and loopback for the unspecified
/// address (`0.0.0.0`, `::`), which is where a connection to it goes.
pub fn canonical(ip: IpAddr) -> IpAddr {
    let ip = match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => return IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => return IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        other => other,
    };
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let compatible = s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified();
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if compatible || nat64 { IpAddr::V4(embedded) } else { ip }
}

/// Loopback, private, link-local, shared (CGNAT), "this network", broadcast, multicast and
/// reserved addresses: everything that is not on the public internet.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg & 0xfe00) == 0xfc00
                || (seg & 0xffc0) == 0xfe80
        }
    }
}

/// The policy for one kind of outbound traffic, and the resolver it checks names with.
#[derive(Clone)]
pub struct Outbound {
    rule: Arc<Rule>,
    lookup: Arc<dyn Lookup>,
}

impl Outbound {
    pub fn new(rule: Rule) -> Self {
        Self::with_lookup(rule, Arc::new(SystemLookup))
    }

    pub fn with_lookup(rule: Rule, lookup: Arc<dyn Lookup>) -> Self {
        Outbound { rule: Arc::new(rule), lookup }
    }

    fn why(&self) -> &'static str {
        match *self.rule {
            Rule::AllBut(_) => "in checks.denied_networks",
            Rule::PublicAnd(_) => "internal and not in webhooks.allowed_networks",
        }
    }

    /// The canonical address, if this policy lets a connection go there.
    pub fn permits(&self, ip: IpAddr) -> Result<IpAddr, Refused> {
        let ip = canonical(ip);
        let ok = match &*self.rule {
            Rule::AllBut(denied) => !denied.iter().any(|n| n.contains(&ip)),
            Rule::PublicAnd(allowed) => !is_internal(ip) || allowed.iter().any(|n| n.contains(&ip)),
        };
        if ok { Ok(ip) } else { Err(Refused::Address(ip, self.why())) }
    }

    /// The addresses `host` (a name or an address literal) may be reached at on `port`, each
    /// checked; a name whose every address is refused is refused.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(self.permits(ip)?, port)]);
        }
        let found = self
            .lookup
            .lookup(bare, port)
            .await
            .map_err(|e| Refused::Resolve { host: host.to_string(), reason: e.to_string() })?;
        let ok: Vec<SocketAddr> =
            found.iter().filter_map(|a| self.permits(a.ip()).ok().map(|ip| SocketAddr::new(ip, a.port()))).collect();
        if ok.is_empty() {
            return Err(Refused::Name { host: host.to_string(), why: self.why() });
        }
        Ok(ok)
    }

    /// A URL's host as the URL standard reads it: an address literal is checked now, a name when
    /// it is resolved.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), Refused> {
        // `host_str` is the host after the URL standard's normalisation: IPv4 in dotted form
        // whatever its spelling, IPv6 in brackets.
        let host = url.host_str().ok_or_else(|| Refused::NoHost(url.to_string()))?;
        match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) => self.permits(ip).map(|_| ()),
            Err(_) => Ok(()),
        }
    }

    /// A resolver for reqwest that answers only with checked addresses.
    pub fn resolver(&self) -> Arc<dyn Resolve> {
        Arc::new(Resolver(self.clone()))
    }

    /// A redirect policy that follows at most `max` hops, each checked as the first request was;
    /// one more is an error. With `max` 0 none is followed: the redirect is the answer.
    pub fn redirects(&self, max: usize) -> reqwest::redirect::Policy {
        let me = self.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if max == 0 {
                return attempt.stop();
            }
            if attempt.previous().len() > max {
                return attempt.error(Refused::TooManyRedirects(max));
            }
            match me.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        })
    }
}

struct Resolver(Outbound);

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let outbound = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = outbound.resolve(&host, 0).await?;
            let it: Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

/// A request that got no answer, in words: "timed out: …", "could not connect: …" or "request
/// failed: …" with its causes, at most 500 characters. Without the URL: it may carry credentials
/// in its user part or query.
pub fn request_failure(e: reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let causes: String = crate::services::chain(&e.without_url()).chars().take(500).collect();
    format!("{what}: {causes}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback_denied() -> Outbound {
        Outbound::new(Rule::AllBut(vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]))
    }

    #[test]
    fn loopback_is_loopback_however_it_is_written() {
        // The API test (tests/api/outbound.rs) probes 22 spellings end to end; these are the
        // ones that need no listener to tell apart.
        let o = loopback_denied();
        for host in ["0", "[0:0:0:0:0:0:0:1]", "[64:ff9b::127.0.0.1]", "[::ffff:7f00:0001]"] {
            let url = reqwest::Url::parse(&format!("http://{host}:8080/")).unwrap_or_else(|e| panic!("{host}: {e}"));
            assert!(o.check_url(&url).is_err(), "{host} ({url}) passed");
        }
        assert!(o.check_url(&reqwest::Url::parse("http://127.0.0.1.example/").unwrap()).is_ok(), "a name");
        assert!(o.permits("10.0.0.1".parse().unwrap()).is_ok());
        assert_eq!(canonical("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(canonical("::1".parse().unwrap()), "::1".parse::<IpAddr>().unwrap(), "not IPv4-compatible");
    }

    #[test]
    fn webhooks_reach_public_addresses_and_only_allowed_internal_ones() {
        let o = Outbound::new(Rule::PublicAnd(vec!["10.1.0.0/16".parse().unwrap()]));
        for internal in [
            "10.0.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "fd00::1",
            "fe80::1",
            "0.0.0.0",
            "::",
        ] {
            assert!(o.permits(internal.parse().unwrap()).is_err(), "{internal}");
        }
        for ok in ["10.1.2.3", "::ffff:10.1.2.3", "93.184.216.34", "2606:2800:220:1::1"] {
            assert!(o.permits(ok.parse().unwrap()).is_ok(), "{ok}");
        }
    }
}
