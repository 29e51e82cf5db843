//! The public base URL of invite links, resolved as KernelCI does: the configured one, else
//! what a local proxy forwarded, else the request's own host.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::{HeaderMap, Uri, header};

/// The base of invite links: `PUBLIC_BASE_URL`; else, behind a local proxy (a peer that is
/// not a global address), the first `Forwarded` hop, then `X-Forwarded-Host`/`-Proto`;
/// else the request's own `http://host`. A peer of unknown address is not trusted.
/// `configured` is `PUBLIC_BASE_URL` without its trailing `/`.
pub(super) fn resolve(
    configured: Option<&str>,
    peer: Option<SocketAddr>,
    uri: &Uri,
    headers: &HeaderMap,
) -> String {
    if let Some(base) = configured {
        return base.to_owned();
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let behind_proxy = peer.is_some_and(|addr| !is_global(addr.ip()));
    let (mut host, mut proto) = (None, None);
    if behind_proxy {
        if let Some(forwarded) = header("forwarded") {
            (host, proto) = first_forwarded_hop(forwarded);
        }
        // A list (several proxies) names the client-facing one first.
        let first = |v: &str| v.split(',').next().unwrap_or_default().trim().to_owned();
        host = host.or_else(|| header("x-forwarded-host").map(first));
        proto = proto.or_else(|| header("x-forwarded-proto").map(first));
        host = host.filter(|h| !h.is_empty());
    }
    if let Some(host) = host {
        let scheme = proto.filter(|p| !p.is_empty());
        return format!("{}://{host}", scheme.as_deref().unwrap_or("http"))
            .trim_end_matches('/')
            .to_owned();
    }
    let own_host = header(header::HOST.as_str())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_owned());
    format!("http://{own_host}")
}

/// `host` and `proto` of the first hop of a `Forwarded` header (RFC 7239).
fn first_forwarded_hop(value: &str) -> (Option<String>, Option<String>) {
    let (mut host, mut proto) = (None, None);
    let hop = value.split(',').next().unwrap_or_default();
    for pair in hop.split(';') {
        let Some((key, val)) = pair.split_once('=') else {
            continue;
        };
        let val = val.trim().trim_matches('"').to_owned();
        match key.trim().to_ascii_lowercase().as_str() {
            "host" => host = Some(val),
            "proto" => proto = Some(val),
            _ => {}
        }
    }
    (
        host.filter(|h| !h.is_empty()),
        proto.filter(|p| !p.is_empty()),
    )
}

/// Whether `ip` is globally reachable, as Python's `ipaddress` `is_global` (private,
/// loopback, link-local, shared, documentation and reserved ranges are not).
pub(crate) fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_global_v4(v4),
            None => is_global_v6(v6),
        },
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let local = ip.is_unspecified()
        || a == 0
        || ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_documentation()
        || ip.is_broadcast()
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240; // reserved
    !local
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let local = ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard-only
        || (s[0] == 0x2001 && s[1] < 0x0200); // IETF protocol assignments
    !local
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_addresses_follow_python_ipaddress() {
        for local in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.5",
            "192.168.1.1",
            "169.254.0.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_global(local.parse().unwrap()), "{local}");
        }
        for global in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_global(global.parse().unwrap()), "{global}");
        }
    }

    #[test]
    fn forwarded_takes_the_first_hop() {
        assert_eq!(
            first_forwarded_hop(r#"for=1.2.3.4;Host="api.example.org";proto=https, host=other"#),
            (Some("api.example.org".into()), Some("https".into()))
        );
        assert_eq!(first_forwarded_hop("for=1.2.3.4"), (None, None));
    }
}
