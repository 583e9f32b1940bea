//! One cursor over "what is the shape of the value at this path", whether the shape
//! comes from the built-in table or from a CRD's structural schema, so strategic merge,
//! server-side apply and field sets walk objects the same way for both.

use super::TypeInfo;
use super::builtin_types::{ListType, OBJECT_META, Shape, Smp, kind_shape};
use serde_json::Value;

#[derive(Debug, Clone, Copy)]
pub enum Ty<'a> {
    Static(&'static Shape),
    /// The root of a custom resource: `metadata` is ObjectMeta whatever the schema says.
    SchemaRoot(&'a Value),
    Schema(&'a Value),
    /// A field the built-in table does not describe: objects are plain structs, lists atomic.
    Untyped,
    /// `x-kubernetes-preserve-unknown-fields` or an undeclared field: objects are maps,
    /// lists atomic.
    Deduced,
}

/// A list's server-side apply semantics, with each map key's default (from the schema).
#[derive(Debug, Clone, PartialEq)]
pub enum ListKind<'a> {
    Atomic,
    Set,
    Map(Vec<(&'a str, Option<Value>)>),
}

#[derive(Debug, Clone, Copy)]
pub struct Child<'a> {
    pub ty: Ty<'a>,
    /// A declared struct field (as opposed to a map element such as a label key).
    pub declared: bool,
}

impl<'a> Ty<'a> {
    pub fn root(types: TypeInfo<'a>) -> Self {
        match types {
            TypeInfo::BuiltIn { group, kind } => Ty::Static(kind_shape(group, kind)),
            TypeInfo::Schema(schema) => Ty::SchemaRoot(schema),
        }
    }

    pub fn field(self, name: &str) -> Child<'a> {
        let declared = |ty| Child { ty, declared: true };
        match self {
            Ty::Static(Shape::Struct(fields)) => declared(
                fields
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(Ty::Untyped, |(_, s)| Ty::Static(s)),
            ),
            Ty::Static(Shape::Map) => Child {
                ty: Ty::Untyped,
                declared: false,
            },
            Ty::Static(_) | Ty::Untyped => declared(Ty::Untyped),
            Ty::SchemaRoot(schema) => match name {
                "metadata" => declared(Ty::Static(&OBJECT_META)),
                "apiVersion" | "kind" => declared(Ty::Untyped),
                _ => Ty::Schema(schema).field(name),
            },
            Ty::Schema(schema) => {
                if let Some(prop) = schema.get("properties").and_then(|p| p.get(name)) {
                    declared(Ty::Schema(prop))
                } else if let Some(extra @ Value::Object(_)) = schema.get("additionalProperties") {
                    Child {
                        ty: Ty::Schema(extra),
                        declared: false,
                    }
                } else {
                    Child {
                        ty: Ty::Deduced,
                        declared: false,
                    }
                }
            }
            Ty::Deduced => Child {
                ty: Ty::Deduced,
                declared: false,
            },
        }
    }

    pub fn item(self) -> Ty<'a> {
        match self {
            Ty::Static(Shape::List(list)) => Ty::Static(list.item),
            Ty::Schema(schema) => schema.get("items").map_or(Ty::Deduced, Ty::Schema),
            Ty::Deduced | Ty::SchemaRoot(_) => Ty::Deduced,
            Ty::Static(_) | Ty::Untyped => Ty::Untyped,
        }
    }

    pub fn list_kind(self) -> ListKind<'a> {
        match self {
            Ty::Static(Shape::List(list)) => match list.ssa {
                ListType::Atomic => ListKind::Atomic,
                ListType::Set => ListKind::Set,
                ListType::Map(keys) => ListKind::Map(
                    keys.iter()
                        .map(|(k, d)| (*k, d.map(|d| Value::String(d.to_owned()))))
                        .collect(),
                ),
            },
            Ty::Schema(schema) => {
                match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("set") => ListKind::Set,
                    Some("map") => {
                        let items = schema.get("items");
                        let keys = schema
                            .get("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array);
                        ListKind::Map(
                            keys.into_iter()
                                .flatten()
                                .filter_map(Value::as_str)
                                .map(|k| {
                                    let default = items
                                        .and_then(|i| i.get("properties"))
                                        .and_then(|p| p.get(k))
                                        .and_then(|p| p.get("default"))
                                        .cloned();
                                    (k, default)
                                })
                                .collect(),
                        )
                    }
                    _ => ListKind::Atomic,
                }
            }
            _ => ListKind::Atomic,
        }
    }

    /// The strategic merge patch strategy; custom resources have none (kube-apiserver
    /// refuses strategic merge patches for them), so their lists are replaced.
    pub fn smp(self) -> Smp {
        match self {
            Ty::Static(Shape::List(list)) => list.smp,
            _ => Smp::Replace,
        }
    }

    /// `+structType=atomic` / `x-kubernetes-map-type: atomic`.
    pub fn is_atomic_object(self) -> bool {
        match self {
            Ty::Static(Shape::Atomic) => true,
            Ty::Schema(schema) => {
                schema.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
            }
            _ => false,
        }
    }
}
