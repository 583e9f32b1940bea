//! Durations as Kubernetes users write them (`10s`, `2m`, `1h30m`, `500ms`).
//!
//! Kept as the user's string in the API so a typo never breaks decoding of the whole
//! object (the controller must still see it to report `InvalidSpec`); parsed on use.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// The pattern the CRD schema enforces at admission (Go's `time.ParseDuration` subset).
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

/// A duration string such as `30s` or `1h30m`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Duration(pub String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a duration: write a number and a unit (ms, s, m, h), e.g. `30s` or `1h30m`")]
pub struct DurationError(pub String);

impl Duration {
    pub fn new(s: impl Into<String>) -> Self {
        Duration(s.into())
    }

    /// Parses the string; fails on anything the CRD pattern would reject.
    pub fn parse(&self) -> Result<std::time::Duration, DurationError> {
        parse_duration(&self.0)
    }

    /// Formats a whole number of seconds the way PromQL and users write it (`90s` → `1m30s`).
    pub fn from_std(d: std::time::Duration) -> Self {
        Duration(format_duration(d))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Duration {
    fn from(s: &str) -> Self {
        Duration(s.to_string())
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: a number and a unit (ms, s, m, h), e.g. 30s, 2m, 1h30m."
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

/// Parses `1h30m`, `2.5s`, `500ms`. Rejects empty strings, missing units, negative values.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, DurationError> {
    let err = || DurationError(s.to_string());
    if s.is_empty() {
        return Err(err());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_len == 0 {
            return Err(err());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let (unit_secs, unit_len) = if rest.starts_with("ms") {
            (0.001, 2)
        } else if rest.starts_with('s') {
            (1.0, 1)
        } else if rest.starts_with('m') {
            (60.0, 1)
        } else if rest.starts_with('h') {
            (3600.0, 1)
        } else {
            return Err(err());
        };
        total += value * unit_secs;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 10.0 * 365.0 * 86400.0 {
        return Err(err());
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

/// Formats whole seconds as `XhYmZs`, dropping zero parts (`0s` for zero). Sub-second
/// parts are rounded up so a formatted window never covers less than the real one.
pub fn format_duration(d: std::time::Duration) -> String {
    let mut secs = d.as_secs();
    if d.subsec_nanos() > 0 {
        secs += 1;
    }
    if secs == 0 {
        return "0s".to_string();
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if s > 0 {
        out += &format!("{s}s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    #[test]
    fn parses_the_forms_users_write() {
        assert_eq!(parse_duration("10s").unwrap(), Std::from_secs(10));
        assert_eq!(parse_duration("2m").unwrap(), Std::from_secs(120));
        assert_eq!(parse_duration("1h30m").unwrap(), Std::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Std::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Std::from_millis(1500));
    }

    #[test]
    fn rejects_numbers_without_units_and_unknown_units() {
        for bad in ["", "10", "s", "-1s", "1d", "1 m", "m5", "1.s.s"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn formats_seconds_for_promql() {
        assert_eq!(format_duration(Std::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Std::from_secs(3600)), "1h");
        assert_eq!(format_duration(Std::from_millis(1200)), "2s");
        assert_eq!(format_duration(Std::ZERO), "0s");
    }
}
