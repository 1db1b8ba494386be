//! Stopping the platform (SIGTERM) during a bridged call: the runtime ends the call, both
//! phones get a BYE, the record is finished as `cancelled` with both legs hung up by us, and
//! the binary exits cleanly — no leg is left open behind a stopped platform.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use subscriber_db::Db;
use testkit::flow::{Rig, RigOptions};
use testkit::flow_steps::assert_end_causes;
use testkit::seed::{self, Seed};

#[tokio::test]
async fn shutdown_hangs_up_both_legs_and_closes_the_record() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            user_scenario: "flow_answer_stream_wait_bye.xml",
            center_scenario: "flow_answer_stream_wait_bye.xml",
            seed: Seed::with_policy(json!({ "sign_on": { "mode": "none" } })),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let session = rig.request_call(&seed::user_number(10)).await.unwrap();
    rig.wait_state(&session, "bridged", Duration::from_secs(30))
        .await
        .unwrap();
    let status = rig.cb.terminate(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "callbond exited with {status}");
    rig.user.passed(Duration::from_secs(10)).await.unwrap();
    rig.center.passed(Duration::from_secs(10)).await.unwrap();
    let db = Db::open(rig.cb.db_path()).unwrap();
    let call = db.get_call(&rig.sid, &session).unwrap();
    assert!(call.ended_at.is_some(), "record left open: {call:?}");
    assert_end_causes(&call, "cancelled", "local_hangup", "local_hangup");
    assert_eq!(db.count_active_calls(&rig.sid).unwrap(), 0);
    let (dialed, ended) = rig.legs_dialed_and_ended();
    assert_eq!((dialed, ended), (2, 2), "{}", rig.cb.logs());
}
