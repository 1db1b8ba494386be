//! Twenty full flows at once through one running binary: all complete with the same outcome,
//! and afterwards no call is active, every leg placed was seen to end and the binary holds no
//! more sockets (media ports) than before.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use testkit::flow::{Rig, RigOptions, summary};
use testkit::seed::{self, Seed};
use testkit::sipp::SippOptions;

const FLOWS: u32 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_flows_at_once_complete_and_leak_nothing() {
    let peer = SippOptions {
        calls: FLOWS,
        pause_ms: 300,
        timeout: Duration::from_secs(120),
    };
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            user: peer.clone(),
            center_scenario: "flow_center_quick.xml",
            center: peer,
            seed: Seed {
                whisper_template: String::new(),
                ..Seed::default()
            },
            ..RigOptions::default()
        },
    )
    .unwrap();
    let baseline = rig.open_sockets().unwrap();
    let started = Instant::now();
    let flows = (0..FLOWS).map(|n| {
        let rig = &rig;
        async move {
            let session = rig.request_call(&seed::user_number(200 + n)).await?;
            let events = rig
                .sse_until_ended(&session, Duration::from_secs(60))
                .await?;
            let call = rig.wait_finished(&session, Duration::from_secs(20)).await?;
            anyhow::Ok((summary(&events), call.end_cause))
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
        .enumerate()
        .filter_map(|(n, outcome)| match outcome {
            Ok((events, cause))
                if events
                    == [
                        "status:calling",
                        "status:connecting",
                        "status:agent_on_line",
                        "page:Tariff overview",
                        "ended:agent_hung_up",
                    ]
                    && cause.as_deref() == Some("agent_hung_up") =>
            {
                None
            }
            other => Some(format!("flow {n}: {other:?}")),
        })
        .collect();
    rig.center.passed(Duration::from_secs(30)).await.unwrap();
    rig.user.passed(Duration::from_secs(30)).await.unwrap();
    let sockets = rig
        .sockets_settle(baseline, Duration::from_secs(10))
        .await
        .unwrap();
    let (dialed, ended) = rig.legs_dialed_and_ended();
    println!(
        "{FLOWS} concurrent flows in {elapsed:?}: {} failed; legs dialed {dialed}, ended {ended}; \
         sockets before {baseline}, peak {peak}, after {sockets}; active calls {}",
        failures.len(),
        rig.active_calls().unwrap()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(rig.active_calls().unwrap(), 0);
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
