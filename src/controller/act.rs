//! Act: make the engine's desired state so, in an order that never sends traffic to a
//! pod that is not there: traffic leaves the canary before the canary shrinks, and the
//! canary grows before traffic arrives.

use super::error::Error;
use super::observe::{World, http_route_resource};
use super::replica_set::ReplicaSetInfo;
use super::workload::{self, canary_name};
use crate::api::Rollout;
use crate::engine::Desired;
use crate::engine::handover::{self, Handover};
use crate::traffic::{RouteContext, TrafficRouter};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

/// The field manager of every write the operator makes.
pub const MANAGER: &str = "portcullis";

pub fn owner_reference(ro: &Rollout) -> OwnerReference {
    ro.controller_owner_ref(&())
        .expect("a Rollout read from the API has a name and uid")
}

fn route_context<'a>(
    ns: &'a str,
    service: &'a Service,
    w: &'a World,
    ro: &'a Rollout,
    owner: &'a OwnerReference,
    desired: Option<&Desired>,
) -> RouteContext<'a> {
    let stable_hash = desired
        .map(|d| d.stable_revision.as_str())
        .or_else(|| {
            ro.status
                .as_ref()
                .and_then(|s| s.stable.as_ref())
                .map(|s| s.revision.as_str())
        })
        .and_then(|rev| w.stable_hash(rev));
    RouteContext {
        namespace: ns,
        service,
        stable_pod_template_hash: stable_hash,
        owner,
        weight: desired.map_or(0, |d| d.weight),
        header_routes: desired.is_some_and(|d| d.header_routes),
        restore: desired.is_none(),
    }
}

/// Applies `desired`; `current_weight` is what the router reports now.
pub async fn act(
    client: &Client,
    ro: &Rollout,
    w: &World,
    router: &dyn TrafficRouter,
    desired: &Desired,
    current_weight: i32,
    rejected: &[String],
) -> Result<(), Error> {
    let ns = ro.namespace().ok_or(Error::NoNamespace)?;
    let owner = owner_reference(ro);
    if let Some(service) = &w.service {
        let cx = route_context(&ns, service, w, ro, &owner, Some(desired));
        apply_services(client, &ns, router.services(&cx)?).await?;
        if desired.weight < current_weight {
            write_route(client, &ns, router, &cx, w).await?;
            canary(client, &ns, ro, w, desired, &owner).await?;
        } else {
            canary(client, &ns, ro, w, desired, &owner).await?;
            write_route(client, &ns, router, &cx, w).await?;
        }
    } else {
        canary(client, &ns, ro, w, desired, &owner).await?;
    }
    sync_workload(client, &ns, ro, w, desired.workload_paused, rejected).await
}

/// Nothing else to do, but the workload stays paused (and claimed): see `Decision::hold`.
pub async fn hold(
    client: &Client,
    ro: &Rollout,
    w: &World,
    rejected: &[String],
) -> Result<(), Error> {
    let ns = ro.namespace().ok_or(Error::NoNamespace)?;
    sync_workload(client, &ns, ro, w, true, rejected).await
}

/// What deleting a Rollout did to its Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handback {
    /// The Deployment runs a template Portcullis let through: unpaused as it is.
    Unpaused,
    /// The Deployment held a template Portcullis had not promoted (`revision`): the
    /// stable template was put back, then it was unpaused.
    Restored { revision: String },
    /// Not promoted, and the stable template could not be found: left paused.
    KeptPaused { revision: String },
    /// Another Rollout manages the Deployment: untouched.
    NotOurs,
}

/// On deletion of the Rollout: traffic back to the app's Service, and the Deployment
/// handed back to Kubernetes without ever rolling out a template Portcullis had not
/// promoted (it gets the stable template back first). Rejections stay recorded on it.
pub async fn release(
    client: &Client,
    ro: &Rollout,
    w: &World,
    router: &dyn TrafficRouter,
) -> Result<Handback, Error> {
    let ns = ro.namespace().ok_or(Error::NoNamespace)?;
    let st = ro.status.clone().unwrap_or_default();
    let handover = w
        .workload
        .as_ref()
        .map(|d| handover::on_delete(&st, &workload::observe(d), w.owner_conflict.is_some()));
    if handover == Some(Handover::NotOurs) {
        return Ok(Handback::NotOurs);
    }
    let owner = owner_reference(ro);
    if let Some(service) = &w.service {
        let cx = route_context(&ns, service, w, ro, &owner, None);
        write_route(client, &ns, router, &cx, w).await?;
    }
    let handback = match (&w.workload, handover) {
        (Some(d), Some(Handover::RestoreStable { revision })) => {
            hand_back(client, &ns, &st, w, d, Some(revision)).await?
        }
        (Some(d), _) => hand_back(client, &ns, &st, w, d, None).await?,
        (None, _) => Handback::Unpaused,
    };
    if w.canary.is_some() {
        delete_canary(client, &ns, ro).await?;
    }
    Ok(handback)
}

/// Writes the Deployment back: unpaused, unclaimed, rejections recorded, and, when it
/// holds the unpromoted `replace` revision, with the stable template put back.
async fn hand_back(
    client: &Client,
    ns: &str,
    st: &crate::api::RolloutStatus,
    w: &World,
    d: &Deployment,
    replace: Option<String>,
) -> Result<Handback, Error> {
    let mut wanted = d.clone();
    let annotations = wanted
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    annotations.remove(workload::OWNER_ANNOTATION);
    if !st.rejected_revisions.is_empty() {
        annotations.insert(
            workload::REJECTED_ANNOTATION.into(),
            st.rejected_revisions.join(","),
        );
    }
    let handback = match replace {
        None => Handback::Unpaused,
        Some(revision) => {
            let template = match &st.stable {
                Some(s) => stable_template(client, ns, w, d, &s.revision).await?,
                None => None,
            };
            match template {
                Some(t) => {
                    wanted.spec.template = t;
                    Handback::Restored { revision }
                }
                None => Handback::KeptPaused { revision },
            }
        }
    };
    wanted.spec.paused = Some(matches!(handback, Handback::KeptPaused { .. }));
    if wanted.spec.paused == Some(false) && d.spec.paused.is_none() {
        wanted.spec.paused = None;
    }
    if wanted
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.is_empty())
        && d.metadata.annotations.is_none()
    {
        wanted.metadata.annotations = None;
    }
    if &wanted == d {
        return Ok(handback);
    }
    // Left out, the server keeps the field ownership as it is.
    wanted.metadata.managed_fields = None;
    // One write, template and `paused` together, guarded by the resourceVersion read: a
    // Deployment changed meanwhile gives 409 and the cleanup runs again.
    let name = d.name_any();
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    api.replace(&name, &post_params(), &wanted)
        .await
        .map_err(Error::act(format!("Deployment {name} (hand-back)")))?;
    Ok(handback)
}

/// Create/replace options naming Portcullis as the field manager (every write does).
pub(crate) fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

/// Patch options naming Portcullis as the field manager (merge and JSON patches).
pub(crate) fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

/// The stable ReplicaSet's pod template as the Deployment had it, read live (the cache
/// keeps no templates); `None` unless the live ReplicaSet still runs exactly `stable`
/// under the Deployment: only the stable release may be put back.
async fn stable_template(
    client: &Client,
    ns: &str,
    w: &World,
    d: &Deployment,
    stable: &str,
) -> Result<Option<PodTemplateSpec>, Error> {
    let Some(cached) = workload::stable_replica_set(d, &w.replica_sets, stable) else {
        return Ok(None);
    };
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let name = &cached.name;
    let Some(live) = api
        .get_opt(name)
        .await
        .map_err(Error::observe(format!("ReplicaSet {name} (hand-back)")))?
    else {
        return Ok(None);
    };
    let still = [ReplicaSetInfo::from(&live)];
    if workload::stable_replica_set(d, &still, stable).is_none() {
        return Ok(None);
    }
    Ok(workload::deployment_template(&live))
}

async fn apply_services(client: &Client, ns: &str, services: Vec<Service>) -> Result<(), Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let pp = PatchParams::apply(MANAGER).force();
    for s in services {
        let name = s.name_any();
        let mut body = serde_json::to_value(&s).unwrap_or_default();
        body["apiVersion"] = json!("v1");
        body["kind"] = json!("Service");
        api.patch(&name, &pp, &Patch::Apply(body))
            .await
            .map_err(Error::act(format!("Service {name}")))?;
    }
    Ok(())
}

async fn write_route(
    client: &Client,
    ns: &str,
    router: &dyn TrafficRouter,
    cx: &RouteContext<'_>,
    w: &World,
) -> Result<(), Error> {
    let Some(live) = &w.route else { return Ok(()) };
    let Some(wanted) = router.route(cx, live)? else {
        return Ok(());
    };
    if &wanted == live {
        return Ok(());
    }
    let name = live["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &http_route_resource());
    let obj: DynamicObject = serde_json::from_value(wanted).map_err(|e| Error::Act {
        what: format!("HTTPRoute {name}"),
        source: kube::Error::SerdeError(e),
    })?;
    // The read resourceVersion rides along: a 409 means the route changed, retry.
    let pp = post_params();
    api.replace(&name, &pp, &obj)
        .await
        .map_err(Error::act(format!("HTTPRoute {name}")))?;
    Ok(())
}

async fn canary(
    client: &Client,
    ns: &str,
    ro: &Rollout,
    w: &World,
    desired: &Desired,
    owner: &OwnerReference,
) -> Result<(), Error> {
    let (Some(c), Some(workload)) = (&desired.canary, &w.workload) else {
        if w.canary.is_some() {
            delete_canary(client, ns, ro).await?;
        }
        return Ok(());
    };
    let wanted = workload::canary_deployment(workload, c, owner);
    let unchanged = w.canary.as_ref().is_some_and(|live| {
        live.spec.replicas == wanted.spec.replicas
            && live.spec.template == wanted.spec.template
            && live.annotations().get(workload::REVISION_ANNOTATION)
                == wanted.annotations().get(workload::REVISION_ANNOTATION)
    });
    if unchanged {
        return Ok(());
    }
    let name = wanted.name_any();
    let mut body = serde_json::to_value(&wanted).unwrap_or_default();
    body["apiVersion"] = json!("apps/v1");
    body["kind"] = json!("Deployment");
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map_err(Error::act(format!("canary Deployment {name}")))?;
    Ok(())
}

async fn delete_canary(client: &Client, ns: &str, ro: &Rollout) -> Result<(), Error> {
    let name = canary_name(&ro.spec.workload_ref.name);
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    match api.delete(&name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::act(format!("canary Deployment {name}"))(e)),
    }
}

/// A merge patch of `spec.paused` and Portcullis' two annotations (owner, rejected
/// revisions) alone: nothing else of the user's object changes.
async fn sync_workload(
    client: &Client,
    ns: &str,
    ro: &Rollout,
    w: &World,
    paused: bool,
    rejected: &[String],
) -> Result<(), Error> {
    let Some(d) = &w.workload else { return Ok(()) };
    let name = ro.name_any();
    let rejected = rejected.join(",");
    let recorded = workload::rejected_revisions(d).join(",");
    let owned = workload::owner(d) == Some(name.as_str());
    if d.spec.paused.unwrap_or(false) == paused && owned && recorded == rejected {
        return Ok(());
    }
    let rejected = (!rejected.is_empty()).then_some(rejected);
    let patch = json!({
        "metadata": {"annotations": {
            workload::OWNER_ANNOTATION: name,
            workload::REJECTED_ANNOTATION: rejected,
        }},
        "spec": {"paused": paused},
    });
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let dn = d.name_any();
    let what = || format!("Deployment {dn} (spec.paused)");
    if paused {
        // Pausing is always safe: no guard.
        api.patch(&dn, &patch_params(), &Patch::Merge(patch))
            .await
            .map_err(Error::act(what()))?;
        return Ok(());
    }
    // Unpausing rolls out the template the engine judged on the copy it read (often a
    // watch cache's, which may lag behind status updates): guarded by that copy's
    // resourceVersion. On a 409 the live copy is read once: still the same template,
    // the patch goes again guarded by its resourceVersion; a new one, the 409 stands
    // (the next reconcile judges it).
    let guarded = |rv: Option<String>| {
        let mut p = patch.clone();
        p["metadata"]["resourceVersion"] = json!(rv);
        p
    };
    match api
        .patch(
            &dn,
            &patch_params(),
            &Patch::Merge(guarded(d.resource_version())),
        )
        .await
    {
        Ok(_) => return Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => return Err(Error::act(what())(e)),
    }
    let live = api.get(&dn).await.map_err(Error::observe(what()))?;
    if live.spec.template != d.spec.template {
        return Err(Error::Act {
            what: what(),
            source: kube::Error::Api(Box::new(kube::core::Status {
                code: 409,
                message: "the pod template changed since it was judged".into(),
                reason: "Conflict".into(),
                ..Default::default()
            })),
        });
    }
    api.patch(
        &dn,
        &patch_params(),
        &Patch::Merge(guarded(live.resource_version())),
    )
    .await
    .map_err(Error::act(what()))?;
    Ok(())
}
