//! Freeze windows: when no new canary may start.

use crate::api::Gates;
use crate::api::validate::{ParsedWindow, parse_freeze_window};
use k8s_openapi::jiff::{Timestamp, tz::TimeZone};

/// The first window containing `now`, and how long until it ends.
pub fn active_window(
    gates: Option<&Gates>,
    now: Timestamp,
) -> Option<(String, std::time::Duration)> {
    let gates = gates?;
    gates.freeze_windows.iter().find_map(|w| {
        let parsed = parse_freeze_window(w).ok()?;
        remaining(&parsed, now).map(|left| (w.name.clone(), left))
    })
}

fn remaining(w: &ParsedWindow, now: Timestamp) -> Option<std::time::Duration> {
    match w {
        ParsedWindow::Absolute { start, end } => {
            (now >= *start && now < *end).then(|| end.duration_since(now).unsigned_abs())
        }
        ParsedWindow::Weekly {
            days,
            from_min,
            to_min,
        } => {
            let dt = now.to_zoned(TimeZone::UTC);
            let weekday = dt.weekday().to_monday_zero_offset() as u8;
            let minute = dt.hour() as u32 * 60 + dt.minute() as u32;
            let secs_into_minute = dt.second() as u64;
            let until = |end_min: u32, extra_days: u64| {
                let end = extra_days * 1440 * 60 + end_min as u64 * 60;
                std::time::Duration::from_secs(end - (minute as u64 * 60 + secs_into_minute))
            };
            if from_min < to_min {
                (days.contains(&weekday) && minute >= *from_min && minute < *to_min)
                    .then(|| until(*to_min, 0))
            } else {
                // Spans midnight: the evening of a listed day, or the morning after one.
                let yesterday = (weekday + 6) % 7;
                if days.contains(&weekday) && minute >= *from_min {
                    Some(until(*to_min, 1))
                } else if days.contains(&yesterday) && minute < *to_min {
                    Some(until(*to_min, 0))
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::FreezeWindow;

    fn gates(w: FreezeWindow) -> Gates {
        Gates {
            freeze_windows: vec![w],
            ..Default::default()
        }
    }

    #[test]
    fn absolute_window_blocks_between_start_and_end() {
        let g = gates(FreezeWindow {
            name: "black-friday".into(),
            start: Some("2026-11-27T00:00:00Z".into()),
            end: Some("2026-11-30T00:00:00Z".into()),
            ..Default::default()
        });
        let inside: Timestamp = "2026-11-28T12:00:00Z".parse().unwrap();
        let (name, left) = active_window(Some(&g), inside).unwrap();
        assert_eq!(name, "black-friday");
        assert_eq!(left.as_secs(), 36 * 3600);
        assert!(active_window(Some(&g), "2026-11-30T00:00:00Z".parse().unwrap()).is_none());
    }

    #[test]
    fn weekly_window_across_midnight() {
        // Friday 18:00 to 08:00 the next morning, UTC. 2026-11-27 is a Friday.
        let g = gates(FreezeWindow {
            name: "weekend".into(),
            days: Some(vec!["Fri".into()]),
            from: Some("18:00".into()),
            to: Some("08:00".into()),
            ..Default::default()
        });
        let fri_evening: Timestamp = "2026-11-27T20:00:00Z".parse().unwrap();
        assert_eq!(
            active_window(Some(&g), fri_evening).unwrap().1.as_secs(),
            12 * 3600
        );
        let sat_morning: Timestamp = "2026-11-28T07:30:00Z".parse().unwrap();
        assert_eq!(
            active_window(Some(&g), sat_morning).unwrap().1.as_secs(),
            1800
        );
        let fri_noon: Timestamp = "2026-11-27T12:00:00Z".parse().unwrap();
        assert!(active_window(Some(&g), fri_noon).is_none());
    }
}
