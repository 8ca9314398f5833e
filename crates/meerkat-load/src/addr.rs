//! Target and source addresses. This tool only ever talks to loopback (127.0.0.0/8, ::1): a
//! load generator aimed at someone else's host is an attack, so every resolved target and every
//! source address is checked here, before any connection is made.

use anyhow::{bail, Context};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Largest source range accepted (a /16 of loopback is far beyond what one machine needs).
const MAX_SOURCE_IPS: usize = 65_536;

/// True for 127.0.0.0/8 and ::1 (and IPv4-mapped loopback).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Resolves `host:port` and keeps the addresses; fails unless every one of them is loopback.
pub async fn resolve_loopback(server: &str) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(server)
        .await
        .with_context(|| format!("resolving --server {server} (expected host:port)"))?
        .collect();
    check_targets(server, &addrs)
}

/// Resolves a comma-separated `--server` list; every address must be loopback.
pub async fn resolve_servers(spec: &str) -> anyhow::Result<Vec<SocketAddr>> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        out.push(resolve_loopback(item).await?);
    }
    if out.is_empty() {
        bail!("--server {spec:?} names no server");
    }
    Ok(out)
}

/// The first target, if all of them are loopback.
pub fn check_targets(server: &str, addrs: &[SocketAddr]) -> anyhow::Result<SocketAddr> {
    let Some(first) = addrs.first() else { bail!("--server {server} resolved to no address") };
    if let Some(bad) = addrs.iter().find(|a| !is_loopback(a.ip())) {
        bail!(
            "refusing to load {bad} (from --server {server}): meerkat-load only connects to \
             loopback addresses (127.0.0.0/8, ::1)"
        );
    }
    Ok(*first)
}

/// Parses `--source-ips`: comma-separated items, each an address or an inclusive IPv4 range
/// `127.0.0.1-127.0.0.20` (the end may also be just the last octet: `127.0.0.1-20`). Every
/// address must be loopback.
pub fn parse_source_ips(spec: &str) -> anyhow::Result<Vec<IpAddr>> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.split_once('-') {
            None => {
                let ip: IpAddr =
                    item.parse().with_context(|| format!("bad source address {item:?}"))?;
                out.push(ip);
            }
            Some((a, b)) => {
                let start: Ipv4Addr =
                    a.trim().parse().with_context(|| format!("bad range start {a:?}"))?;
                let b = b.trim();
                let end: Ipv4Addr = match b.parse::<u8>() {
                    Ok(last) => {
                        let [x, y, z, _] = start.octets();
                        Ipv4Addr::new(x, y, z, last)
                    }
                    Err(_) => b.parse().with_context(|| format!("bad range end {b:?}"))?,
                };
                let (s, e) = (u32::from(start), u32::from(end));
                if e < s {
                    bail!("source range {item:?} ends before it starts");
                }
                let count = usize::try_from(e - s).unwrap_or(usize::MAX).saturating_add(1);
                if out.len().saturating_add(count) > MAX_SOURCE_IPS {
                    bail!("source range {item:?} too large (more than {MAX_SOURCE_IPS} addresses)");
                }
                out.extend((s..=e).map(|v| IpAddr::V4(Ipv4Addr::from(v))));
            }
        }
    }
    if out.is_empty() {
        bail!("--source-ips {spec:?} names no address");
    }
    if let Some(bad) = out.iter().find(|ip| !is_loopback(**ip)) {
        bail!("source address {bad} is not loopback: meerkat-load only uses 127.0.0.0/8 and ::1");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_lists() {
        let ips = parse_source_ips("127.0.0.1-127.0.0.3").expect("range");
        assert_eq!(ips.len(), 3);
        assert_eq!(ips[2], IpAddr::from([127, 0, 0, 3]));
        let ips = parse_source_ips("127.0.0.250-127.0.1.2, 127.0.0.9").expect("cross octet");
        assert_eq!(ips.len(), 10);
        assert_eq!(ips[6], IpAddr::from([127, 0, 1, 0]));
        assert_eq!(ips[9], IpAddr::from([127, 0, 0, 9]));
        assert_eq!(parse_source_ips("127.0.0.1-20").expect("short").len(), 20);
        assert_eq!(
            parse_source_ips("::1").expect("v6"),
            vec!["::1".parse::<IpAddr>().expect("ip")]
        );
    }

    #[test]
    fn rejects_bad_and_non_loopback() {
        assert!(parse_source_ips("127.0.0.5-127.0.0.1").is_err());
        assert!(parse_source_ips("10.0.0.1").is_err());
        assert!(parse_source_ips("127.0.0.1-128.0.0.1").is_err());
        assert!(parse_source_ips("nonsense").is_err());
        assert!(parse_source_ips("").is_err());
        assert!(parse_source_ips("127.0.0.0-127.255.255.255").is_err());
    }

    #[test]
    fn targets_must_all_be_loopback() {
        let lo: SocketAddr = "127.0.0.1:5222".parse().expect("addr");
        let v6: SocketAddr = "[::1]:5222".parse().expect("addr");
        let far: SocketAddr = "192.0.2.1:5222".parse().expect("addr");
        assert_eq!(check_targets("x", &[lo, v6]).expect("ok"), lo);
        assert!(check_targets("x", &[lo, far]).is_err());
        assert!(check_targets("x", &[]).is_err());
        assert!(is_loopback("::ffff:127.0.0.2".parse().expect("ip")));
    }
}
