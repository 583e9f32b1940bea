//! Per-pod counters in the shape exporters use, encoded as Prometheus text:
//! `auth_login_attempts_total{namespace,pod,outcome}`, `http_requests_total{namespace,pod,code}`,
//! `auth_login_failing_clients_total{namespace,pod}` (distinct users who failed at least once
//! on the pod, for overdispersion checks) and `traffic_unrouted_requests_total`.

use super::release::Answer;
use super::snapshot::Endpoint;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    namespace: String,
    pod: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    namespace: String,
    pod: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PodLabels {
    namespace: String,
    pod: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UnroutedLabels {
    namespace: String,
    service: String,
    reason: String,
}

/// The counters of the simulated data plane; shared between the traffic runner and the
/// `/metrics` server (the families are internally synchronised).
pub struct DataPlaneMetrics {
    registry: Registry,
    logins: Family<LoginLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    failing_clients: Family<PodLabels, Counter>,
    unrouted: Family<UnroutedLabels, Counter>,
    failed_before: Mutex<HashSet<(String, String, u32)>>,
}

impl Default for DataPlaneMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl DataPlaneMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let logins = Family::default();
        let requests = Family::default();
        let failing_clients = Family::default();
        let unrouted = Family::default();
        // prometheus-client appends `_total` to counter names.
        registry.register(
            "auth_login_attempts",
            "Login attempts by outcome",
            logins.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by status code",
            requests.clone(),
        );
        registry.register(
            "auth_login_failing_clients",
            "Distinct users with at least one failed login",
            failing_clients.clone(),
        );
        registry.register(
            "traffic_unrouted_requests",
            "Simulated requests that reached no pod",
            unrouted.clone(),
        );
        DataPlaneMetrics {
            registry,
            logins,
            requests,
            failing_clients,
            unrouted,
            failed_before: Mutex::new(HashSet::new()),
        }
    }

    /// Counts one login answered by `pod` for `user`.
    pub fn record(&self, pod: &Endpoint, user: u32, answer: Answer) {
        let outcome = if answer.success() {
            "success"
        } else {
            "failure"
        };
        self.logins
            .get_or_create(&login(&pod.namespace, &pod.pod, outcome))
            .inc();
        self.requests
            .get_or_create(&request(&pod.namespace, &pod.pod, answer.code))
            .inc();
        if !answer.success() {
            let mut seen = self
                .failed_before
                .lock()
                .expect("no panics while holding the lock");
            if seen.insert((pod.namespace.clone(), pod.pod.clone(), user)) {
                self.failing_clients
                    .get_or_create(&pod_labels(&pod.namespace, &pod.pod))
                    .inc();
            }
        }
    }

    pub fn record_unrouted(&self, namespace: &str, service: &str, reason: &str) {
        let labels = UnroutedLabels {
            namespace: namespace.into(),
            service: service.into(),
            reason: reason.into(),
        };
        self.unrouted.get_or_create(&labels).inc();
    }

    pub fn logins(&self, namespace: &str, pod: &str, success: bool) -> u64 {
        let outcome = if success { "success" } else { "failure" };
        self.logins
            .get(&login(namespace, pod, outcome))
            .map_or(0, |c| c.get())
    }

    pub fn requests(&self, namespace: &str, pod: &str, code: u16) -> u64 {
        self.requests
            .get(&request(namespace, pod, code))
            .map_or(0, |c| c.get())
    }

    pub fn failing_clients(&self, namespace: &str, pod: &str) -> u64 {
        self.failing_clients
            .get(&pod_labels(namespace, pod))
            .map_or(0, |c| c.get())
    }

    pub fn unrouted(&self, namespace: &str, service: &str, reason: &str) -> u64 {
        let labels = UnroutedLabels {
            namespace: namespace.into(),
            service: service.into(),
            reason: reason.into(),
        };
        self.unrouted.get(&labels).map_or(0, |c| c.get())
    }

    /// The text exposition format (OpenMetrics, which Prometheus scrapes).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

fn login(namespace: &str, pod: &str, outcome: &str) -> LoginLabels {
    LoginLabels {
        namespace: namespace.into(),
        pod: pod.into(),
        outcome: outcome.into(),
    }
}

fn request(namespace: &str, pod: &str, code: u16) -> RequestLabels {
    RequestLabels {
        namespace: namespace.into(),
        pod: pod.into(),
        code: code.to_string(),
    }
}

fn pod_labels(namespace: &str, pod: &str) -> PodLabels {
    PodLabels {
        namespace: namespace.into(),
        pod: pod.into(),
    }
}
