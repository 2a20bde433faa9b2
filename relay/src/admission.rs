//! Admission of new QUIC connections: which Initial packets get a connection, a Retry or a
//! refusal, and the counts of half-open (handshake running) and established connections
//! behind those decisions (spec/relay-protocol.md §8).
//!
//! An Initial packet costs its sender one datagram, whose source address may be forged, while
//! a connection in handshake costs the relay tens of KiB until the handshake ends. So:
//!
//! * only established connections count against `max_connections`;
//! * once `half_open_retry_threshold` connections are half-open, an Initial whose source
//!   address is not yet validated gets a stateless QUIC Retry instead of a connection: the
//!   relay keeps nothing, and only a sender that receives the Retry at that address comes
//!   back (with the token that validates it);
//! * per-address caps apply to what an address has proven: established connections, and
//!   half-open connections whose address is validated. A forged source address can never
//!   use up a real client's share;
//! * at most `max_half_open` connections are half-open; a handshake that has not completed
//!   within `handshake_timeout` is dropped (see `connection::handle`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};

/// The limits admission enforces (from [`crate::config::RelayConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most established connections.
    pub(crate) max_connections: usize,
    /// Most established connections from one address.
    pub(crate) max_connections_per_ip: usize,
    /// Most half-open connections.
    pub(crate) max_half_open: usize,
    /// Most half-open connections with a validated address from one address.
    pub(crate) max_half_open_per_ip: usize,
    /// Half-open connections from which on unvalidated addresses get a Retry.
    pub(crate) half_open_retry_threshold: usize,
}

impl Limits {
    pub(crate) fn of(c: &crate::config::RelayConfig) -> Self {
        Limits {
            max_connections: c.max_connections,
            max_connections_per_ip: c.max_connections_per_ip,
            max_half_open: c.max_half_open,
            max_half_open_per_ip: c.max_half_open_per_ip,
            half_open_retry_threshold: c.half_open_retry_threshold,
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `max_connections` established connections.
    Full,
    /// The address's established or half-open share is used up.
    PerIp,
    /// `max_half_open` connections are half-open.
    HalfOpen,
}

impl Refusal {
    /// The reason sent with the CONNECTION_CLOSE of a connection refused after its
    /// handshake, and logged.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::Full => "relay full: too many connections",
            Refusal::PerIp => "too many connections from this address",
            Refusal::HalfOpen => "too many handshakes in progress",
        }
    }

    /// Counts the refusal in the metrics.
    pub(crate) fn record(self) {
        metrics::counter!("hush_relay_connections_refused_total").increment(1);
        if self == Refusal::PerIp {
            metrics::counter!("hush_relay_connections_refused_per_ip_total").increment(1);
        }
    }
}

/// What to do with an Initial packet.
pub(crate) enum Decision {
    /// Accept it: the connection holds this slot while its handshake runs.
    Accept(HalfOpen),
    /// Answer with a stateless Retry (the source address is not validated).
    Retry,
    /// Refuse it (CONNECTION_REFUSED, stateless).
    Refuse(Refusal),
}

/// The address key of the per-address caps: an IPv4 address (also when it arrives
/// IPv4-mapped on a dual-stack socket), or the /64 prefix of an IPv6 address, the smallest
/// block one host is usually given.
pub(crate) fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct PerIp {
    /// Half-open connections from this address whose address is validated.
    half_open: usize,
    established: usize,
}

#[derive(Debug, Default)]
struct Counts {
    half_open: usize,
    established: usize,
    per_ip: HashMap<IpAddr, PerIp>,
}

impl Counts {
    fn ip(&self, key: &IpAddr) -> PerIp {
        self.per_ip.get(key).copied().unwrap_or_default()
    }

    fn update_ip(&mut self, key: IpAddr, f: impl FnOnce(&mut PerIp)) {
        let e = self.per_ip.entry(key).or_default();
        f(e);
        if e.half_open == 0 && e.established == 0 {
            self.per_ip.remove(&key);
        }
    }

    fn publish(&self) {
        metrics::gauge!("hush_relay_connections_half_open").set(self.half_open as f64);
        metrics::gauge!("hush_relay_connections_active").set(self.established as f64);
    }
}

/// The relay's connection counts and the admission rule.
#[derive(Debug)]
pub(crate) struct Admission {
    limits: Limits,
    counts: Mutex<Counts>,
}

impl Admission {
    pub(crate) fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Admission {
            limits,
            counts: Mutex::new(Counts::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // The counts stay consistent whatever panicked while holding the lock: every update
        // is a few integer operations.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides about an Initial packet from `ip`; `validated` says whether its sender proved
    /// it receives at that address (a Retry or NEW_TOKEN token).
    pub(crate) fn decide(self: &Arc<Self>, ip: IpAddr, validated: bool) -> Decision {
        let l = &self.limits;
        let key = ip_key(ip);
        let mut c = self.lock();
        let share = c.ip(&key);
        if c.established >= l.max_connections {
            return Decision::Refuse(Refusal::Full);
        }
        if share.established >= l.max_connections_per_ip {
            return Decision::Refuse(Refusal::PerIp);
        }
        let per_ip_key = if validated {
            if share.half_open >= l.max_half_open_per_ip {
                return Decision::Refuse(Refusal::PerIp);
            }
            if c.half_open >= l.max_half_open {
                return Decision::Refuse(Refusal::HalfOpen);
            }
            c.update_ip(key, |p| p.half_open += 1);
            Some(key)
        } else {
            if c.half_open >= l.half_open_retry_threshold.min(l.max_half_open) {
                return Decision::Retry;
            }
            None
        };
        c.half_open += 1;
        c.publish();
        Decision::Accept(HalfOpen {
            admission: self.clone(),
            key,
            per_ip_key,
        })
    }

    /// Connections half-open and established now.
    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        let c = self.lock();
        (c.half_open, c.established)
    }
}

/// A connection whose handshake runs; dropping it frees its half-open slot.
#[derive(Debug)]
pub(crate) struct HalfOpen {
    admission: Arc<Admission>,
    key: IpAddr,
    /// Set when the connection counts in its address's half-open share.
    per_ip_key: Option<IpAddr>,
}

impl HalfOpen {
    /// The handshake completed: counts the connection as established, unless that would
    /// exceed `max_connections` or the address's share (the half-open slot is freed either
    /// way).
    pub(crate) fn establish(self) -> Result<Established, Refusal> {
        let a = self.admission.clone();
        let key = self.key;
        let l = &a.limits;
        let mut c = a.lock();
        if c.established >= l.max_connections {
            return Err(Refusal::Full);
        }
        if c.ip(&key).established >= l.max_connections_per_ip {
            return Err(Refusal::PerIp);
        }
        c.established += 1;
        c.update_ip(key, |p| p.established += 1);
        drop(c);
        drop(self);
        Ok(Established { admission: a, key })
    }
}

impl Drop for HalfOpen {
    fn drop(&mut self) {
        let mut c = self.admission.lock();
        c.half_open = c.half_open.saturating_sub(1);
        if let Some(key) = self.per_ip_key {
            c.update_ip(key, |p| p.half_open = p.half_open.saturating_sub(1));
        }
        c.publish();
    }
}

/// An established connection; dropping it frees its slot.
#[derive(Debug)]
pub(crate) struct Established {
    admission: Arc<Admission>,
    key: IpAddr,
}

impl Drop for Established {
    fn drop(&mut self) {
        let mut c = self.admission.lock();
        c.established = c.established.saturating_sub(1);
        c.update_ip(self.key, |p| {
            p.established = p.established.saturating_sub(1)
        });
        c.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn limits() -> Limits {
        Limits {
            max_connections: 4,
            max_connections_per_ip: 2,
            max_half_open: 6,
            max_half_open_per_ip: 2,
            half_open_retry_threshold: 3,
        }
    }

    fn accept(a: &Arc<Admission>, ip: IpAddr, validated: bool) -> HalfOpen {
        match a.decide(ip, validated) {
            Decision::Accept(h) => h,
            Decision::Retry => panic!("retry, expected accept"),
            Decision::Refuse(r) => panic!("refused ({r:?}), expected accept"),
        }
    }

    fn is_retry(d: Decision) -> bool {
        matches!(d, Decision::Retry)
    }

    fn refusal(d: Decision) -> Option<Refusal> {
        match d {
            Decision::Refuse(r) => Some(r),
            _ => None,
        }
    }

    #[test]
    fn unvalidated_initials_get_a_retry_past_the_threshold() {
        let a = Admission::new(limits());
        let held: Vec<_> = (0..3).map(|_| accept(&a, A, false)).collect();
        assert!(is_retry(a.decide(A, false)));
        assert!(is_retry(a.decide(B, false)));
        // Forged senders never use up an address's share: a validated client of that
        // address still gets in.
        let v = accept(&a, A, true);
        assert_eq!(a.counts(), (4, 0));
        drop(held);
        drop(v);
        assert_eq!(a.counts(), (0, 0));
        assert!(matches!(a.decide(B, false), Decision::Accept(_)));
    }

    #[test]
    fn validated_half_open_is_capped_per_address_and_in_total() {
        let a = Admission::new(limits());
        let _a1 = accept(&a, A, true);
        let _a2 = accept(&a, A, true);
        assert_eq!(refusal(a.decide(A, true)), Some(Refusal::PerIp));
        let _b: Vec<_> = (0..4)
            .map(|i| {
                let ip = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, i));
                accept(&a, ip, true)
            })
            .collect();
        assert_eq!(refusal(a.decide(B, true)), Some(Refusal::HalfOpen));
        // Past max_half_open an unvalidated sender is asked to validate, not refused.
        assert!(is_retry(a.decide(B, false)));
    }

    #[test]
    fn only_established_connections_count_against_the_limits() {
        let a = Admission::new(limits());
        let e1 = accept(&a, A, false).establish().unwrap();
        let _e2 = accept(&a, A, false).establish().unwrap();
        assert_eq!(a.counts(), (0, 2));
        assert_eq!(refusal(a.decide(A, false)), Some(Refusal::PerIp));
        assert_eq!(refusal(a.decide(A, true)), Some(Refusal::PerIp));
        // A handshake that completes once the address's share is gone is refused then.
        let h = accept(&a, B, false);
        let _e3 = accept(&a, B, false).establish().unwrap();
        let _e4 = accept(&a, B, true).establish().unwrap();
        assert_eq!(refusal(a.decide(B, false)), Some(Refusal::Full));
        assert_eq!(h.establish().unwrap_err(), Refusal::Full);
        assert_eq!(a.counts(), (0, 4));
        drop(e1);
        assert_eq!(a.counts(), (0, 3));
        assert!(matches!(a.decide(A, false), Decision::Accept(_)));
    }

    #[test]
    fn ipv6_addresses_share_their_64_prefix_and_mapped_ipv4_is_ipv4() {
        let x: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let y: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let z: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(x), ip_key(y));
        assert_ne!(ip_key(x), ip_key(z));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(ip_key(mapped), A);
    }
}
