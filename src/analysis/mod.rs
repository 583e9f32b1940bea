//! Analysis: the pure canary-vs-stable judge and the providers that feed it.
//!
//! `render` turns query templates into PromQL (escaping every substituted value) and
//! checks them; `judge` is pure statistics; `providers` do the I/O.

pub mod judge;
pub mod providers;
pub mod render;
pub mod resolve;
