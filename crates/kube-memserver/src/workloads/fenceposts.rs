//! `maxSurge` / `maxUnavailable` resolved to pod counts, as kube-controller-manager does
//! (`deploymentutil.ResolveFenceposts`): surge rounds up, unavailability rounds down, and
//! when both come out zero unavailability becomes 1 so a rollout can always move.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// A `maxSurge` / `maxUnavailable` value that is neither an integer nor `N%`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}: {value}` is not a count or a percentage: write e.g. `1` or `25%`")]
pub struct FencepostError {
    pub field: &'static str,
    pub value: String,
}

/// An `IntOrString` scaled against `total`: integers as they are, `N%` of `total` rounded
/// up or down (`intstr.GetScaledValueFromIntOrPercent`).
pub fn scaled_value(
    field: &'static str,
    value: &IntOrString,
    total: i32,
    round_up: bool,
) -> Result<i32, FencepostError> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let error = || FencepostError {
                field,
                value: s.clone(),
            };
            let percent: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(error)?;
            let scaled = percent * i64::from(total);
            let value = if round_up {
                (scaled + 99).div_euclid(100)
            } else {
                scaled.div_euclid(100)
            };
            i32::try_from(value).map_err(|_| error())
        }
    }
}

/// `(maxSurge, maxUnavailable)` in pods for `desired` replicas. Absent values count as 0
/// here; the API server defaults both to 25% before this sees them.
pub fn resolve(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), FencepostError> {
    let zero = IntOrString::Int(0);
    let surge = scaled_value("maxSurge", max_surge.unwrap_or(&zero), desired, true)?;
    let mut unavailable = scaled_value(
        "maxUnavailable",
        max_unavailable.unwrap_or(&zero),
        desired,
        false,
    )?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}
