//! Faults: the fault proxy and everything else that breaks things.

pub mod api;
pub mod proxy;
