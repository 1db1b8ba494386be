//! Fifty full flows one after another through one running binary (link → form → both legs →
//! sign-on → bridge → agent digit 1 pushes page 1 → agent hangs up): every one completes with
//! the same outcome, and afterwards no call is active, every leg placed was seen to end and
//! the binary holds no more sockets (media ports) than before the first call.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use testkit::flow::{Rig, RigOptions, summary};
use testkit::seed::{self, Seed};
use testkit::sipp::SippOptions;

const FLOWS: u32 = 50;

#[tokio::test]
async fn fifty_flows_in_a_row_complete_and_leak_nothing() {
    let peer = SippOptions {
        calls: FLOWS,
        pause_ms: 300,
        timeout: Duration::from_secs(280),
    };
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            user: peer.clone(),
            center_scenario: "flow_center_quick.xml",
            center: peer,
            // No whisper: the bridge follows the sign-on at once, keeping each flow short.
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
    let mut failures = Vec::new();
    for n in 0..FLOWS {
        let outcome = async {
            let session = rig.request_call(&seed::user_number(100 + n)).await?;
            let events = rig
                .sse_until_ended(&session, Duration::from_secs(30))
                .await?;
            let call = rig.wait_finished(&session, Duration::from_secs(10)).await?;
            anyhow::Ok((summary(&events), call.end_cause))
        }
        .await;
        match outcome {
            Ok((events, cause))
                if events
                    == [
                        "status:calling",
                        "status:connecting",
                        "status:agent_on_line",
                        "page:Tariff overview",
                        "ended:agent_hung_up",
                    ]
                    && cause.as_deref() == Some("agent_hung_up") => {}
            other => failures.push(format!("flow {n}: {other:?}")),
        }
    }
    let elapsed = started.elapsed();
    rig.center.passed(Duration::from_secs(30)).await.unwrap();
    rig.user.passed(Duration::from_secs(30)).await.unwrap();
    let sockets = rig
        .sockets_settle(baseline, Duration::from_secs(10))
        .await
        .unwrap();
    let (dialed, ended) = rig.legs_dialed_and_ended();
    println!(
        "{FLOWS} sequential flows in {elapsed:?}: {} failed; legs dialed {dialed}, ended {ended}; \
         sockets before {baseline}, after {sockets}; active calls {}",
        failures.len(),
        rig.active_calls().unwrap()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(rig.active_calls().unwrap(), 0);
    assert_eq!((dialed, ended), (2 * FLOWS as usize, 2 * FLOWS as usize));
    assert!(
        sockets <= baseline,
        "sockets {baseline} before, {sockets} after"
    );
}
