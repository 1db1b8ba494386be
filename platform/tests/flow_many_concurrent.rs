//! Twenty full flows at once through one running binary: all complete with the same outcome,
//! and afterwards no call is active, every leg placed was seen to end and the binary holds no
//! more sockets (media ports) than before.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use testkit::flow::Rig;
use testkit::flow_steps::{quick_flow_failure, quick_flows};
use testkit::seed;

const FLOWS: u32 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_flows_at_once_complete_and_leak_nothing() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        quick_flows(FLOWS, Duration::from_secs(120)),
    )
    .unwrap();
    let baseline = rig.open_sockets().unwrap();
    let started = Instant::now();
    let flows = (0..FLOWS).map(|n| {
        let rig = &rig;
        async move {
            let number = seed::user_number(200 + n);
            rig.quick_flow(&number, Duration::from_secs(60), Duration::from_secs(20))
                .await
        }
    });
    // The highest socket count while calls run: proves the count sees media ports at all.
    let mut peak = baseline;
    let sampler = async {
        loop {
            peak = peak.max(rig.open_sockets().unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let outcomes = tokio::select! {
        outcomes = futures::future::join_all(flows) => outcomes,
        () = sampler => unreachable!("the sampler never ends"),
    };
    let elapsed = started.elapsed();
    let failures: Vec<String> = outcomes
        .into_iter()
        .zip(0..FLOWS)
        .filter_map(|(outcome, n)| quick_flow_failure(n, outcome))
        .collect();
    let left = rig.leftovers(baseline).await.unwrap();
    let (sockets, dialed, ended) = (left.sockets, left.dialed, left.ended);
    println!(
        "{FLOWS} concurrent flows in {elapsed:?}: {} failed; legs dialed {dialed}, ended {ended}; \
         sockets before {baseline}, peak {peak}, after {sockets}; active calls {}",
        failures.len(),
        left.active_calls
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(left.active_calls, 0);
    assert_eq!((dialed, ended), (2 * FLOWS as usize, 2 * FLOWS as usize));
    assert!(
        peak >= baseline + 2 * FLOWS as usize,
        "peak {peak}: media sockets not seen"
    );
    assert!(
        sockets <= baseline,
        "sockets {baseline} before, {sockets} after"
    );
}
