//! Act: make the engine's desired state so, in an order that never sends traffic to a
//! pod that is not there: traffic leaves the canary before the canary shrinks, and the
//! canary grows before traffic arrives.

use super::error::Error;
use super::observe::{World, http_route_resource};
use super::workload::{self, canary_name};
use crate::api::Rollout;
use crate::engine::Desired;
use crate::traffic::{RouteContext, TrafficRouter};
use k8s_openapi::api::apps::v1::Deployment;
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
    pause_workload(client, &ns, w, desired.workload_paused).await
}

/// On deletion of the Rollout: traffic back to the app's Service, the workload unpaused
/// so Kubernetes owns it again. Owned objects go by garbage collection.
pub async fn release(
    client: &Client,
    ro: &Rollout,
    w: &World,
    router: &dyn TrafficRouter,
) -> Result<(), Error> {
    let ns = ro.namespace().ok_or(Error::NoNamespace)?;
    let owner = owner_reference(ro);
    if let Some(service) = &w.service {
        let cx = route_context(&ns, service, w, ro, &owner, None);
        write_route(client, &ns, router, &cx, w).await?;
    }
    pause_workload(client, &ns, w, false).await?;
    if w.canary.is_some() {
        delete_canary(client, &ns, ro).await?;
    }
    Ok(())
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
    let pp = PostParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
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

/// A merge patch of `spec.paused` alone: nothing else of the user's object changes.
async fn pause_workload(client: &Client, ns: &str, w: &World, paused: bool) -> Result<(), Error> {
    let Some(d) = &w.workload else { return Ok(()) };
    if d.spec.paused.unwrap_or(false) == paused {
        return Ok(());
    }
    let name = d.name_any();
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let pp = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    api.patch(
        &name,
        &pp,
        &Patch::Merge(json!({"spec": {"paused": paused}})),
    )
    .await
    .map_err(Error::act(format!("Deployment {name} (spec.paused)")))?;
    Ok(())
}
