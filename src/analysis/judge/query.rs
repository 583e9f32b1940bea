//! `query` metrics: one value per track against `min`/`max` and, optionally, against the
//! stable value. A metric fails after `failureLimit` failing readings in a row; a reading
//! within bounds resets the count and is a pass.

use crate::api::QueryMetric;

/// What one reading of a query metric says.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryCheck {
    /// Why the reading fails; empty when it is within bounds.
    pub violations: Vec<String>,
}

impl QueryCheck {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Why a query reading is no observation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("{track} value is {value}, not a number")]
    NotANumber { track: &'static str, value: f64 },
    #[error("compareToStable needs the stable value, and the stable query returned none")]
    NoStable,
}

/// Checks one reading. `stable` is needed only with `compareToStable`.
pub fn check(m: &QueryMetric, canary: f64, stable: Option<f64>) -> Result<QueryCheck, QueryError> {
    if !canary.is_finite() {
        return Err(QueryError::NotANumber {
            track: "canary",
            value: canary,
        });
    }
    let mut violations = Vec::new();
    if let Some(min) = m.min
        && canary < min
    {
        violations.push(format!("canary {canary} < min {min}"));
    }
    if let Some(max) = m.max
        && canary > max
    {
        violations.push(format!("canary {canary} > max {max}"));
    }
    if let Some(cmp) = &m.compare_to_stable {
        let s = stable.ok_or(QueryError::NoStable)?;
        if !s.is_finite() {
            return Err(QueryError::NotANumber {
                track: "stable",
                value: s,
            });
        }
        let limit = s * (1.0 + cmp.max_increase);
        if canary > limit {
            violations.push(format!(
                "canary {canary} > stable {s} × {}",
                1.0 + cmp.max_increase
            ));
        }
    }
    Ok(QueryCheck { violations })
}

/// Failing readings in a row after this one.
pub fn consecutive(previous: i32, check: &QueryCheck) -> i32 {
    if check.ok() { 0 } else { previous + 1 }
}

/// `failureLimit`, default 1.
pub fn failure_limit(m: &QueryMetric) -> i32 {
    m.failure_limit.unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::StableComparison;

    fn metric() -> QueryMetric {
        QueryMetric {
            query: "x".into(),
            min: Some(0.5),
            max: Some(2.0),
            compare_to_stable: Some(StableComparison { max_increase: 0.5 }),
            failure_limit: Some(2),
        }
    }

    #[test]
    fn a_value_within_bounds_and_near_stable_passes() {
        let c = check(&metric(), 1.2, Some(1.0)).unwrap();
        assert!(c.ok());
        assert_eq!(consecutive(1, &c), 0);
    }

    #[test]
    fn each_bound_and_the_stable_comparison_can_fail() {
        assert_eq!(
            check(&metric(), 0.1, Some(1.0)).unwrap().violations.len(),
            1
        );
        assert_eq!(
            check(&metric(), 2.5, Some(1.0)).unwrap().violations.len(),
            2
        );
        let c = check(&metric(), 1.6, Some(1.0)).unwrap();
        assert_eq!(
            c.violations,
            vec!["canary 1.6 > stable 1 × 1.5".to_string()]
        );
        assert_eq!(consecutive(1, &c), 2);
    }

    #[test]
    fn nan_or_a_missing_stable_is_no_observation() {
        assert!(check(&metric(), f64::NAN, Some(1.0)).is_err());
        assert_eq!(check(&metric(), 1.0, None), Err(QueryError::NoStable));
        assert!(check(&metric(), 1.0, Some(f64::NAN)).is_err());
    }
}
