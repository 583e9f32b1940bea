//! Shared pieces of the sequential tests: mixtures of likelihood ratios, and the normal
//! quantile (for comparisons in tests and the bench).

/// Log-evidence is clamped so that `exp` stays finite (status is JSON, which has no
/// infinity) and so that one absurd reading cannot bury the other direction forever.
pub const LOG_CLAMP: f64 = 700.0;

/// The e-value of an equal-weight mixture of components given their log-likelihood
/// ratios: `mean(exp(log_k))`. A mixture of nonnegative supermartingales with mean ≤ 1 is
/// one too, so Ville's inequality bounds `P(ever ≥ 1/α) ≤ α` under the null.
pub fn mixture(logs: &[f64]) -> f64 {
    if logs.is_empty() {
        return 1.0;
    }
    logs.iter().map(|l| l.exp()).sum::<f64>() / logs.len() as f64
}

/// [`mixture`] of a quasi-likelihood: each log-likelihood ratio divided by the
/// dispersion `phi` (≥ 1) first (see [`super::dispersion`]).
pub fn tempered_mixture(logs: &[f64], phi: f64) -> f64 {
    if logs.is_empty() {
        return 1.0;
    }
    let phi = phi.max(1.0);
    logs.iter().map(|l| (l / phi).exp()).sum::<f64>() / logs.len() as f64
}

/// Adds one reading's log-likelihood ratios to the stored components, resizing a state
/// that does not match the grid (first reading, or a grid changed by an upgrade).
pub fn accumulate(logs: &mut Vec<f64>, len: usize, lr: impl Fn(usize) -> f64) {
    if logs.len() != len {
        *logs = vec![0.0; len];
    }
    for (k, l) in logs.iter_mut().enumerate() {
        *l = (*l + lr(k)).clamp(-LOG_CLAMP, LOG_CLAMP);
    }
}

/// Standard normal quantile (Acklam's rational approximation without the refinement
/// step: |error| < 1e-4, plenty for the fixed-sample comparisons it serves).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549671010803449,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_matches_tables() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-4);
        assert!((normal_quantile(0.995) - 2.575829).abs() < 1e-4);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.001) + 3.090232).abs() < 1e-4);
    }

    #[test]
    fn mixture_is_the_mean_of_the_likelihood_ratios() {
        let e = mixture(&[0.0, 2f64.ln(), 4f64.ln()]);
        assert!((e - 7.0 / 3.0).abs() < 1e-12);
        assert_eq!(mixture(&[]), 1.0);
    }
}
