//! Sets of field paths in structured-merge-diff's shape, and their `FieldsV1` encoding
//! as kube-apiserver writes it into `metadata.managedFields`:
//! `{"f:data":{".":{},"f:key":{}}}`, `k:{"name":"app"}` for associative list items,
//! `v:"x"` for set members, `i:0` for positions, `.` for the node itself.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One step of a path. The order (fields, then keys, values, indices) is
/// structured-merge-diff's, so iteration order matches kube-apiserver's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    Field(String),
    /// Key fields sorted by name, each value as compact JSON.
    Key(Vec<(String, String)>),
    /// A set member as compact JSON.
    Value(String),
    Index(usize),
}

impl PathElement {
    pub fn key(fields: impl IntoIterator<Item = (String, Value)>) -> Self {
        let mut fields: Vec<(String, String)> = fields
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        fields.sort();
        PathElement::Key(fields)
    }

    fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
                    .collect();
                format!("k:{{{}}}", inner.join(","))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(text: &str) -> Result<Self, String> {
        let bad = || format!("invalid fieldsV1 key {text:?}");
        let (kind, rest) = text.split_once(':').ok_or_else(bad)?;
        Ok(match kind {
            "f" => PathElement::Field(rest.to_owned()),
            "k" => match serde_json::from_str::<Value>(rest).map_err(|_| bad())? {
                Value::Object(fields) => PathElement::key(fields),
                _ => return Err(bad()),
            },
            "v" => PathElement::Value(
                serde_json::from_str::<Value>(rest)
                    .map_err(|_| bad())?
                    .to_string(),
            ),
            "i" => PathElement::Index(rest.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        })
    }
}

/// As structured-merge-diff prints paths: `.data.key`, `[name="app"]`, `[=x]`, `[0]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", inner.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A set of paths, stored as a tree: `members` are paths ending here, `children` the
/// sets below each element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    pub members: BTreeSet<PathElement>,
    pub children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Removes `path` and everything below it.
    pub fn remove_subtree(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.remove(last);
                self.children.remove(last);
            }
            [first, rest @ ..] => {
                if let Some(child) = self.children.get_mut(first) {
                    child.remove_subtree(rest);
                    if child.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// Adds `child` below `pe` (nothing when it is empty).
    pub fn put_child(&mut self, pe: PathElement, child: FieldSet) {
        if !child.is_empty() {
            self.children.entry(pe).or_default().union_with(&child);
        }
    }

    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    pub fn union_with(&mut self, other: &FieldSet) {
        self.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            self.children
                .entry(pe.clone())
                .or_default()
                .union_with(child);
        }
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    /// Paths of `self` that are not paths of `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            let rest = match other.children.get(pe) {
                Some(o) => child.difference(o),
                None => child.clone(),
            };
            out.put_child(pe.clone(), rest);
        }
        out
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            if let Some(o) = other.children.get(pe) {
                out.put_child(pe.clone(), child.intersection(o));
            }
        }
        out
    }

    /// Every member path, in structured-merge-diff's order (a node before its children).
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        let elements: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for pe in elements {
            prefix.push(pe.clone());
            if self.members.contains(pe) {
                out.push(prefix.clone());
            }
            if let Some(child) = self.children.get(pe) {
                child.collect(prefix, out);
            }
            prefix.pop();
        }
    }

    pub fn to_fields_v1(&self) -> Value {
        let mut out = Map::new();
        let elements: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for pe in elements {
            let mut node = match self.children.get(pe).map(FieldSet::to_fields_v1) {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            if self.members.contains(pe) && !node.is_empty() {
                node.insert(".".to_owned(), Value::Object(Map::new()));
            }
            out.insert(pe.encode(), Value::Object(node));
        }
        Value::Object(out)
    }

    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, String> {
        let Value::Object(map) = value else {
            return Err(format!("fieldsV1 must be an object, got {value}"));
        };
        let mut out = FieldSet::default();
        for (key, child) in map {
            if key == "." {
                continue;
            }
            let pe = PathElement::decode(key)?;
            let Value::Object(inner) = child else {
                return Err(format!("fieldsV1 entry {key:?} must be an object"));
            };
            if inner.is_empty() || inner.contains_key(".") {
                out.members.insert(pe.clone());
            }
            out.put_child(pe, FieldSet::from_fields_v1(child)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_reads_and_writes_members_keys_values_and_dots() {
        // The encoding kube-apiserver writes (04-server-side-apply.json #20's injector
        // entry, plus a set member and a two-key port).
        let v1 = json!({"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {
            ".": {}, "f:name": {},
            "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}}}
        }}, "f:hosts": {"v:\"a\"": {}}}});
        let set = FieldSet::from_fields_v1(&v1).unwrap();
        assert_eq!(set.to_fields_v1(), v1);
        let printed: Vec<String> = set.paths().iter().map(|p| path_string(p)).collect();
        assert_eq!(
            printed,
            [
                r#".spec.containers[name="app"]"#,
                r#".spec.containers[name="app"].name"#,
                r#".spec.containers[name="app"].ports[containerPort=80,protocol="TCP"]"#,
                r#".spec.containers[name="app"].ports[containerPort=80,protocol="TCP"].name"#,
                r#".spec.hosts[="a"]"#,
            ]
        );
    }

    #[test]
    fn difference_and_intersection_work_path_by_path() {
        let a = FieldSet::from_fields_v1(&json!({"f:data": {"f:a1": {}, "f:shared": {}}})).unwrap();
        let b = FieldSet::from_fields_v1(&json!({"f:data": {"f:shared": {}, "f:b1": {}}})).unwrap();
        assert_eq!(
            a.difference(&b).to_fields_v1(),
            json!({"f:data": {"f:a1": {}}})
        );
        assert_eq!(
            a.intersection(&b).to_fields_v1(),
            json!({"f:data": {"f:shared": {}}})
        );
        assert!(a.difference(&a).is_empty());
    }

    #[test]
    fn malformed_fields_v1_is_an_error() {
        assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:not-json": {}})).is_err());
    }
}
