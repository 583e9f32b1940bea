//! Scaling ReplicaSets: rolling-update steps bounded by `maxSurge` / `maxUnavailable`
//! (`reconcileNewReplicaSet`, `reconcileOldReplicaSets`, `cleanupUnhealthyReplicas`,
//! `scaleDownOldReplicaSetsForRollingUpdate`) and proportional scaling when the
//! Deployment's replicas change mid-rollout or while paused (`scale`).

use super::replicasets::{DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION};
use super::{DeploymentError, Pass};
use crate::workloads::access::{self, available_replicas, set_annotation, spec_replicas};
use std::cmp::Reverse;

impl Pass {
    fn replicas_of(&self, indices: &[usize]) -> i32 {
        indices
            .iter()
            .map(|i| spec_replicas(&self.rss[*i].rs))
            .sum()
    }

    /// Available pods for scaling decisions. A ReplicaSet just scaled down still reports
    /// the pods it is about to remove; never count more than it is meant to keep, so a
    /// stale status cannot let a rollout drop below `replicas - maxUnavailable`.
    fn available_of(&self, indices: &[usize]) -> i32 {
        indices.iter().map(|i| self.available(*i)).sum()
    }

    fn available(&self, i: usize) -> i32 {
        let rs = &self.rss[i].rs;
        available_replicas(rs).min(spec_replicas(rs))
    }

    fn active(&self, indices: Vec<usize>) -> Vec<usize> {
        indices
            .into_iter()
            .filter(|i| spec_replicas(&self.rss[*i].rs) > 0)
            .collect()
    }

    fn all_indices(&self, new: Option<usize>) -> Vec<usize> {
        let mut all = self.old_indices(new);
        all.extend(new);
        all
    }

    /// `scaleReplicaSet`: new size, and the replica annotations of the current spec. True
    /// when the size changed.
    pub(super) fn scale_to(&mut self, i: usize, replicas: i32) -> bool {
        let (desired, max) = (self.spec.replicas, self.spec.replicas + self.spec.max_surge);
        let w = &mut self.rss[i];
        let scaled = spec_replicas(&w.rs) != replicas;
        w.rs.spec.replicas = Some(replicas);
        set_annotation(
            &mut w.rs.metadata,
            DESIRED_REPLICAS_ANNOTATION,
            &desired.to_string(),
        );
        set_annotation(
            &mut w.rs.metadata,
            MAX_REPLICAS_ANNOTATION,
            &max.to_string(),
        );
        scaled
    }

    /// `isScalingEvent`: an active ReplicaSet was sized for another replica count.
    pub(super) fn is_scaling_event(&mut self) -> Result<bool, DeploymentError> {
        let new = self.sync_revision(false)?;
        let all = self.active(self.all_indices(new));
        Ok(all.iter().any(|i| {
            access::annotation(&self.rss[*i].rs.metadata, DESIRED_REPLICAS_ANNOTATION)
                .and_then(|v| v.parse::<i32>().ok())
                .is_some_and(|desired| desired != self.spec.replicas)
        }))
    }

    /// `NewRSNewReplicas`: how far the new ReplicaSet may grow without exceeding
    /// `replicas + maxSurge` pods in total.
    pub(super) fn new_rs_new_replicas(&self, new: usize) -> i32 {
        let current = self.replicas_of(&self.all_indices(Some(new)));
        let max_total = self.spec.replicas + self.spec.max_surge;
        let new_replicas = spec_replicas(&self.rss[new].rs);
        if !self.spec.rolling {
            return self.spec.replicas;
        }
        if current >= max_total {
            return new_replicas;
        }
        let up = (max_total - current).min(self.spec.replicas - new_replicas);
        new_replicas + up
    }

    /// `reconcileNewReplicaSet`; true when it scaled.
    pub(super) fn reconcile_new_replica_set(&mut self, new: usize) -> bool {
        let current = spec_replicas(&self.rss[new].rs);
        if current == self.spec.replicas {
            return false;
        }
        let target = if current > self.spec.replicas {
            self.spec.replicas
        } else {
            self.new_rs_new_replicas(new)
        };
        self.scale_to(new, target)
    }

    /// `reconcileOldReplicaSets`: first remove old pods that are not available (that
    /// cannot lower availability), then available ones down to `replicas - maxUnavailable`.
    pub(super) fn reconcile_old_replica_sets(&mut self, new: usize) -> bool {
        let old = self.by_age(self.active(self.old_indices(Some(new))));
        if self.replicas_of(&old) == 0 {
            return false;
        }
        let all = self.all_indices(Some(new));
        let min_available = self.spec.replicas - self.spec.max_unavailable;
        let new_unavailable = spec_replicas(&self.rss[new].rs) - self.available(new);
        let max_scaled_down = self.replicas_of(&all) - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let mut total = 0;
        for &i in &old {
            if total >= max_scaled_down {
                break;
            }
            let (replicas, available) = (spec_replicas(&self.rss[i].rs), self.available(i));
            if replicas == 0 || replicas == available {
                continue;
            }
            let down = (max_scaled_down - total).min(replicas - available);
            self.scale_to(i, replicas - down);
            total += down;
        }
        // Available pods may go only down to the minimum.
        let available = self.available_of(&all);
        if available > min_available {
            let budget = available - min_available;
            let mut scaled = 0;
            for &i in &old {
                if scaled >= budget {
                    break;
                }
                let replicas = spec_replicas(&self.rss[i].rs);
                if replicas == 0 {
                    continue;
                }
                let down = replicas.min(budget - scaled);
                self.scale_to(i, replicas - down);
                scaled += down;
            }
            total += scaled;
        }
        total > 0
    }

    /// `scale`: bring the ReplicaSets to the Deployment's size without rolling out. One
    /// active ReplicaSet takes the whole size; a saturated new one retires the old ones;
    /// otherwise the pods `replicas + maxSurge` allows are shared in proportion to each
    /// ReplicaSet's size, the rounding leftover going to the largest.
    pub(super) fn scale(&mut self, new: Option<usize>) {
        let old = self.old_indices(new);
        if let Some(i) = self.active_or_latest(new, &old) {
            if spec_replicas(&self.rss[i].rs) != self.spec.replicas {
                self.scale_to(i, self.spec.replicas);
            }
            return;
        }
        if new.is_some_and(|i| self.saturated(i)) {
            for i in self.active(old) {
                self.scale_to(i, 0);
            }
            return;
        }
        if !self.spec.rolling {
            return;
        }
        let mut all = self.active(self.all_indices(new));
        let allowed = if self.spec.replicas > 0 {
            self.spec.replicas + self.spec.max_surge
        } else {
            0
        };
        let to_add = allowed - self.replicas_of(&all);
        let created = |p: &Pass, i: usize| access::created_at(&p.rss[i].rs.metadata);
        if to_add > 0 {
            // Larger first; among equals, newer first.
            all.sort_by_key(|i| {
                (
                    Reverse(spec_replicas(&self.rss[*i].rs)),
                    Reverse(created(self, *i)),
                )
            });
        } else if to_add < 0 {
            // Larger first; among equals, older first.
            all.sort_by_key(|i| (Reverse(spec_replicas(&self.rss[*i].rs)), created(self, *i)));
        }
        let mut added = 0;
        let mut sizes: Vec<i32> = Vec::with_capacity(all.len());
        for &i in &all {
            let replicas = spec_replicas(&self.rss[i].rs);
            let proportion = if to_add == 0 {
                0
            } else {
                self.proportion(i, to_add, added)
            };
            sizes.push(replicas + proportion);
            added += proportion;
        }
        for (k, &i) in all.iter().enumerate() {
            let mut size = sizes[k];
            if k == 0 && to_add != 0 {
                size = (size + to_add - added).max(0);
            }
            self.scale_to(i, size);
        }
    }

    /// `GetReplicaSetProportion`: this ReplicaSet's share of `to_add`, from the size the
    /// Deployment had when the ReplicaSet was last sized (its max-replicas annotation).
    fn proportion(&self, i: usize, to_add: i32, added: i32) -> i32 {
        let rs = &self.rss[i].rs;
        let replicas = spec_replicas(rs);
        if replicas == 0 || to_add == added {
            return 0;
        }
        let fraction = if self.spec.replicas == 0 {
            -replicas
        } else {
            let max_now = self.spec.replicas + self.spec.max_surge;
            let before = access::annotation(&rs.metadata, MAX_REPLICAS_ANNOTATION)
                .and_then(|v| v.parse::<i32>().ok())
                .filter(|v| *v != 0)
                .unwrap_or_else(|| self.d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
            if before == 0 {
                return 0;
            }
            let size = f64::from(replicas) * f64::from(max_now) / f64::from(before);
            size.round() as i32 - replicas
        };
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// `FindActiveOrLatest`: the only active ReplicaSet, or the newest when none is active.
    fn active_or_latest(&self, new: Option<usize>, old: &[usize]) -> Option<usize> {
        if new.is_none() && old.is_empty() {
            return None;
        }
        let mut newest_first = self.by_age(old.to_vec());
        newest_first.reverse();
        let mut all = newest_first.clone();
        all.extend(new);
        let active = self.active(all);
        match active.len() {
            0 => new.or(newest_first.first().copied()),
            1 => Some(active[0]),
            _ => None,
        }
    }

    /// `IsSaturated`: the new ReplicaSet runs every desired pod, all available.
    fn saturated(&self, i: usize) -> bool {
        let rs = &self.rss[i].rs;
        let desired = access::annotation(&rs.metadata, DESIRED_REPLICAS_ANNOTATION)
            .and_then(|v| v.parse::<i32>().ok());
        spec_replicas(rs) == self.spec.replicas
            && desired == Some(self.spec.replicas)
            && available_replicas(rs) == self.spec.replicas
    }
}
