//! Fifty full flows one after another through one running binary (link → form → both legs →
//! sign-on → bridge → agent digit 1 pushes page 1 → agent hangs up): every one completes with
//! the same outcome, and afterwards no call is active, every leg placed was seen to end and
//! the binary holds no more sockets (media ports) than before the first call.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use testkit::flow::Rig;
use testkit::flow_steps::{quick_flow_failure, quick_flows};
use testkit::seed;

const FLOWS: u32 = 50;

#[tokio::test]
async fn fifty_flows_in_a_row_complete_and_leak_nothing() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        quick_flows(FLOWS, Duration::from_secs(280)),
    )
    .unwrap();
    let baseline = rig.open_sockets().unwrap();
    let started = Instant::now();
    let mut failures = Vec::new();
    for n in 0..FLOWS {
        let outcome = rig
            .quick_flow(
                &seed::user_number(100 + n),
                Duration::from_secs(30),
                Duration::from_secs(10),
            )
            .await;
        failures.extend(quick_flow_failure(n, outcome));
    }
    let elapsed = started.elapsed();
    let left = rig.leftovers(baseline).await.unwrap();
    let (sockets, dialed, ended) = (left.sockets, left.dialed, left.ended);
    println!(
        "{FLOWS} sequential flows in {elapsed:?}: {} failed; legs dialed {dialed}, ended {ended}; \
         sockets before {baseline}, after {sockets}; active calls {}",
        failures.len(),
        left.active_calls
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(left.active_calls, 0);
    assert_eq!((dialed, ended), (2 * FLOWS as usize, 2 * FLOWS as usize));
    assert!(
        sockets <= baseline,
        "sockets {baseline} before, {sockets} after"
    );
}
