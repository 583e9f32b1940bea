//! Prometheus as the rules see it: counters scraped every `interval` seconds at a random
//! phase, read back through `increase()` with Prometheus' own extrapolation (the
//! `extrapolatedRate` rules of Prometheus 2.x), so the judge and the threshold rules get
//! the lumpy, extrapolated numbers real queries return, not exact per-second counts.

use crate::traffic::Tally;

/// One series' samples: (time, cumulative value).
#[derive(Default, Clone)]
struct Series(Vec<(f64, f64)>);

impl Series {
    /// `increase(series[range])` evaluated at `at`, or `None` with fewer than two
    /// samples in the range (Prometheus returns no value).
    fn increase(&self, at: f64, range: f64) -> Option<f64> {
        let start = at - range;
        let lo = self.0.partition_point(|(t, _)| *t <= start);
        let hi = self.0.partition_point(|(t, _)| *t <= at);
        let w = &self.0[lo..hi];
        if w.len() < 2 {
            return None;
        }
        let (t0, v0) = w[0];
        let (t1, v1) = w[w.len() - 1];
        let result = v1 - v0;
        let sampled = t1 - t0;
        let avg = sampled / (w.len() - 1) as f64;
        let mut to_start = t0 - start;
        let to_end = at - t1;
        if result > 0.0 && v0 >= 0.0 {
            to_start = to_start.min(sampled * v0 / result);
        }
        let limit = avg * 1.1;
        let mut span = sampled;
        span += if to_start < limit {
            to_start
        } else {
            avg / 2.0
        };
        span += if to_end < limit { to_end } else { avg / 2.0 };
        Some(result * span / sampled)
    }
}

/// The four counters of a canary (failed and all attempts, on each track).
pub struct Prometheus {
    interval: f64,
    next: f64,
    now: Tally,
    canary_now: Tally,
    series: [Series; 4],
    /// Per stable pod: its counters now, and its (failures, total) series.
    pods_now: Vec<Tally>,
    pods: Vec<[Series; 2]>,
}

pub enum Track {
    Canary,
    Stable,
}

impl Prometheus {
    /// Counters exist from `start` (the canary's pods start before they take traffic,
    /// and are scraped at 0 meanwhile); scrapes every `interval` from `start + phase`.
    pub fn new(interval: f64, phase: f64, start: f64) -> Self {
        let mut p = Prometheus {
            interval,
            next: start + phase,
            now: Tally::default(),
            canary_now: Tally::default(),
            series: Default::default(),
            pods_now: vec![],
            pods: vec![],
        };
        for s in p.series.iter_mut() {
            s.0.push((start, 0.0));
        }
        p
    }

    /// Keeps a series per stable pod too (`sum by (pod)`).
    pub fn with_pods(mut self, n: usize) -> Self {
        let start = self.series[0].0[0].0;
        self.pods_now = vec![Tally::default(); n];
        self.pods = vec![[Series(vec![(start, 0.0)]), Series(vec![(start, 0.0)])]; n];
        self
    }

    /// Adds second `(t-1, t]` of traffic, then takes the scrapes due by `t`.
    pub fn tick(&mut self, t: f64, canary: Tally, stable: Tally, stable_pods: &[Tally]) {
        // A scrape in (t-1, t) sees the counters before this second's traffic: close
        // enough, and the same for every rule.
        while self.next <= t {
            let v = [
                self.canary_now.failed_attempts,
                self.canary_now.attempts,
                self.now.failed_attempts,
                self.now.attempts,
            ];
            for (s, v) in self.series.iter_mut().zip(v) {
                s.0.push((self.next, v));
            }
            for (series, now) in self.pods.iter_mut().zip(&self.pods_now) {
                series[0].0.push((self.next, now.failed_attempts));
                series[1].0.push((self.next, now.attempts));
            }
            self.next += self.interval;
        }
        self.canary_now.add(canary);
        self.now.add(stable);
        for (now, t) in self.pods_now.iter_mut().zip(stable_pods) {
            now.add(*t);
        }
    }

    /// `sum by (pod) (increase(...[range]))` of stable's failures and totals at `at`.
    pub fn stable_pods(&self, at: f64, range: f64) -> Vec<(f64, f64)> {
        self.pods
            .iter()
            .filter_map(|[f, t]| Some((f.increase(at, range)?, t.increase(at, range)?)))
            .collect()
    }

    /// `(increase(failures[range]), increase(total[range]))` of a track at `at`.
    pub fn increase(&self, track: Track, at: f64, range: f64) -> Option<(f64, f64)> {
        let i = match track {
            Track::Canary => 0,
            Track::Stable => 2,
        };
        Some((
            self.series[i].increase(at, range)?,
            self.series[i + 1].increase(at, range)?,
        ))
    }

    /// The canary's scraped (failures, attempts) counters, oldest first.
    pub fn canary_scrapes(&self) -> impl Iterator<Item = (f64, f64, f64)> + '_ {
        self.series[0]
            .0
            .iter()
            .zip(&self.series[1].0)
            .map(|((t, f), (_, n))| (*t, *f, *n))
    }

    /// Whether any scrape so far shows a canary failure, and when the first did.
    pub fn first_canary_failure(&self) -> Option<f64> {
        self.series[0]
            .0
            .iter()
            .find(|(_, v)| *v > 0.0)
            .map(|(t, _)| *t)
    }
}
