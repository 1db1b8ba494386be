//! A seeded call-center simulator on fake time, to measure the wait estimator against the
//! waits that really follow: arrivals (steady or in bursts), a route's lines, log-normal
//! handle times, visitors who give up, a FIFO queue served the moment a line frees. At every
//! arrival that has to queue, the estimator sees only what the platform would see (lines,
//! the age of each busy call, the queue length, what it learned from finished calls) and its
//! estimate for the new request is kept; the request's real wait is its dial time minus its
//! arrival. The estimate is also recomputed for every waiting request each 30 s (the
//! visitor's page is each 5 s; a sample of those is enough to measure) and compared with the
//! wait that remained.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::estimate::{Learned, QueueState, estimate_waits};

/// How often the simulation recomputes and samples every waiting request's estimate.
const TICK_MS: u64 = 30_000;

/// One simulated route.
#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    seed: u64,
    lines: usize,
    hours: f64,
    /// Offered load (arrival rate × mean handle / lines) outside bursts.
    load: f64,
    /// Bursts: every `burst_every_s`, for `burst_s`, the load is `burst_load`.
    burst_every_s: f64,
    burst_s: f64,
    burst_load: f64,
    handle_mean_s: f64,
    /// Coefficient of variation of the handle time.
    handle_cv: f64,
    /// Mean patience of a waiting visitor (exponential), after which they leave.
    patience_mean_s: f64,
    /// What the policy says a call lasts before anything is learned (deliberately not the
    /// real mean).
    default_handle_s: u64,
}

#[derive(Debug, Default)]
struct Measured {
    arrivals: usize,
    queued: usize,
    dialed_from_queue: usize,
    left: usize,
    /// (estimate at arrival, real wait) in seconds, for queued requests that were dialed.
    at_arrival: Vec<(f64, f64)>,
    /// (estimate, real remaining wait) in seconds, every tick for every waiting request.
    recomputed: Vec<(f64, f64)>,
    max_queue: usize,
}

/// Mean absolute error and bias, each as a share of the mean real wait.
fn accuracy(pairs: &[(f64, f64)]) -> (f64, f64, f64) {
    let n = pairs.len() as f64;
    let mean = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let mae = pairs.iter().map(|p| (p.0 - p.1).abs()).sum::<f64>() / n;
    let bias = pairs.iter().map(|p| p.0 - p.1).sum::<f64>() / n;
    (mean, mae / mean, bias / mean)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A call ends on this line.
    CallEnd(usize),
    /// The request with this id runs out of patience.
    GiveUp(u64),
    Arrival,
    /// The recompute of every waiting request's estimate.
    Tick,
}

struct Waiting {
    id: u64,
    arrived_ms: u64,
    /// The estimate when it queued, ms.
    estimate_ms: u64,
    /// (tick time, estimate) of each recompute, ms.
    ticks: Vec<(u64, u64)>,
}

fn exp_sample(rng: &mut StdRng, mean: f64) -> f64 {
    let u: f64 = rng.random::<f64>().max(1e-12);
    -mean * u.ln()
}

fn lognormal_sample(rng: &mut StdRng, mean: f64, cv: f64) -> f64 {
    let sigma2 = (1.0 + cv * cv).ln();
    let mu = mean.ln() - sigma2 / 2.0;
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (mu + sigma2.sqrt() * z).exp()
}

/// What the platform's estimator would say now: it sees each busy line's age and how many
/// wait, nothing of the calls' real lengths.
fn estimate(
    now: u64,
    lines: &[Option<u64>],
    waiting: usize,
    learned: &Learned,
) -> Option<Vec<Duration>> {
    let busy: Vec<Duration> = lines
        .iter()
        .flatten()
        .map(|since| Duration::from_millis(now - since))
        .collect();
    let state = QueueState {
        lines: lines.len(),
        busy_for: &busy,
        waiting,
    };
    estimate_waits(state, learned)
}

fn run(sc: Scenario) -> Measured {
    let mut rng = StdRng::seed_from_u64(sc.seed);
    let end_ms = (sc.hours * 3600.0 * 1000.0) as u64;
    // The first half hour teaches the estimator; it is not measured.
    let warm_ms = 30 * 60 * 1000;
    let capacity_rate = sc.lines as f64 / sc.handle_mean_s;
    let rate_at = |t_ms: u64| {
        let t = t_ms as f64 / 1000.0;
        let in_burst = sc.burst_every_s > 0.0 && t % sc.burst_every_s < sc.burst_s;
        capacity_rate * if in_burst { sc.burst_load } else { sc.load }
    };
    let max_rate = capacity_rate * sc.load.max(sc.burst_load);

    let mut learned = Learned::new(Duration::from_secs(sc.default_handle_s));
    let mut lines: Vec<Option<u64>> = vec![None; sc.lines];
    let mut queue: VecDeque<Waiting> = VecDeque::new();
    let mut events: BinaryHeap<Reverse<(u64, Event)>> = BinaryHeap::new();
    let mut m = Measured::default();
    let mut next_id = 0u64;
    let next_arrival = |rng: &mut StdRng, now: u64| -> u64 {
        // Thinning: candidates at the maximum rate, kept with rate(t) / max.
        let mut t = now;
        loop {
            t += (exp_sample(rng, 1.0 / max_rate) * 1000.0) as u64 + 1;
            if rng.random::<f64>() * max_rate <= rate_at(t) {
                return t;
            }
        }
    };
    let first = next_arrival(&mut rng, 0);
    events.push(Reverse((first, Event::Arrival)));
    events.push(Reverse((TICK_MS, Event::Tick)));

    // Dials the head of the queue on a free line, if both exist.
    let dial = |now: u64,
                lines: &mut [Option<u64>],
                events: &mut BinaryHeap<Reverse<(u64, Event)>>,
                rng: &mut StdRng,
                line: usize| {
        lines[line] = Some(now);
        let handle = (lognormal_sample(rng, sc.handle_mean_s, sc.handle_cv) * 1000.0) as u64;
        events.push(Reverse((now + handle.max(1000), Event::CallEnd(line))));
    };

    while let Some(Reverse((now, event))) = events.pop() {
        if now > end_ms {
            break;
        }
        let measured = now >= warm_ms;
        match event {
            Event::Arrival => {
                let t = next_arrival(&mut rng, now);
                events.push(Reverse((t, Event::Arrival)));
                if measured {
                    m.arrivals += 1;
                }
                if queue.is_empty()
                    && let Some(free) = lines.iter().position(Option::is_none)
                {
                    dial(now, &mut lines, &mut events, &mut rng, free);
                    continue;
                }
                let estimate = estimate(now, &lines, queue.len() + 1, &learned)
                    .and_then(|w| w.last().copied())
                    .unwrap_or_default();
                let id = next_id;
                next_id += 1;
                queue.push_back(Waiting {
                    id,
                    arrived_ms: now,
                    estimate_ms: u64::try_from(estimate.as_millis()).unwrap_or(u64::MAX),
                    ticks: Vec::new(),
                });
                let patience = (exp_sample(&mut rng, sc.patience_mean_s) * 1000.0) as u64;
                events.push(Reverse((now + patience, Event::GiveUp(id))));
                if measured {
                    m.queued += 1;
                    m.max_queue = m.max_queue.max(queue.len());
                }
            }
            Event::CallEnd(line) => {
                if let Some(since) = lines[line].take() {
                    learned.call_ended(Duration::from_millis(now - since));
                }
                if let Some(w) = queue.pop_front() {
                    learned.request_left_queue(true, Duration::from_millis(now - w.arrived_ms));
                    dial(now, &mut lines, &mut events, &mut rng, line);
                    if w.arrived_ms >= warm_ms {
                        m.dialed_from_queue += 1;
                        let wait = (now - w.arrived_ms) as f64 / 1000.0;
                        m.at_arrival.push((w.estimate_ms as f64 / 1000.0, wait));
                        for (at, est) in w.ticks {
                            m.recomputed
                                .push((est as f64 / 1000.0, (now - at) as f64 / 1000.0));
                        }
                    }
                }
            }
            Event::GiveUp(id) => {
                if let Some(at) = queue.iter().position(|w| w.id == id)
                    && let Some(w) = queue.remove(at)
                {
                    learned.request_left_queue(false, Duration::from_millis(now - w.arrived_ms));
                    if measured {
                        m.left += 1;
                    }
                }
            }
            Event::Tick => {
                events.push(Reverse((now + TICK_MS, Event::Tick)));
                if !measured || queue.is_empty() {
                    continue;
                }
                if let Some(waits) = estimate(now, &lines, queue.len(), &learned) {
                    for (w, est) in queue.iter_mut().zip(waits) {
                        let est = u64::try_from(est.as_millis()).unwrap_or(u64::MAX);
                        w.ticks.push((now, est));
                    }
                }
            }
        }
    }
    m
}

const STEADY: Scenario = Scenario {
    name: "",
    seed: 0,
    lines: 0,
    hours: 12.0,
    load: 1.0,
    burst_every_s: 0.0,
    burst_s: 0.0,
    burst_load: 0.0,
    handle_mean_s: 180.0,
    handle_cv: 0.6,
    patience_mean_s: 1200.0,
    default_handle_s: 240,
};

/// The target: on steady and bursty arrivals, 5 to 50 lines, handle times around
/// 180 s (log-normal, CV 0.6), visitors giving up after 20 minutes on average, the estimate
/// a request gets when it queues has a mean absolute error of at most 25 % of the mean wait
/// and a bias of at most 10 %. Half an hour of warm-up teaches the estimator (its default
/// handle time is 240 s, deliberately wrong). The figures are printed
/// (`cargo test -p platform --lib queue -- --nocapture`).
#[test]
fn wait_estimates_are_within_a_quarter_of_the_real_wait_and_unbiased() {
    let scenarios = [
        Scenario {
            name: "steady, 5 lines, load 1.10",
            seed: 1,
            lines: 5,
            load: 1.10,
            ..STEADY
        },
        Scenario {
            name: "steady, 20 lines, load 1.05",
            seed: 2,
            lines: 20,
            load: 1.05,
            ..STEADY
        },
        Scenario {
            name: "steady, 50 lines, load 1.03",
            seed: 3,
            lines: 50,
            load: 1.03,
            ..STEADY
        },
        Scenario {
            name: "bursty, 10 lines, 0.8 with 2.5 for 15 min every 2 h",
            seed: 4,
            lines: 10,
            load: 0.8,
            burst_every_s: 7200.0,
            burst_s: 900.0,
            burst_load: 2.5,
            ..STEADY
        },
        Scenario {
            name: "bursty, 50 lines, 0.9 with 1.6 for 20 min every 90 min",
            seed: 5,
            lines: 50,
            load: 0.9,
            burst_every_s: 5400.0,
            burst_s: 1200.0,
            burst_load: 1.6,
            ..STEADY
        },
    ];
    let mut failures = Vec::new();
    println!(
        "scenario | arrivals | queued | dialed from queue | gave up | max queue | mean wait s | \
         at arrival: MAE % / bias % | recomputed: MAE % / bias % (n)"
    );
    for sc in scenarios {
        let m = run(sc);
        assert!(
            m.at_arrival.len() >= 200,
            "{}: too few queued requests to measure ({})",
            sc.name,
            m.at_arrival.len()
        );
        let (mean, mae, bias) = accuracy(&m.at_arrival);
        let (_, r_mae, r_bias) = accuracy(&m.recomputed);
        println!(
            "{} | {} | {} | {} | {} | {} | {:.0} | {:.1} / {:+.1} | {:.1} / {:+.1} ({})",
            sc.name,
            m.arrivals,
            m.queued,
            m.dialed_from_queue,
            m.left,
            m.max_queue,
            mean,
            mae * 100.0,
            bias * 100.0,
            r_mae * 100.0,
            r_bias * 100.0,
            m.recomputed.len()
        );
        // The target, on the estimate a request is given when it queues (the one
        // stored with it): MAE ≤ 25 % of the mean wait, |bias| ≤ 10 %.
        if mae > 0.25 || bias.abs() > 0.10 {
            failures.push(format!(
                "{} (at arrival): MAE {mae:.3}, bias {bias:+.3}",
                sc.name
            ));
        }
        // The recomputed estimates are held to the same bias; their MAE to 30 %: they include
        // the last seconds before a request's turn, whose remaining wait is short and, with
        // few lines, spread (5 lines: 29 % on this seed).
        if r_mae > 0.30 || r_bias.abs() > 0.10 {
            failures.push(format!(
                "{} (recomputed): MAE {r_mae:.3}, bias {r_bias:+.3}",
                sc.name
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
