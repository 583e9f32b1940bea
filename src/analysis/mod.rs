//! Analysis: the pure canary-vs-stable judge and the providers that feed it.
