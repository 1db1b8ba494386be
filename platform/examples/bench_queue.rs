//! Benchmark of the callback queue's recompute (issue 13): what one tick costs, in which the
//! estimate of every waiting request is computed again (the visitor's page shows it, at least
//! every 5 s), with 10,000 requests waiting in all, spread over 1, 100 or 1,000 routes; and
//! reading a 10,000-request queue from the database and taking its head. Beside each figure,
//! the cost of the simplest estimate in the same run (position × mean handle ÷ lines, the
//! Erlang-C style a contact center shows), as the reference. Not a test: prints a table.
//!
//! `scripts/bench-queue` runs it in release mode.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use platform::queue::{Learned, QueueState, estimate_waits};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use subscriber_db::{CallbackKind, Db, NewCallback, NewSubscriber, SessionId, SubjectCode};

/// Log-normal handle times around 180 s (CV 0.6), as in the estimator's simulation.
fn handle(rng: &mut StdRng) -> Duration {
    let sigma2 = (1.0f64 + 0.36).ln();
    let mu = 180f64.ln() - sigma2 / 2.0;
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    Duration::from_secs_f64((mu + sigma2.sqrt() * z).exp())
}

struct Route {
    learned: Learned,
    busy_for: Vec<Duration>,
    waiting: usize,
}

/// `routes` routes of `lines` busy lines each, 10,000 requests waiting in all.
fn routes(rng: &mut StdRng, routes: usize, lines: usize) -> Vec<Route> {
    (0..routes)
        .map(|_| {
            let mut learned = Learned::new(Duration::from_secs(240));
            for _ in 0..256 {
                learned.call_ended(handle(rng));
            }
            let busy_for = (0..lines)
                .map(|_| Duration::from_secs(rng.random_range(0..300)))
                .collect();
            Route {
                learned,
                busy_for,
                waiting: 10_000 / routes,
            }
        })
        .collect()
}

/// Median of `runs` timings of one tick over every route, in µs.
fn tick_us(routes: &[Route], runs: usize, tick: impl Fn(&Route) -> usize) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let mut n = 0;
            for route in routes {
                n += tick(route);
            }
            black_box(n);
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn ours(route: &Route) -> usize {
    let state = QueueState {
        lines: route.busy_for.len(),
        busy_for: &route.busy_for,
        waiting: route.waiting,
    };
    estimate_waits(state, &route.learned).map_or(0, |w| black_box(w).len())
}

fn simplest(route: &Route) -> usize {
    let per_line = route.learned.mean_handle().as_secs_f64() / route.busy_for.len() as f64;
    let waits: Vec<Duration> = (0..route.waiting)
        .map(|k| Duration::from_secs_f64((k + 1) as f64 * per_line))
        .collect();
    black_box(waits).len()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = StdRng::seed_from_u64(13);
    println!(
        "| routes | lines each | waiting each | tick, ours (ms) | µs / request | tick, simplest (ms) | ours ÷ simplest |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (n, lines) in [(1, 50), (100, 20), (1000, 5)] {
        let routes = routes(&mut rng, n, lines);
        let ours_us = tick_us(&routes, 21, ours);
        let simplest_us = tick_us(&routes, 21, simplest);
        println!(
            "| {n} | {lines} | {} | {:.2} | {:.2} | {:.3} | {:.0} |",
            10_000 / n,
            ours_us / 1000.0,
            ours_us / 10_000.0,
            simplest_us / 1000.0,
            ours_us / simplest_us
        );
    }

    // The database side of a tick: read one route's 10,000-request queue (positions for
    // every visitor page), and take its head for a dial.
    let dir = std::env::temp_dir().join(format!("bench-queue-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = Db::open(dir.join("bench.db"))?;
    let sid = "benchco".parse()?;
    let now = Utc::now();
    db.create_subscriber(
        &NewSubscriber {
            id: "benchco".parse()?,
            display_name: "Bench Co".parse()?,
            active: true,
        },
        now,
    )?;
    let sales: SubjectCode = "sales".parse()?;
    let started = Instant::now();
    for i in 0..10_000u32 {
        let new = NewCallback {
            subject_code: sales.clone(),
            user_number: format!("+1201555{:04}", i % 10_000).parse()?,
            page_session: SessionId::new_random(),
            kind: CallbackKind::Queued,
            priority: 0,
            due_at: now,
            slot_end: None,
            predicted_wait_ms: Some(60_000),
            form_digest: None,
            whisper_code: None,
            came_from: Some("https://shop.example/help".to_owned()),
            client_ip: Some("198.51.100.7".parse()?),
            consent_key: None,
        };
        db.enqueue_callback(&sid, &new, now)?;
    }
    let enqueue_us = started.elapsed().as_secs_f64() * 1e6 / 10_000.0;
    let mut reads: Vec<f64> = (0..11)
        .map(|_| {
            let started = Instant::now();
            let queue = db.callback_queue(&sid, &sales, now);
            black_box(queue.map(|q| q.len()).unwrap_or(0));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    reads.sort_by(f64::total_cmp);
    let mut pages: Vec<f64> = (0..11)
        .map(|_| {
            let started = Instant::now();
            let queue = db.callback_queue_pages(&sid, &sales, now);
            black_box(queue.map(|q| q.len()).unwrap_or(0));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    pages.sort_by(f64::total_cmp);
    let started = Instant::now();
    let mut claimed = 0;
    for _ in 0..100 {
        if db.claim_next_callback(&sid, &sales, now)?.is_some() {
            claimed += 1;
        }
    }
    let claim_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(claimed.max(1));
    println!();
    println!("| database (file, WAL) | figure |");
    println!("|---|---:|");
    println!("| book one request (committed) | {enqueue_us:.0} µs |");
    println!(
        "| read a 10,000-request queue in order, whole rows | {:.1} ms |",
        reads[reads.len() / 2]
    );
    println!(
        "| the same, ids and page sessions only (a tick's read) | {:.1} ms |",
        pages[pages.len() / 2]
    );
    println!("| take the head of a 10,000-request queue | {claim_us:.0} µs |");
    drop(db);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
