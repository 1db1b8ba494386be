//! placeholder
pub mod media;
