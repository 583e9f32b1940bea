//! Webhook gates and notifications: an HTTP POST of a JSON document.
//!
//! Gates answer "may this go ahead": 2xx passes; anything else, a timeout or a refused
//! connection fails, with the webhook's name and answer in the message. Notifications
//! are fire-and-forget: a few bounded attempts in the background, so a dead chat
//! webhook never slows a rollback.

use crate::api::rollout::defaults;
use crate::api::{Notification, NotificationEvent, Rollout, Webhook};
use crate::engine::{Event, GateOutcome, GateResults, Wants};
use kube::ResourceExt;
use serde_json::{Value, json};
use std::time::Duration;

const NOTIFY_ATTEMPTS: u32 = 3;

pub fn http_client() -> reqwest::Client {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client with default TLS settings")
}

fn timeout(t: &Option<crate::api::Duration>) -> Duration {
    t.as_ref()
        .and_then(|d| d.parse().ok())
        .unwrap_or(Duration::from_secs(defaults::WEBHOOK_TIMEOUT_SECS))
}

fn document(ro: &Rollout, kind: &str) -> Value {
    let st = ro.status.clone().unwrap_or_default();
    json!({
        "kind": kind,
        "rollout": ro.name_any(),
        "namespace": ro.namespace(),
        "phase": st.phase.map(|p| p.as_str()),
        "stable": st.stable,
        "canary": st.canary,
        "step": st.current_step,
    })
}

/// Calls the gates the engine wants, in order; the first failure decides.
pub async fn gates(http: &reqwest::Client, ro: &Rollout, wants: &Wants) -> GateResults {
    let gates = ro.spec.gates.clone().unwrap_or_default();
    let mut out = GateResults::default();
    if wants.pre_rollout_gate {
        out.pre_rollout = Some(run_gate(http, ro, "preRollout", &gates.pre_rollout).await);
    }
    if wants.pre_promotion_gate {
        out.pre_promotion = Some(run_gate(http, ro, "prePromotion", &gates.pre_promotion).await);
    }
    out
}

async fn run_gate(
    http: &reqwest::Client,
    ro: &Rollout,
    kind: &str,
    hooks: &[Webhook],
) -> GateOutcome {
    for hook in hooks {
        let sent = http
            .post(&hook.url)
            .timeout(timeout(&hook.timeout))
            .json(&document(ro, kind))
            .send()
            .await;
        let refused = match sent {
            Ok(r) if r.status().is_success() => continue,
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                format!(
                    "answered {status}: {}",
                    body.trim().chars().take(200).collect::<String>()
                )
            }
            Err(e) if e.is_timeout() => {
                format!("did not answer within {:?}", timeout(&hook.timeout))
            }
            Err(e) => format!("could not be reached: {e}"),
        };
        return GateOutcome::Failed(format!(
            "{kind} webhook `{}` ({}) {refused}",
            hook.name, hook.url
        ));
    }
    GateOutcome::Passed
}

/// Sends the notifications subscribed to these events, in the background.
pub fn notify(http: &reqwest::Client, ro: &Rollout, events: &[Event]) {
    for e in events {
        let Some(kind) = e.notify else { continue };
        for n in &ro.spec.notifications {
            if !subscribed(n, kind) {
                continue;
            }
            let mut body = document(ro, "notification");
            body["event"] = json!(kind);
            body["reason"] = json!(e.reason);
            body["message"] = json!(e.message);
            let (http, url, t, name) = (
                http.clone(),
                n.url.clone(),
                timeout(&n.timeout),
                n.name.clone(),
            );
            tokio::spawn(async move {
                for attempt in 1..=NOTIFY_ATTEMPTS {
                    match http.post(&url).timeout(t).json(&body).send().await {
                        Ok(r) if r.status().is_success() => return,
                        Ok(r) => {
                            tracing::warn!(notification = %name, status = %r.status(), attempt, "notification refused")
                        }
                        Err(err) => {
                            tracing::warn!(notification = %name, error = %err, attempt, "notification failed")
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                }
            });
        }
    }
}

fn subscribed(n: &Notification, e: NotificationEvent) -> bool {
    n.events.is_empty() || n.events.contains(&e)
}
