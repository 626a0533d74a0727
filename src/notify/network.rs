//! Which addresses outbound requests may reach. Webhooks: public addresses always; loopback,
//! private, link-local and unique-local ones only when `webhooks.allowed_networks` lists them (no
//! SSRF into the operator's network by default). Checks: anything but `checks.denied_networks`.
//! `FilteringResolver` applies either policy to the addresses a name resolves to, so that a name
//! pointing somewhere refused cannot be used to get there.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let seg = v6.segments()[0];
            v6.is_loopback() || v6.is_unspecified() || (seg & 0xfe00) == 0xfc00 || (seg & 0xffc0) == 0xfe80
        }
    }
}

pub fn allowed(ip: IpAddr, allowed_networks: &[IpNet]) -> bool {
    !is_internal(ip) || allowed_networks.iter().any(|n| n.contains(&ip))
}

pub fn not_denied(ip: IpAddr, denied_networks: &[IpNet]) -> bool {
    !denied_networks.iter().any(|n| n.contains(&ip))
}

/// A reqwest resolver that keeps only the addresses `keep(ip, networks)` accepts; a name left
/// with none fails with "resolves only to addresses {refused}".
pub struct FilteringResolver {
    pub networks: Arc<Vec<IpNet>>,
    pub keep: fn(IpAddr, &[IpNet]) -> bool,
    pub refused: &'static str,
}

impl Resolve for FilteringResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (networks, keep, refused) = (self.networks.clone(), self.keep, self.refused);
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ok: Vec<SocketAddr> = addrs.into_iter().filter(|a| keep(a.ip(), &networks)).collect();
            if ok.is_empty() {
                return Err(format!("{host} resolves only to addresses {refused}").into());
            }
            let it: Addrs = Box::new(ok.into_iter());
            Ok(it)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_need_an_allowed_network() {
        let nets: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        assert!(allowed("127.0.0.1".parse().unwrap(), &nets));
        assert!(!allowed("10.1.2.3".parse().unwrap(), &nets));
        assert!(!allowed("169.254.169.254".parse().unwrap(), &nets));
        assert!(!allowed("::ffff:192.168.1.1".parse().unwrap(), &[]));
        assert!(!allowed("fe80::1".parse().unwrap(), &[]));
        assert!(allowed("93.184.216.34".parse().unwrap(), &[]));
    }
}
