//! A compact description of the built-in kinds' list and map semantics: the
//! `patchStrategy`/`patchMergeKey` and `listType`/`listMapKeys`/`mapType` markers of
//! the Kubernetes Go types, for the fields where they differ from the defaults (a field
//! not described here is a plain struct field; an undescribed list is atomic and a
//! strategic merge patch replaces it).

/// How a strategic merge patch treats a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Smp {
    /// No `patchStrategy`: the patch's list replaces the original.
    Replace,
    /// `patchStrategy:"merge"` with a `patchMergeKey`.
    MergeKey(&'static str),
    /// `patchStrategy:"merge"` on a list of scalars: union, duplicates dropped.
    MergePrimitives,
}

/// Server-side apply's view of a list (`+listType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    Atomic,
    Set,
    /// `+listType=map` with `+listMapKey`s; each key may carry the default it gets
    /// when an item omits it (e.g. `protocol: TCP` of ports).
    Map(&'static [(&'static str, Option<&'static str>)]),
}

#[derive(Debug)]
pub struct ListShape {
    pub smp: Smp,
    pub ssa: ListType,
    pub item: &'static Shape,
}

#[derive(Debug)]
pub enum Shape {
    /// A struct; fields not listed are plain granular fields.
    Struct(&'static [(&'static str, &'static Shape)]),
    /// `+structType=atomic` / `+mapType=atomic`: owned and replaced as a whole.
    Atomic,
    /// A map (`map[string]T`): its keys are map elements, not declared fields.
    Map,
    List(ListShape),
}

/// A list merged by one key, the same for strategic merge and server-side apply.
const fn keyed(
    key: &'static [(&'static str, Option<&'static str>)],
    item: &'static Shape,
) -> Shape {
    Shape::List(ListShape {
        smp: Smp::MergeKey(key[0].0),
        ssa: ListType::Map(key),
        item,
    })
}

const fn list(smp: Smp, ssa: ListType, item: &'static Shape) -> Shape {
    Shape::List(ListShape { smp, ssa, item })
}

const NAME: &[(&str, Option<&str>)] = &[("name", None)];
const TYPE: &[(&str, Option<&str>)] = &[("type", None)];
const IP: &[(&str, Option<&str>)] = &[("ip", None)];
const EMPTY: Shape = Shape::Struct(&[]);
const ATOMIC_LIST: Shape = list(Smp::Replace, ListType::Atomic, &Shape::Atomic);
const BY_NAME: Shape = keyed(NAME, &EMPTY);
const CONDITIONS: Shape = keyed(TYPE, &EMPTY);

pub const OBJECT_META: Shape = Shape::Struct(&[
    ("labels", &Shape::Map),
    ("annotations", &Shape::Map),
    (
        "finalizers",
        &list(Smp::MergePrimitives, ListType::Set, &Shape::Atomic),
    ),
    // OwnerReference is `+structType=atomic`: an item is owned whole.
    ("ownerReferences", &keyed(&[("uid", None)], &Shape::Atomic)),
    ("managedFields", &ATOMIC_LIST),
]);

const CONTAINER: Shape = Shape::Struct(&[
    (
        "ports",
        &list(
            Smp::MergeKey("containerPort"),
            ListType::Map(&[("containerPort", None), ("protocol", Some("TCP"))]),
            &EMPTY,
        ),
    ),
    ("env", &BY_NAME),
    ("volumeMounts", &keyed(&[("mountPath", None)], &EMPTY)),
    ("volumeDevices", &keyed(&[("devicePath", None)], &EMPTY)),
    (
        "resources",
        &Shape::Struct(&[
            ("limits", &Shape::Map),
            ("requests", &Shape::Map),
            ("claims", &BY_NAME),
        ]),
    ),
]);

const POD_SPEC: Shape = Shape::Struct(&[
    ("containers", &keyed(NAME, &CONTAINER)),
    ("initContainers", &keyed(NAME, &CONTAINER)),
    ("ephemeralContainers", &keyed(NAME, &CONTAINER)),
    ("volumes", &BY_NAME),
    ("imagePullSecrets", &BY_NAME),
    ("hostAliases", &keyed(IP, &EMPTY)),
    ("nodeSelector", &Shape::Map),
    ("overhead", &Shape::Map),
    ("resourceClaims", &BY_NAME),
    ("schedulingGates", &BY_NAME),
    (
        "topologySpreadConstraints",
        &list(
            Smp::MergeKey("topologyKey"),
            ListType::Map(&[("topologyKey", None), ("whenUnsatisfiable", None)]),
            &EMPTY,
        ),
    ),
]);

const POD_TEMPLATE: Shape = Shape::Struct(&[("metadata", &OBJECT_META), ("spec", &POD_SPEC)]);
const WITH_CONDITIONS: Shape = Shape::Struct(&[("conditions", &CONDITIONS)]);

static WORKLOAD: Shape = Shape::Struct(&[
    ("metadata", &OBJECT_META),
    (
        "spec",
        &Shape::Struct(&[("selector", &Shape::Atomic), ("template", &POD_TEMPLATE)]),
    ),
    ("status", &WITH_CONDITIONS),
]);

static POD: Shape = Shape::Struct(&[
    ("metadata", &OBJECT_META),
    ("spec", &POD_SPEC),
    (
        "status",
        &Shape::Struct(&[
            ("conditions", &CONDITIONS),
            ("podIPs", &keyed(IP, &EMPTY)),
            ("hostIPs", &keyed(IP, &EMPTY)),
        ]),
    ),
]);

static POD_TEMPLATE_OBJECT: Shape =
    Shape::Struct(&[("metadata", &OBJECT_META), ("template", &POD_TEMPLATE)]);

static SERVICE: Shape = Shape::Struct(&[
    ("metadata", &OBJECT_META),
    (
        "spec",
        &Shape::Struct(&[
            (
                "ports",
                &list(
                    Smp::MergeKey("port"),
                    ListType::Map(&[("port", None), ("protocol", Some("TCP"))]),
                    &EMPTY,
                ),
            ),
            ("selector", &Shape::Map),
        ]),
    ),
    ("status", &WITH_CONDITIONS),
]);

static DATA_OBJECT: Shape = Shape::Struct(&[
    ("metadata", &OBJECT_META),
    ("data", &Shape::Map),
    ("binaryData", &Shape::Map),
    ("stringData", &Shape::Map),
]);

static NAMESPACE: Shape =
    Shape::Struct(&[("metadata", &OBJECT_META), ("status", &WITH_CONDITIONS)]);

/// core/v1 and events.k8s.io/v1 Events: object references are `+structType=atomic`.
static EVENT: Shape = Shape::Struct(&[
    ("metadata", &OBJECT_META),
    ("involvedObject", &Shape::Atomic),
    ("regarding", &Shape::Atomic),
    ("related", &Shape::Atomic),
]);

static PLAIN: Shape = Shape::Struct(&[("metadata", &OBJECT_META)]);

/// The shape of a built-in kind; kinds not described are plain objects with metadata.
pub fn kind_shape(group: &str, kind: &str) -> &'static Shape {
    match (group, kind) {
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => &WORKLOAD,
        ("", "Pod") => &POD,
        ("", "PodTemplate") => &POD_TEMPLATE_OBJECT,
        ("", "Service") => &SERVICE,
        ("", "ConfigMap" | "Secret") => &DATA_OBJECT,
        ("", "Namespace") => &NAMESPACE,
        ("" | "events.k8s.io", "Event") => &EVENT,
        _ => &PLAIN,
    }
}

/// Paths that a Go zero value of the kind already carries (non-`omitempty` fields and
/// non-pointer structs): kube-apiserver compares a create against that zero value, so
/// these nodes are never recorded as added (no `"."` in fieldsV1). `*` stands for any
/// list item; `path=JSON` gives the zero value (`null` for lists and pointers, `""` for
/// strings), a bare path is a struct (`{}`).
pub fn zero_value_paths(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("apps", "Deployment") => &[
            "metadata",
            "spec",
            "spec.strategy",
            "spec.template",
            "spec.template.metadata",
            "spec.template.spec",
            "spec.template.spec.containers=null",
            "spec.template.spec.containers.*.resources",
            "status",
        ],
        ("apps", "ReplicaSet" | "StatefulSet" | "DaemonSet") => &[
            "metadata",
            "spec",
            "spec.template",
            "spec.template.metadata",
            "spec.template.spec",
            "spec.template.spec.containers=null",
            "spec.template.spec.containers.*.resources",
            "status",
        ],
        ("", "Pod") => &[
            "metadata",
            "spec",
            "spec.containers=null",
            "spec.containers.*.resources",
            "status",
        ],
        ("", "Service") => &["metadata", "spec", "status", "status.loadBalancer"],
        ("", "Namespace") => &["metadata", "spec", "status"],
        ("apiextensions.k8s.io", "CustomResourceDefinition") => &[
            "metadata",
            "spec",
            "spec.names",
            "status",
            "status.acceptedNames",
        ],
        ("coordination.k8s.io", "Lease") => &["metadata", "spec"],
        ("", "Event") => &[
            "metadata",
            "involvedObject",
            "source",
            "firstTimestamp=null",
            "lastTimestamp=null",
            "eventTime=null",
            "reportingComponent=\"\"",
            "reportingInstance=\"\"",
        ],
        ("events.k8s.io", "Event") => &[
            "metadata",
            "regarding",
            "deprecatedSource",
            "eventTime=null",
            "deprecatedFirstTimestamp=null",
            "deprecatedLastTimestamp=null",
        ],
        _ => &["metadata"],
    }
}

/// Fields kube-apiserver fills in on create after it recorded managedFields (the
/// Namespace strategy adds the `kubernetes` finalizer): the creator does not own them.
pub fn set_by_create_strategy(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("", "Namespace") => &["spec.finalizers"],
        _ => &[],
    }
}

/// Built-in kinds served with a `/status` subresource: their main resource ignores
/// `status` (and server-side apply does not track it there).
pub fn has_status_subresource(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        (
            "apps",
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"
        ) | ("", "Pod" | "Service" | "Namespace")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_zero_value_in_the_table_is_json() {
        let kinds = [
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("", "Pod"),
            ("", "Service"),
            ("", "Namespace"),
            ("coordination.k8s.io", "Lease"),
            ("", "Event"),
            ("events.k8s.io", "Event"),
            ("", "ConfigMap"),
        ];
        for (group, kind) in kinds {
            for path in zero_value_paths(group, kind) {
                if let Some((_, zero)) = path.split_once('=') {
                    assert!(
                        serde_json::from_str::<serde_json::Value>(zero).is_ok(),
                        "{kind}: {path}"
                    );
                }
            }
        }
    }
}
