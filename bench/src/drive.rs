//! What every target's workload shares: the message schedule (which message is next, when
//! sending stops, when senders give up retrying), the senders (closed or open loop), and the
//! end of a run (stop sending, let retries finish, wait for outstanding deliveries).

use crate::Load;
use crate::tracker::Tracker;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Open loop: most sends outstanding per connection (the relay allows 256 streams).
pub(crate) const OPEN_LOOP_INFLIGHT: usize = 200;

/// The message schedule of one run.
pub(crate) struct Schedule {
    next: AtomicU64,
    count: Option<u64>,
    stop: AtomicBool,
    /// Senders give up retrying after this instant (set when sending stops).
    give_up_at: Mutex<Option<Instant>>,
    /// The run's clock: latencies are differences of `now_ns` readings.
    pub(crate) t0: Instant,
}

impl Schedule {
    /// A schedule that hands out message numbers from 0, at most `count` of them.
    pub(crate) fn new(count: Option<u64>) -> Self {
        Schedule {
            next: AtomicU64::new(0),
            count,
            stop: AtomicBool::new(false),
            give_up_at: Mutex::new(None),
            t0: Instant::now(),
        }
    }

    /// Nanoseconds since the run's clock started.
    pub(crate) fn now_ns(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }

    /// The next message to send, or `None` once sending stopped or the count is reached.
    pub(crate) fn next_message(&self) -> Option<u64> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        match self.count {
            Some(c) if n >= c => None,
            _ => Some(n),
        }
    }

    /// Whether a sender should stop retrying.
    pub(crate) fn giving_up(&self) -> bool {
        match self.give_up_at.lock() {
            Ok(g) => g.is_some_and(|t| Instant::now() >= t),
            Err(_) => true,
        }
    }

    /// Stops handing out messages; senders keep retrying what they hold for `drain`.
    fn stop(&self, drain: Duration) -> Instant {
        let now = Instant::now();
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(mut g) = self.give_up_at.lock() {
            *g = Some(now + drain);
        }
        now
    }
}

/// Starts the senders, one set per connection: closed loop (`load.inflight` sends outstanding
/// per connection) or, with `load.rate`, open loop (each connection sends on its own clock and
/// latency counts from the scheduled time). `send(ctx, conn, n, sent_ns)` sends message `n`
/// and returns once it is acknowledged or given up; `ctx` is the target's shared state.
pub(crate) fn spawn_senders<T, C, F, Fut>(
    load: &Load,
    schedule: &Arc<Schedule>,
    ctx: &T,
    conns: &[C],
    send: F,
) -> JoinSet<()>
where
    T: Clone + Send + Sync + 'static,
    C: Clone + Send + Sync + 'static,
    F: Fn(T, C, u64, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut senders = JoinSet::new();
    for (i, conn) in conns.iter().enumerate() {
        match load.rate {
            None => {
                for _ in 0..load.inflight {
                    let (schedule, ctx, conn, send) =
                        (schedule.clone(), ctx.clone(), conn.clone(), send.clone());
                    senders.spawn(async move {
                        while let Some(n) = schedule.next_message() {
                            send(ctx.clone(), conn.clone(), n, schedule.now_ns()).await;
                        }
                    });
                }
            }
            Some(rate) => {
                let (schedule, ctx, conn, send) =
                    (schedule.clone(), ctx.clone(), conn.clone(), send.clone());
                let period = Duration::from_secs_f64(load.connections as f64 / rate);
                let mut tick = load.send_clock(i, period);
                senders.spawn(async move {
                    let gate = Arc::new(Semaphore::new(OPEN_LOOP_INFLIGHT));
                    let mut inflight = JoinSet::new();
                    loop {
                        let at = tick.tick().await;
                        let Some(n) = schedule.next_message() else {
                            break;
                        };
                        // Latency counts from the scheduled time, not from when a slot freed up.
                        let t = at
                            .into_std()
                            .saturating_duration_since(schedule.t0)
                            .as_nanos() as u64;
                        let Ok(permit) = gate.clone().acquire_owned().await else {
                            break;
                        };
                        let fut = send(ctx.clone(), conn.clone(), n, t);
                        inflight.spawn(async move {
                            fut.await;
                            drop(permit);
                        });
                        while inflight.try_join_next().is_some() {}
                    }
                    while inflight.join_next().await.is_some() {}
                });
            }
        }
    }
    senders
}

/// Runs the senders until `load.duration` has passed (or they ran out of messages).
#[cfg(any(feature = "nats", feature = "mqtt"))]
pub(crate) async fn run_for(load: &Load, start: Instant, senders: &mut JoinSet<()>) {
    let end = start + load.duration;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end.into()) => break,
            r = senders.join_next() => if r.is_none() { break },
        }
    }
}

/// Ends the sending: no new messages, retries for at most `load.drain`, then waits (as long
/// again at most) until every acknowledged message was delivered. Returns when sending ended.
pub(crate) async fn finish(
    load: &Load,
    schedule: &Schedule,
    senders: &mut JoinSet<()>,
    tracker: &Tracker,
) -> Instant {
    let send_end = schedule.stop(load.drain);
    while senders.join_next().await.is_some() {}
    let drain_end = Instant::now() + load.drain;
    while tracker.outstanding() > 0 && Instant::now() < drain_end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    send_end
}
