//! Observe: read what a Rollout points to and put it in the engine's terms.
//!
//! A missing object the user should have created (the Deployment, the Service, the
//! HTTPRoute, a template) is not an error of the reconcile: it becomes a `FieldError`,
//! and the engine reports InvalidSpec naming the field.

use super::cache::Caches;
use super::error::Error;
use super::replica_set::ReplicaSetInfo;
use super::workload::{self, canary_name};
use crate::analysis::resolve::{self, ResolvedMetric};
use crate::api::validate::FieldError;
use crate::api::{AnalysisTemplate, AnalysisTemplateSpec, ClusterAnalysisTemplate, Rollout};
use crate::engine::{Observations, WorkloadObservation};
use crate::traffic::{
    CANARY_TRACK, POD_TEMPLATE_HASH_LABEL, TRACK_LABEL, TrafficObservation, TrafficRouter,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The HTTPRoute kind, served by the Gateway API CRD.
pub fn http_route_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    )
}

/// Everything one reconcile reads.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub workload: Option<Deployment>,
    pub canary: Option<Deployment>,
    /// ReplicaSets the workload owns.
    pub replica_sets: Vec<ReplicaSetInfo>,
    pub service: Option<Service>,
    /// The HTTPRoute, as JSON (every field kept, known or not).
    pub route: Option<Value>,
    pub metrics: Vec<ResolvedMetric>,
    /// Pods the workload's selector matches (both tracks), for `{{pods}}` and probes.
    pub pods: Vec<Pod>,
    pub spec_errors: Vec<FieldError>,
    /// The router's API is not served or fails: what, in a sentence.
    pub router_unavailable: Option<String>,
    /// Another Rollout, still there, manages the workload (its name).
    pub owner_conflict: Option<String>,
}

impl World {
    /// Canary pods: the track label says so.
    pub fn canary_pods(&self) -> Vec<&Pod> {
        self.pods
            .iter()
            .filter(|p| p.labels().get(TRACK_LABEL).map(String::as_str) == Some(CANARY_TRACK))
            .collect()
    }

    /// Names and IPs of pods.
    pub fn names(pods: &[&Pod]) -> Vec<String> {
        pods.iter().map(|p| p.name_any()).collect()
    }
    pub fn ips(pods: &[&Pod]) -> Vec<IpAddr> {
        pods.iter()
            .filter_map(|p| p.status.as_ref()?.pod_ip.as_ref()?.parse().ok())
            .collect()
    }

    /// `pod-template-hash` of the workload's ReplicaSet that runs `stable_revision`.
    pub fn stable_hash(&self, stable_revision: &str) -> Option<&str> {
        let d = self.workload.as_ref()?;
        workload::stable_replica_set(d, &self.replica_sets, stable_revision)
            .and_then(|rs| rs.pod_template_hash.as_deref())
    }

    /// Stable pods: those of the ReplicaSet that runs `stable_revision`.
    pub fn stable_pods(&self, stable_revision: &str) -> Vec<&Pod> {
        let Some(hash) = self.stable_hash(stable_revision) else {
            return Vec::new();
        };
        self.pods
            .iter()
            .filter(|p| !p.labels().contains_key(TRACK_LABEL))
            .filter(|p| p.labels().get(POD_TEMPLATE_HASH_LABEL).map(String::as_str) == Some(hash))
            .collect()
    }
}

async fn get_opt<K>(api: &Api<K>, name: &str, what: &str) -> Result<Option<K>, Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name)
        .await
        .map_err(Error::observe(format!("{what} {name}")))
}

/// What `ro` points to, read live from the API server: for the cleanup, which writes the
/// Deployment back whole (a trimmed cached copy would lose fields).
pub async fn world(
    client: &Client,
    ro: &Rollout,
    router: &dyn TrafficRouter,
) -> Result<World, Error> {
    let ns = ro.namespace().ok_or(Error::NoNamespace)?;
    let spec = &ro.spec;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let mut w = World {
        workload: get_opt(&deployments, &spec.workload_ref.name, "Deployment").await?,
        canary: get_opt(
            &deployments,
            &canary_name(&spec.workload_ref.name),
            "Deployment",
        )
        .await?,
        ..Default::default()
    };
    if let Some(d) = &w.workload {
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let rs: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
        let lp = ListParams::default().labels(&match_labels(&d.spec.selector.match_labels));
        w.replica_sets = rs
            .list(&lp)
            .await
            .map_err(Error::observe(format!(
                "ReplicaSets of {}",
                spec.workload_ref.name
            )))?
            .items
            .iter()
            .map(ReplicaSetInfo::from)
            .filter(|r| r.owned_by(&uid))
            .collect();
    }
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    w.service = get_opt(&services, &spec.service, "Service").await?;
    if w.service.is_none() {
        w.spec_errors.push(FieldError::new(
            "spec.service",
            format!("Service `{}` not found in namespace {ns}", spec.service),
        ));
    }
    if let Some(route) = router.route_name() {
        read_route(client, &ns, route, &mut w).await;
    }
    w.owner_conflict = owner_conflict(client, ro, w.workload.as_ref()).await?;
    resolve_metrics(client, ro, &mut w).await?;
    Ok(w)
}

/// What `ro` points to, from the watch caches: an idle reconcile asks the API server
/// nothing. Pods are not cached: [`pods`] reads them when an analysis is due.
pub fn world_cached(
    caches: &Caches,
    ro: &Rollout,
    router: &dyn TrafficRouter,
) -> Result<World, Error> {
    let ns = ro.namespace().ok_or(Error::NoNamespace)?;
    let spec = &ro.spec;
    let own = |d: Option<Arc<Deployment>>| d.map(|d| d.as_ref().clone());
    let mut w = World {
        workload: own(caches.deployment(&ns, &spec.workload_ref.name)),
        canary: own(caches.deployment(&ns, &canary_name(&spec.workload_ref.name))),
        ..Default::default()
    };
    if let Some(d) = &w.workload {
        let uid = d.metadata.uid.clone().unwrap_or_default();
        w.replica_sets = caches.replica_sets_of(&ns, &spec.workload_ref.name, &uid);
    }
    w.service = caches
        .service(&ns, &spec.service)
        .map(|s| s.as_ref().clone());
    if w.service.is_none() {
        w.spec_errors.push(FieldError::new(
            "spec.service",
            format!("Service `{}` not found in namespace {ns}", spec.service),
        ));
    }
    if let Some(route) = router.route_name() {
        match &caches.routes {
            Some(routes) => match routes
                .get(&ObjectRef::new_with(route, http_route_resource()).within(&ns))
            {
                Some(r) => w.route = Some(serde_json::to_value(r.as_ref()).unwrap_or(Value::Null)),
                None => w.spec_errors.push(FieldError::new(
                    "spec.traffic.gatewayAPI.httpRoute",
                    format!("HTTPRoute `{route}` not found in namespace {ns}"),
                )),
            },
            None => w.router_unavailable = Some(routes_not_served()),
        }
    }
    w.owner_conflict = w
        .workload
        .as_ref()
        .and_then(workload::owner)
        .filter(|owner| *owner != ro.name_any() && caches.rollout_exists(&ns, owner))
        .map(str::to_string);
    if let Some(analysis) = &ro.spec.analysis {
        let templates: Vec<Option<AnalysisTemplateSpec>> = analysis
            .templates
            .iter()
            .map(|t| {
                if t.cluster_scope {
                    caches
                        .cluster_templates
                        .get(&ObjectRef::new(&t.name))
                        .map(|c| AnalysisTemplateSpec::from(c.spec.clone()))
                } else {
                    caches
                        .templates
                        .get(&ObjectRef::new(&t.name).within(&ns))
                        .map(|a| a.spec.clone())
                }
            })
            .collect();
        match resolve::resolve(analysis, &templates) {
            Ok(metrics) => w.metrics = metrics,
            Err(errors) => w.spec_errors.extend(errors),
        }
    }
    Ok(w)
}

/// Lists the pods the workload's selector matches (both tracks) into `w.pods`: only for
/// an analysis reading (`{{pods}}`, probes), so pods need no cache.
pub async fn pods(client: &Client, ro: &Rollout, w: &mut World) -> Result<(), Error> {
    let Some(d) = &w.workload else { return Ok(()) };
    let ns = ro.namespace().ok_or(Error::NoNamespace)?;
    let lp = ListParams::default().labels(&match_labels(&d.spec.selector.match_labels));
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    w.pods = api
        .list(&lp)
        .await
        .map_err(Error::observe(format!(
            "Pods of {}",
            ro.spec.workload_ref.name
        )))?
        .items;
    Ok(())
}

fn routes_not_served() -> String {
    let ar = http_route_resource();
    format!(
        "the HTTPRoute API ({}/{}, httproutes) is not served by this cluster: install \
         the Gateway API CRDs",
        ar.group, ar.version
    )
}

/// Reads the HTTPRoute. A route that does not exist is the user's to create (a spec
/// error); an API that is not served, or that fails, makes the router unavailable: the
/// engine holds the release and the router deadline runs.
async fn read_route(client: &Client, ns: &str, route: &str, w: &mut World) {
    let ar = http_route_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    match api.get(route).await {
        Ok(r) => w.route = Some(serde_json::to_value(r).unwrap_or(Value::Null)),
        Err(kube::Error::Api(s)) if route_missing(&s) => w.spec_errors.push(FieldError::new(
            "spec.traffic.gatewayAPI.httpRoute",
            format!("HTTPRoute `{route}` not found in namespace {ns}"),
        )),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            w.router_unavailable = Some(routes_not_served())
        }
        Err(e) => w.router_unavailable = Some(format!("reading HTTPRoute `{route}` failed: {e}")),
    }
}

/// A 404 about the object itself (it names the object), not about its kind: an API
/// server answers an unserved group with plain text and an unserved resource with a
/// Status that names nothing.
fn route_missing(s: &kube::core::Status) -> bool {
    s.code == 404
        && s.reason == "NotFound"
        && s.details.as_ref().is_some_and(|d| !d.name.is_empty())
}

/// The other Rollout that manages the workload, if its annotation names one that still
/// exists. A name left by a Rollout that is gone is no claim.
async fn owner_conflict(
    client: &Client,
    ro: &Rollout,
    workload: Option<&Deployment>,
) -> Result<Option<String>, Error> {
    let Some(owner) = workload.and_then(workload::owner) else {
        return Ok(None);
    };
    if owner == ro.name_any() {
        return Ok(None);
    }
    let ns = ro.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<Rollout> = Api::namespaced(client.clone(), &ns);
    let exists = get_opt(&api, owner, "Rollout").await?.is_some();
    Ok(exists.then(|| owner.to_string()))
}

fn match_labels(labels: &Option<BTreeMap<String, String>>) -> String {
    labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Fetches the referenced templates and resolves the metrics: args bound, queries
/// checked; every problem becomes a `FieldError` (InvalidSpec).
async fn resolve_metrics(client: &Client, ro: &Rollout, w: &mut World) -> Result<(), Error> {
    let Some(analysis) = &ro.spec.analysis else {
        return Ok(());
    };
    let ns = ro.namespace().ok_or(Error::NoNamespace)?;
    let mut templates = Vec::with_capacity(analysis.templates.len());
    for t in &analysis.templates {
        templates.push(if t.cluster_scope {
            let api: Api<ClusterAnalysisTemplate> = Api::all(client.clone());
            get_opt(&api, &t.name, "ClusterAnalysisTemplate")
                .await?
                .map(|c| AnalysisTemplateSpec::from(c.spec))
        } else {
            let api: Api<AnalysisTemplate> = Api::namespaced(client.clone(), &ns);
            get_opt(&api, &t.name, "AnalysisTemplate")
                .await?
                .map(|a| a.spec)
        });
    }
    match resolve::resolve(analysis, &templates) {
        Ok(metrics) => w.metrics = metrics,
        Err(errors) => w.spec_errors.extend(errors),
    }
    Ok(())
}

/// The engine's view of the world (without analysis, which is read only when due).
pub fn observations(ro: &Rollout, w: &World, router: &dyn TrafficRouter) -> Observations {
    let workload: Option<WorkloadObservation> = w
        .workload
        .as_ref()
        .map(|d| workload::observe_with(d, &w.replica_sets));
    let canary = w.canary.as_ref().map(workload::observe_canary);
    let traffic = TrafficObservation {
        canary_ready: canary.as_ref().map_or(0, |c| c.ready_replicas),
        stable_ready: workload.as_ref().map_or(0, |o| o.ready_replicas),
        route: w.route.as_ref(),
    };
    Observations {
        routed_weight: router.effective_weight(&traffic),
        workload,
        canary,
        analysis: None,
        command: ro
            .annotations()
            .get(crate::api::command::ANNOTATION)
            .cloned(),
        gates: Default::default(),
        spec_errors: w.spec_errors.clone(),
        router_unavailable: w.router_unavailable.clone(),
        owner_conflict: w.owner_conflict.clone(),
    }
}
