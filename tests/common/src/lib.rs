//! Shared setup for behaviour tests: starts the real `callbond` binary on port 0 with a
//! temporary database and tells the test where it listens. Peers (SIPp, Chromium) get their
//! own modules. Nothing here imitates a peer.

pub mod audio;
pub mod browser;
pub mod callbond;
pub mod capture;
pub mod flow;
pub mod flow_steps;
pub mod net;
pub mod netns;
pub mod seed;
pub mod sip_capture;
pub mod sipp;

pub use browser::Browser;
pub use callbond::{Callbond, Options};
