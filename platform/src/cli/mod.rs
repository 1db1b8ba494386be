//! Subcommands of the `callbond` binary other than `serve`: each works against the local
//! database file or the configured trunks, and prints what an operator needs.

pub mod admin;
pub mod call;
