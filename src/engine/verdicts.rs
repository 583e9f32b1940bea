//! Folding an analysis reading into status: verdicts, errors and `onError`.

use super::analysis_active;
use super::decision::EventType;
use super::machine::*;
use crate::api::rollout::defaults;
use crate::api::{AnalysisStatus, OnError, PauseReason, RolloutStatus, Verdict};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

impl Ctx<'_> {
    /// Folds a fresh analysis reading into status; a failed verdict aborts.
    pub(super) fn fold_analysis(&mut self) {
        let Some(reading) = &self.obs.analysis else {
            return;
        };
        if !analysis_active(self.spec, &self.st) {
            return;
        }
        // The same reading fed twice at one instant (a re-run of this decision) counts once.
        let already = |a: &AnalysisStatus| {
            a.last_reading_at.as_ref().map(|t| t.0) == Some(self.now)
                && (reading.metrics.is_empty() || a.metrics == reading.metrics)
                && match reading.verdict {
                    Some(v) => a.verdict == Some(v) && a.last_error.is_none(),
                    None => a.last_error == reading.error || reading.error.is_none(),
                }
        };
        if self.st.analysis.as_ref().is_some_and(already) {
            return;
        }
        let analysis = self.st.analysis.get_or_insert_with(AnalysisStatus::default);
        analysis.last_reading_at = Some(Time(self.now));
        if reading.readability_only {
            // A drained canary has no pods to measure; this only says whether metrics
            // can be read again. The judge's evidence is untouched.
            match &reading.error {
                None => {
                    analysis.consecutive_errors = 0;
                    analysis.last_error = None;
                    let was_draining = std::mem::take(&mut analysis.draining);
                    self.recovered(was_draining);
                }
                Some(error) => {
                    analysis.consecutive_errors += 1;
                    analysis.last_error = Some(error.clone());
                }
            }
            return;
        }
        if !reading.metrics.is_empty() {
            analysis.metrics = reading.metrics.clone();
        }
        match reading.verdict {
            Some(verdict) => {
                analysis.consecutive_errors = 0;
                analysis.last_error = None;
                analysis.verdict = Some(verdict);
                // The canary is measured again: the outage is over.
                analysis.drained_since = None;
                let was_draining = std::mem::take(&mut analysis.draining);
                self.recovered(was_draining);
                if verdict == Verdict::Fail {
                    let why = failing_metrics(&self.st);
                    self.abort(format!("analysis failed: {why}"));
                }
            }
            None => {
                analysis.consecutive_errors += 1;
                let error = reading
                    .error
                    .clone()
                    .unwrap_or_else(|| "no observation".into());
                analysis.last_error = Some(error.clone());
                let limit = self
                    .spec
                    .analysis
                    .as_ref()
                    .and_then(|a| a.error_limit)
                    .unwrap_or(defaults::ERROR_LIMIT);
                if analysis.consecutive_errors <= limit {
                    return;
                }
                let on_error = self
                    .spec
                    .analysis
                    .as_ref()
                    .and_then(|a| a.on_error)
                    .unwrap_or_default();
                match on_error {
                    OnError::Drain => {
                        if !analysis.draining {
                            analysis.draining = true;
                            analysis.drained_since.get_or_insert(Time(self.now));
                            self.event(
                                EventType::Warning,
                                "MetricsUnavailable",
                                format!("{error}; canary drained to weight 0 until metrics return"),
                                None,
                            );
                        }
                    }
                    OnError::Pause => {
                        self.pause(
                            PauseReason::AnalysisError,
                            format!("{error}; paused until `resume`"),
                        );
                    }
                    OnError::Abort => self.abort(format!("metrics unavailable: {error}")),
                }
            }
        }
    }
}

impl Ctx<'_> {
    /// Metrics read again after a drain: said once.
    fn recovered(&mut self, was_draining: bool) {
        if was_draining {
            self.event(
                EventType::Normal,
                "MetricsRecovered",
                "metrics can be read again: canary traffic restored".into(),
                None,
            );
        }
    }
}

pub(super) fn failing_metrics(st: &RolloutStatus) -> String {
    let failing: Vec<String> = st
        .analysis
        .iter()
        .flat_map(|a| a.metrics.iter())
        .filter(|m| m.verdict == Some(Verdict::Fail))
        .map(|m| match &m.message {
            Some(msg) => format!("{}: {msg}", m.name),
            None => m.name.clone(),
        })
        .collect();
    if failing.is_empty() {
        "the canary is worse than stable".into()
    } else {
        failing.join("; ")
    }
}
