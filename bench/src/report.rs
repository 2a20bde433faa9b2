//! The report of a load run: what it measured ([`Outcome`]), as JSON ([`report`]) and as
//! text ([`print_text`]).

use crate::Load;
use crate::relay_proc::Sample;
use crate::tracker::Totals;
use serde_json::json;
use std::time::Instant;

/// What a load run measured.
pub(crate) struct Outcome {
    pub start: Instant,
    pub send_end: Instant,
    pub totals: Totals,
    pub start_sample: Option<Sample>,
    pub end_sample: Option<Sample>,
    pub crashes: u32,
    /// QUIC counters of the client's connections (Hush only).
    pub quic: Option<QuicTotals>,
    /// The faults carried out and what they left (Hush only).
    pub faults: FaultReport,
}

/// What `--fault` and `--contend` found.
#[derive(Default)]
pub(crate) struct FaultReport {
    /// The `--contend` checks' report.
    pub contend: Option<serde_json::Value>,
    /// Each fault action: when, how long it took, and its error if it failed.
    pub log: Vec<serde_json::Value>,
    /// Per node, milliseconds from the end of the faults to its first receipt.
    pub recovery_ms: Vec<Option<f64>>,
}

/// What the load tool's QUIC connections sent and received over the whole run (handshakes,
/// setup and drain included), summed over the connections open at its end.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct QuicTotals {
    pub datagrams_sent: u64,
    pub datagrams_received: u64,
    pub ack_frames_sent: u64,
    pub ack_frames_received: u64,
    pub stop_sending_sent: u64,
    pub stop_sending_received: u64,
}

impl QuicTotals {
    pub(crate) fn add(&mut self, s: &quinn::ConnectionStats) {
        self.datagrams_sent += s.udp_tx.datagrams;
        self.datagrams_received += s.udp_rx.datagrams;
        self.ack_frames_sent += s.frame_tx.acks;
        self.ack_frames_received += s.frame_rx.acks;
        self.stop_sending_sent += s.frame_tx.stop_sending;
        self.stop_sending_received += s.frame_rx.stop_sending;
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn per_s(n: u64, from: Instant, to: Option<Instant>) -> f64 {
    match to {
        Some(t) if t > from => n as f64 / t.duration_since(from).as_secs_f64(),
        _ => 0.0,
    }
}

/// The report of a load run, as JSON.
pub(crate) fn report(target: &str, load: &Load, o: &Outcome) -> serde_json::Value {
    let t = &o.totals;
    let h = &t.hist;
    let errors: u64 = t.errors.values().sum();
    let q = |p: f64| {
        if h.is_empty() {
            0.0
        } else {
            ms(h.value_at_quantile(p))
        }
    };
    let mut v = json!({
        "target": target,
        "connections": load.connections,
        "mailboxes": load.mailboxes,
        "size": load.size,
        "rate_target": load.rate,
        "inflight": if load.rate.is_some() { None } else { Some(load.inflight) },
        "directory_stock": load.directory_stock,
        "send_seconds": o.send_end.duration_since(o.start).as_secs_f64(),
        "sends": t.receipted,
        "sends_per_s": per_s(t.receipted, o.start, t.last_receipt),
        "deliveries": t.deliveries,
        "deliveries_per_s": per_s(t.deliveries, o.start, t.last_delivery),
        "p50_ms": q(0.5),
        "p90_ms": q(0.9),
        "p99_ms": q(0.99),
        "p999_ms": q(0.999),
        "max_ms": if h.is_empty() { 0.0 } else { ms(h.max()) },
        "mean_ms": if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
        "errors": errors,
        "errors_by_kind": t.errors,
        "abandoned": t.abandoned,
        "crashes": o.crashes,
    });
    if load.verify {
        v["lost"] = json!(t.lost);
        v["duplicated"] = json!(t.duplicated);
        v["corrupted"] = json!(t.corrupted);
        v["redelivered"] = json!(t.redelivered);
        v["unreceipted_delivered"] = json!(t.unreceipted_delivered);
    }
    if let Some(c) = &o.faults.contend {
        v["contend"] = c.clone();
    }
    if !o.faults.log.is_empty() {
        v["faults"] = json!(o.faults.log);
        v["nodes_recovered_ms"] = json!(o.faults.recovery_ms);
    }
    if let Some(q) = o.quic {
        let per = |n: u64| {
            if t.receipted == 0 {
                0.0
            } else {
                n as f64 / t.receipted as f64
            }
        };
        v["client_quic"] = json!({
            "datagrams_sent": q.datagrams_sent,
            "datagrams_received": q.datagrams_received,
            "datagrams_per_send": per(q.datagrams_sent + q.datagrams_received),
            "ack_frames_sent": q.ack_frames_sent,
            "ack_frames_received": q.ack_frames_received,
            "stop_sending_sent": q.stop_sending_sent,
            "stop_sending_received": q.stop_sending_received,
        });
    }
    if let (Some(a), Some(b)) = (o.start_sample, o.end_sample) {
        v["relay_peak_rss_kib"] = json!(b.hwm_kib);
        v["relay_rss_kib"] = json!(b.rss_kib);
        v["relay_cpu_s"] = json!(Sample::cpu_s(b.cpu_ticks.saturating_sub(a.cpu_ticks)));
    }
    v
}

pub(crate) fn print_text(v: &serde_json::Value) {
    let g = |k: &str| v.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let f = |k: &str| g(k).as_f64().unwrap_or(0.0);
    let mode = match g("rate_target").as_f64() {
        Some(r) => format!("open loop at {r:.0}/s"),
        None => format!("closed loop, {} in flight per connection", g("inflight")),
    };
    println!(
        "{}: {} connections, {} mailboxes, {} B envelopes, {mode}",
        g("target").as_str().unwrap_or("?"),
        g("connections"),
        g("mailboxes"),
        g("size"),
    );
    println!(
        "  sends       {} acknowledged, {:.0}/s over {:.1} s",
        g("sends"),
        f("sends_per_s"),
        f("send_seconds")
    );
    println!(
        "  deliveries  {}, {:.0}/s",
        g("deliveries"),
        f("deliveries_per_s")
    );
    println!(
        "  latency     p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms (send to push)",
        f("p50_ms"),
        f("p99_ms"),
        f("p999_ms"),
        f("max_ms")
    );
    println!("  errors      {} {}", g("errors"), g("errors_by_kind"));
    if v.get("lost").is_some() {
        println!(
            "  verify      lost {}, duplicated {}, corrupted {} (redelivered {}, delivered without receipt {})",
            g("lost"),
            g("duplicated"),
            g("corrupted"),
            g("redelivered"),
            g("unreceipted_delivered")
        );
    }
    if let Some(c) = v.get("contend") {
        let n = |k: &str| c.get(k).cloned().unwrap_or(serde_json::Value::Null);
        println!(
            "  contend     prekeys: {} taken, {} twice, {} never uploaded; commits: {} acknowledged, \
             {} in the logs, {} epochs with two, {} gaps, {} acknowledged but missing",
            n("prekeys_taken"),
            n("prekeys_taken_twice"),
            n("prekeys_never_uploaded"),
            n("commits_acknowledged"),
            n("commits_in_logs"),
            n("epochs_with_two_commits"),
            n("epoch_gaps"),
            n("acknowledged_commits_missing")
        );
    }
    if let Some(faults) = v.get("faults").and_then(|f| f.as_array()) {
        for f in faults {
            println!(
                "  fault       at {:.1} s: {} ({:.2} s){}",
                f.get("at_s").and_then(|x| x.as_f64()).unwrap_or(0.0),
                f.get("action").and_then(|x| x.as_str()).unwrap_or("?"),
                f.get("took_s").and_then(|x| x.as_f64()).unwrap_or(0.0),
                match f.get("error").and_then(|x| x.as_str()) {
                    Some(e) => format!(", FAILED: {e}"),
                    None => String::new(),
                }
            );
        }
        println!(
            "  recovered   ms after the last fault to each node's first receipt: {}",
            g("nodes_recovered_ms")
        );
    }
    if g("crashes").as_u64().unwrap_or(0) > 0 {
        println!("  crashes     {} (SIGKILL + restart)", g("crashes"));
    }
    if v.get("relay_cpu_s").is_some() {
        println!(
            "  relay       peak RSS {} KiB, CPU {:.2} s",
            g("relay_peak_rss_kib"),
            f("relay_cpu_s")
        );
    }
    if let Some(q) = v.get("client_quic") {
        let n = |k: &str| q.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
        println!(
            "  client QUIC {} datagrams sent, {} received ({:.2} per acknowledged send); \
             STOP_SENDING sent {}, received {}",
            n("datagrams_sent"),
            n("datagrams_received"),
            q.get("datagrams_per_send")
                .and_then(|x| x.as_f64())
                .unwrap_or(0.0),
            n("stop_sending_sent"),
            n("stop_sending_received")
        );
    }
}
