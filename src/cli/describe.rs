//! How `portcullis status` and the waiting commands show a Rollout. Pure text.

use crate::api::{MetricResult, Phase, PromotionStage, Rollout, RolloutStatus};
use k8s_openapi::jiff::Timestamp;
use std::fmt::Write;

/// Seconds or minutes ago, for humans.
fn ago(at: Timestamp, now: Timestamp) -> String {
    let s = now.as_second() - at.as_second();
    match s {
        ..0 => "just now".into(),
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}m ago", s / 60),
        _ => format!("{}h ago", s / 3600),
    }
}

/// Seconds or minutes ahead, for humans.
fn in_(s: i64) -> String {
    match s {
        ..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

/// One line of progress: phase, step, weight, message (printed when it changes). The
/// weight shows only while a canary takes traffic (during a promotion's roll-out the
/// ready-pod share moves with Kubernetes, not with Portcullis); an abort names the
/// release, and its reason is left to the outcome printed once after.
pub fn line(st: &RolloutStatus) -> String {
    let in_flight = match st.phase {
        Some(Phase::Progressing | Phase::Paused) => true,
        Some(Phase::Promoting) => st.promotion_stage == Some(PromotionStage::ScalingCanary),
        Some(Phase::Aborted) => st.effective_weight > 0,
        _ => false,
    };
    let weight = if in_flight {
        format!("{:>3}%", st.effective_weight)
    } else {
        "   -".into()
    };
    let message = match (&st.phase, &st.last_abort) {
        (Some(Phase::Aborted), Some(a)) => {
            let back = if st.effective_weight == 0 {
                "traffic back on stable"
            } else {
                "moving traffic back to stable"
            };
            format!("rolled back {}; {back}", a.revision)
        }
        _ => st.message.clone().unwrap_or_default(),
    };
    format!(
        "{:<12} step {:<5} weight {weight}  {message}",
        st.phase.map(|p| p.as_str()).unwrap_or("-"),
        st.step_label.as_deref().unwrap_or("-"),
    )
}

/// Counts as integers, other numbers with 3 decimals; very large or small ones (e-values
/// reach 1e70) in scientific notation.
fn number(x: f64) -> String {
    if x != 0.0 && !(0.01..1e6).contains(&x.abs()) {
        format!("{x:.2e}")
    } else if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}

/// At most `n` characters, with an ellipsis when cut: history lines stay one line.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

fn metric(m: &MetricResult) -> String {
    let mut s = format!(
        "{}: {}",
        m.name,
        m.verdict
            .map(|v| format!("{v:?}"))
            .unwrap_or("no verdict".into())
    );
    let track = |t: &crate::api::TrackReading| match (t.failures, t.total, t.value) {
        (Some(f), Some(n), _) => Some(format!("{}/{}", number(f), number(n))),
        (_, _, Some(v)) => Some(number(v)),
        _ => None,
    };
    if let Some(c) = m.canary.as_ref().and_then(track) {
        let _ = write!(s, ", canary {c}");
    }
    if let Some(st) = m.stable.as_ref().and_then(track) {
        let _ = write!(s, ", stable {st}");
    }
    if let Some(r) = m.ratio {
        let _ = write!(s, ", ratio {}", number(r));
        if let (Some(lo), Some(hi)) = (m.ratio_lower, m.ratio_upper) {
            let _ = write!(s, " [{}, {}]", number(lo), number(hi));
        }
    }
    if let (Some(e), Some(a)) = (m.evidence, m.alpha) {
        let _ = write!(s, ", evidence {} (fails at {})", number(e), number(1.0 / a));
    }
    if m.errors > 0 {
        let _ = write!(
            s,
            ", {} reading{} without data (neither pass nor fail)",
            m.errors,
            if m.errors == 1 { "" } else { "s" }
        );
    }
    // The message restates the numbers above; it is news only when there are none.
    if let Some(msg) = m.message.as_ref().filter(|_| m.canary.is_none()) {
        let _ = write!(s, " — {msg}");
    }
    s
}

/// The whole status, as `portcullis status` prints it.
pub fn describe(ro: &Rollout, now: Timestamp) -> String {
    let mut out = String::new();
    let ns = ro.metadata.namespace.as_deref().unwrap_or("default");
    let name = ro.metadata.name.as_deref().unwrap_or("?");
    let _ = writeln!(
        out,
        "Rollout {ns}/{name}  (workload deployment/{})",
        ro.spec.workload_ref.name
    );
    let Some(st) = &ro.status else {
        let _ = writeln!(
            out,
            "  no status yet: is the Portcullis controller running?"
        );
        return out;
    };
    let phase = st.phase.map(|p| p.as_str()).unwrap_or("-");
    // An abort's reason is printed once, on its own line below.
    let message = match st.phase {
        Some(Phase::Aborted) => line(st)
            .split_once("  rolled back")
            .map(|(_, m)| format!("rolled back{m}"))
            .unwrap_or_default(),
        _ => st.message.clone().unwrap_or_default(),
    };
    let _ = writeln!(out, "  Phase:    {phase}  {message}");
    if st.observed_generation.unwrap_or(0) < ro.metadata.generation.unwrap_or(0) {
        let _ = writeln!(
            out,
            "            (status not yet updated for the latest spec)"
        );
    }
    if let Some(step) = &st.step_label {
        let _ = writeln!(
            out,
            "  Step:     {step}  weight {}% (asked {}%){}",
            st.effective_weight,
            st.desired_weight,
            st.pause_reason
                .map(|r| format!(", paused: {r:?}"))
                .unwrap_or_default()
        );
    }
    if let Some(s) = &st.promotion_stage {
        let _ = writeln!(out, "  Promoting: {s:?}");
    }
    if let Some(w) = &st.waiting {
        let left = w.deadline.0.as_second() - now.as_second();
        let _ = writeln!(
            out,
            "  Waiting:  on {} since {}; rolled back at {} ({})",
            w.for_.as_str(),
            ago(w.since.0, now),
            w.deadline.0,
            if left > 0 {
                format!("in {}", in_(left))
            } else {
                "now".into()
            }
        );
    }
    if let Some(r) = &st.stable {
        let _ = writeln!(out, "  Stable:   {r}");
    }
    if let Some(r) = &st.canary {
        let since = match st.phase {
            Some(Phase::Aborted) => ", rolled back".to_string(),
            _ => st
                .canary_started_at
                .as_ref()
                .map(|t| format!(", started {}", ago(t.0, now)))
                .unwrap_or_default(),
        };
        let _ = writeln!(out, "  Canary:   {r}{since}");
    }
    if let Some(a) = &st.analysis {
        let at = a
            .last_reading_at
            .as_ref()
            .map(|t| format!(", last reading {}", ago(t.0, now)))
            .unwrap_or_default();
        let verdict = a
            .verdict
            .map(|v| format!("{v:?}"))
            .unwrap_or("no verdict".into());
        let _ = writeln!(out, "  Analysis: {verdict}{at}");
        if a.draining {
            let _ = writeln!(
                out,
                "            draining: metrics unreadable, canary weight held at 0"
            );
        }
        if let Some(e) = &a.last_error {
            let _ = writeln!(
                out,
                "            last error ({} in a row): {e}",
                a.consecutive_errors
            );
        }
        for m in &a.metrics {
            let _ = writeln!(out, "    {}", metric(m));
        }
    }
    if let Some(a) = &st.last_abort {
        let cost = a
            .estimated_failed_requests
            .map(|n| format!(" (~{n} failed requests)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  Last abort: {} {}: {}{cost}",
            a.revision,
            ago(a.at.0, now),
            a.reason
        );
    }
    if !st.rejected_revisions.is_empty() {
        let _ = writeln!(
            out,
            "  Rejected: {} (not retried until `portcullis retry` or a new release)",
            st.rejected_revisions.join(", ")
        );
    }
    if let Some(c) = &st.last_command {
        let _ = writeln!(
            out,
            "  Last command: {}:{} {} {}: {}",
            c.verb,
            c.id,
            if c.accepted { "accepted" } else { "refused" },
            ago(c.at.0, now),
            c.message
        );
    }
    if !st.history.is_empty() {
        let _ = writeln!(out, "  History:");
        for h in &st.history {
            let _ = writeln!(
                out,
                "    {:<10} {} {}{}",
                format!("{:?}", h.outcome),
                h.revision,
                ago(h.ended_at.0, now),
                h.reason
                    .as_deref()
                    .map(|r| format!(": {}", clip(r, 60)))
                    .unwrap_or_default()
            );
        }
    }
    out
}
