//! CRD generation: what `portcullis crds` prints and `crds/` holds.

use super::{AnalysisTemplate, ClusterAnalysisTemplate, Rollout};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// OpenAPI formats kube-apiserver understands; schemars' others (`uint32`, `uint8`, ...)
/// make `kubectl apply` warn, so they are removed.
pub const KNOWN_FORMATS: &[&str] = &[
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "binary",
    "date",
    "date-time",
    "duration",
    "password",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "uuid",
];

/// The three CRDs, schemas cleaned of formats Kubernetes does not know.
pub fn crds() -> Vec<CustomResourceDefinition> {
    [
        Rollout::crd(),
        AnalysisTemplate::crd(),
        ClusterAnalysisTemplate::crd(),
    ]
    .into_iter()
    .map(|crd| {
        let mut value = serde_json::to_value(&crd).expect("a CRD serializes");
        strip_unknown_formats(&mut value);
        serde_json::from_value(value).expect("a cleaned CRD still deserializes")
    })
    .collect()
}

/// The CRDs as one YAML stream, documents separated by `---`.
pub fn crds_yaml() -> String {
    crds()
        .iter()
        .map(|crd| serde_saphyr::to_string(crd).expect("a CRD serializes to YAML"))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn strip_unknown_formats(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let unknown = matches!(map.get("format"), Some(serde_json::Value::String(f)) if !KNOWN_FORMATS.contains(&f.as_str()));
            if unknown {
                map.remove("format");
            }
            map.values_mut().for_each(strip_unknown_formats);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_unknown_formats),
        _ => {}
    }
}
