//! The `gatewayAPI` router: exact weights on one rule of an HTTPRoute, between two
//! Services Portcullis owns (`<service>-stable` selecting the stable ReplicaSet's pods by
//! `pod-template-hash`, `<service>-canary` selecting canary pods by track label).
//!
//! The HTTPRoute belongs to the user, and its `rules` list is atomic in the Gateway API
//! schema, so server-side apply would take the whole list over. Instead the controller
//! reads the route, this router rewrites only the managed rule's `backendRefs` and the
//! header-route rules it added itself (named `<rule>-portcullis-<headerRoute>`), and the
//! controller writes it back with the read resourceVersion (a 409 means: read and retry).
//! Every other rule and every field this code does not know is kept as it was.

use super::{
    CANARY_TRACK, POD_TEMPLATE_HASH_LABEL, RouteContext, TRACK_LABEL, TrafficError,
    TrafficObservation, TrafficRouter, name_of, selector,
};
use crate::api::{GatewayApiRouter, HeaderMatchType};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Marks the rules this router adds for header routes.
const HEADER_RULE_INFIX: &str = "-portcullis-";

pub struct GatewayApi {
    service: String,
    config: GatewayApiRouter,
}

impl GatewayApi {
    pub fn new(service: &str, config: GatewayApiRouter) -> Self {
        GatewayApi {
            service: service.to_string(),
            config,
        }
    }

    pub fn stable_service(&self) -> String {
        format!("{}-stable", self.service)
    }

    pub fn canary_service(&self) -> String {
        format!("{}-canary", self.service)
    }

    fn owned_service(
        &self,
        cx: &RouteContext<'_>,
        name: String,
        extra: (&str, &str),
    ) -> Result<Service, TrafficError> {
        let mut selector = selector(cx.service)?;
        selector.insert(extra.0.to_string(), extra.1.to_string());
        let ports = service_ports(cx.service)?;
        Ok(Service {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(cx.namespace.to_string()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_string(),
                    "portcullis".to_string(),
                )])),
                owner_references: Some(vec![cx.owner.clone()]),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: Some(selector),
                ports: Some(ports),
                ..Default::default()
            }),
            status: None,
        })
    }

    /// Index of the managed rule in `rules`.
    fn managed_rule(&self, route: &Value, rules: &[Value]) -> Result<usize, TrafficError> {
        let route_name = route["metadata"]["name"].as_str().unwrap_or_default();
        let ours = |r: &Value| {
            r["name"]
                .as_str()
                .is_some_and(|n| n.contains(HEADER_RULE_INFIX))
        };
        match &self.config.rule {
            Some(wanted) => rules
                .iter()
                .position(|r| r["name"].as_str() == Some(wanted))
                .ok_or_else(|| TrafficError::NoSuchRule {
                    route: route_name.to_string(),
                    rule: wanted.clone(),
                    known: rules
                        .iter()
                        .filter(|r| !ours(r))
                        .filter_map(|r| r["name"].as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            None => rules
                .iter()
                .position(|r| !ours(r))
                .ok_or_else(|| TrafficError::NoRules(route_name.to_string())),
        }
    }

    fn backend(&self, template: &Value, name: &str, port: &Value, weight: i32) -> Value {
        let mut b = template.clone();
        if !b.is_object() {
            b = json!({});
        }
        b["name"] = json!(name);
        if let Some(m) = b.as_object_mut() {
            // A template pointing elsewhere may carry a group/kind/namespace of its own.
            m.remove("group");
            m.remove("kind");
            m.remove("namespace");
        }
        if !port.is_null() {
            b["port"] = port.clone();
        }
        b["weight"] = json!(weight);
        b
    }
}

impl TrafficRouter for GatewayApi {
    fn services(&self, cx: &RouteContext<'_>) -> Result<Vec<Service>, TrafficError> {
        // Without a known stable ReplicaSet (no canary yet) the stable Service selects the
        // app's pods: nothing else runs then.
        let stable = match cx.stable_pod_template_hash {
            Some(hash) => {
                self.owned_service(cx, self.stable_service(), (POD_TEMPLATE_HASH_LABEL, hash))?
            }
            None => {
                let mut s =
                    self.owned_service(cx, self.stable_service(), (TRACK_LABEL, CANARY_TRACK))?;
                if let Some(sel) = s.spec.as_mut().and_then(|s| s.selector.as_mut()) {
                    sel.remove(TRACK_LABEL);
                }
                s
            }
        };
        let canary = self.owned_service(cx, self.canary_service(), (TRACK_LABEL, CANARY_TRACK))?;
        Ok(vec![stable, canary])
    }

    fn route(&self, cx: &RouteContext<'_>, live: &Value) -> Result<Option<Value>, TrafficError> {
        let mut route = live.clone();
        let rules: Vec<Value> = route["spec"]["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let idx = self.managed_rule(&route, &rules)?;
        let base = &rules[idx];
        let known = [
            self.service.as_str(),
            &self.stable_service(),
            &self.canary_service(),
        ];
        let refs = base["backendRefs"].as_array().cloned().unwrap_or_default();
        let template = refs
            .iter()
            .find(|b| b["name"].as_str().is_some_and(|n| known.contains(&n)))
            .or(refs.first())
            .cloned()
            .unwrap_or_else(|| json!({}));
        let port = match &template["port"] {
            Value::Null => first_port(cx.service),
            p => p.clone(),
        };
        let mut managed = base.clone();
        managed["backendRefs"] = if cx.restore {
            let mut b = self.backend(&template, &self.service, &port, 1);
            if let Some(m) = b.as_object_mut() {
                m.remove("weight");
            }
            json!([b])
        } else {
            let w = cx.weight.clamp(0, 100);
            json!([
                self.backend(&template, &self.stable_service(), &port, 100 - w),
                self.backend(&template, &self.canary_service(), &port, w),
            ])
        };
        let base_name = base["name"].as_str().unwrap_or("rule").to_string();
        let header_rules: Vec<Value> = if cx.restore || !cx.header_routes {
            Vec::new()
        } else {
            self.config
                .header_routes
                .iter()
                .map(|hr| {
                    let mut rule = base.clone();
                    rule["name"] = json!(format!("{base_name}{HEADER_RULE_INFIX}{}", hr.name));
                    let headers: Vec<Value> = hr
                        .headers
                        .iter()
                        .map(|h| {
                            let t = match h.match_type.unwrap_or(HeaderMatchType::Exact) {
                                HeaderMatchType::Exact => "Exact",
                                HeaderMatchType::RegularExpression => "RegularExpression",
                            };
                            json!({"type": t, "name": h.name, "value": h.value})
                        })
                        .collect();
                    rule["matches"] = with_headers(&base["matches"], &headers);
                    rule["backendRefs"] =
                        json!([self.backend(&template, &self.canary_service(), &port, 1)]);
                    rule
                })
                .collect()
        };
        let mut out = Vec::with_capacity(rules.len() + header_rules.len());
        for (i, r) in rules.iter().enumerate() {
            let is_ours = r["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("{base_name}{HEADER_RULE_INFIX}")));
            if i == idx {
                // Header rules first: Gateway API also ranks matches with more headers higher.
                out.extend(header_rules.iter().cloned());
                out.push(managed.clone());
            } else if !is_ours {
                out.push(r.clone());
            }
        }
        route["spec"]["rules"] = Value::Array(out);
        Ok(Some(route))
    }

    fn effective_weight(&self, obs: &TrafficObservation<'_>) -> i32 {
        let Some(route) = obs.route else { return 0 };
        let rules = route["spec"]["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let Ok(idx) = self.managed_rule(route, &rules) else {
            return 0;
        };
        let refs = rules[idx]["backendRefs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // An absent weight is 1, as in Gateway API.
        let weight = |b: &Value| b["weight"].as_i64().unwrap_or(1).max(0);
        let total: i64 = refs.iter().map(weight).sum();
        let canary: i64 = refs
            .iter()
            .filter(|b| b["name"].as_str() == Some(self.canary_service().as_str()))
            .map(weight)
            .sum();
        if total == 0 {
            0
        } else {
            ((100 * canary + total / 2) / total) as i32
        }
    }

    fn route_name(&self) -> Option<&str> {
        Some(&self.config.http_route)
    }
}

/// The rule's matches, each with `headers` added (all must hold); a rule without
/// matches matches every request, so it becomes one match on the headers alone.
fn with_headers(matches: &Value, headers: &[Value]) -> Value {
    let mut list = matches.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        list.push(json!({"path": {"type": "PathPrefix", "value": "/"}}));
    }
    for m in &mut list {
        let mut all = m["headers"].as_array().cloned().unwrap_or_default();
        for h in headers {
            all.retain(|x| x["name"] != h["name"]);
            all.push(h.clone());
        }
        m["headers"] = Value::Array(all);
    }
    Value::Array(list)
}

fn service_ports(service: &Service) -> Result<Vec<ServicePort>, TrafficError> {
    let ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| TrafficError::NoPorts(name_of(service)))?;
    Ok(ports
        .into_iter()
        .map(|p| ServicePort {
            name: p.name,
            port: p.port,
            target_port: p.target_port,
            protocol: p.protocol,
            app_protocol: p.app_protocol,
            ..Default::default()
        })
        .collect())
}

fn first_port(service: &Service) -> Value {
    service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|p| p.first())
        .map(|p| json!(p.port))
        .unwrap_or(Value::Null)
}
