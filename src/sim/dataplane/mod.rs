//! Simulated login traffic over the ready pods, and per-pod counters on `/metrics`.
