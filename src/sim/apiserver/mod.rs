//! The local API server: the Kubernetes REST protocol over HTTP on loopback.
