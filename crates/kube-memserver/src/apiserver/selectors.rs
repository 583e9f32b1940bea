//! Label and field selectors, parsed the way kube-apiserver parses them.
use super::meta::dotted;
use super::status::ApiError;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed `labelSelector`; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Req>);

fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

fn parse_set(rest: &str) -> Result<Vec<String>, ApiError> {
    let rest = rest.trim();
    let inner = rest.strip_prefix('(').ok_or_else(|| {
        ApiError::bad_request(format!(
            "unable to parse requirement: found '{rest}', expected: '('"
        ))
    })?;
    let inner = inner.strip_suffix(')').ok_or_else(|| {
        ApiError::bad_request("unable to parse requirement: found '', expected: ',' or ')'")
    })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Matches everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector(reqs));
        }
        for part in split_top(s) {
            let p = part.trim();
            let req = if let Some(k) = p.strip_prefix('!') {
                Req::NotExists(k.trim().into())
            } else if let Some((k, v)) = p.split_once("!=") {
                Req::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = p.split_once(" notin ") {
                Req::NotIn(k.trim().into(), parse_set(rest)?)
            } else if let Some((k, rest)) = p.split_once(" in ") {
                Req::In(k.trim().into(), parse_set(rest)?)
            } else if !p.is_empty() && !p.contains([' ', '(', ')']) {
                Req::Exists(p.into())
            } else {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: found '{p}'"
                )));
            };
            reqs.push(req);
        }
        Ok(LabelSelector(reqs))
    }

    /// From a `matchLabels`/`matchExpressions` selector object (ReplicaSets, Deployments).
    pub fn from_object(sel: &Value) -> Self {
        let mut reqs: Vec<Req> = sel["matchLabels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| Req::Eq(k.clone(), v.as_str().unwrap_or("").into()))
                    .collect()
            })
            .unwrap_or_default();
        for e in sel["matchExpressions"].as_array().into_iter().flatten() {
            let key = e["key"].as_str().unwrap_or("").to_string();
            let values: Vec<String> = e["values"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            reqs.push(match e["operator"].as_str() {
                Some("In") => Req::In(key, values),
                Some("NotIn") => Req::NotIn(key, values),
                Some("DoesNotExist") => Req::NotExists(key),
                _ => Req::Exists(key),
            });
        }
        LabelSelector(reqs)
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::NotEq(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Req::NotIn(k, vs) => get(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }

    /// `app=web,tier=api` form, as the scale subresource reports a selector.
    pub fn to_query(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|r| match r {
                Req::Eq(k, v) => format!("{k}={v}"),
                Req::NotEq(k, v) => format!("{k}!={v}"),
                Req::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Req::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Req::Exists(k) => k.clone(),
                Req::NotExists(k) => format!("!{k}"),
            })
            .collect();
        parts.join(",")
    }
}

/// A parsed `fieldSelector`: `path=value` / `path!=value` terms over the object's fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Matches everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let term = if let Some((k, v)) = part.split_once("!=") {
                (k.to_string(), false, v.to_string())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (k.to_string(), true, v.to_string())
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            terms.push(term);
        }
        Ok(FieldSelector(terms))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, eq, want)| {
            let have = match dotted(obj, path) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (have == *want) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labelled(labels: Value) -> Value {
        json!({"metadata": {"name": "x", "labels": labels}})
    }

    /// The selector grammar kube-apiserver accepts: =, ==, !=, in, notin, exists, !key.
    #[test]
    fn set_based_label_selectors_match_like_kubernetes() {
        let a = labelled(json!({"env": "a", "app": "demo"}));
        let c = labelled(json!({"env": "c"}));
        let sel = |s: &str| LabelSelector::parse(s).unwrap();
        assert!(sel("env in (a,b)").matches(&a) && !sel("env in (a,b)").matches(&c));
        assert!(sel("env notin (a),!app").matches(&c) && !sel("env notin (a),!app").matches(&a));
        assert!(sel("app").matches(&a) && !sel("app").matches(&c));
        assert!(sel("env!=a").matches(&c) && sel("env==a,app=demo").matches(&a));
        assert!(sel("").matches(&c));
    }

    /// kube-apiserver: a malformed selector is a 400 naming what it expected.
    #[test]
    fn malformed_selector_is_a_bad_request() {
        let e = LabelSelector::parse("env in (a").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                400,
                "unable to parse requirement: found '', expected: ',' or ')'"
            )
        );
    }

    #[test]
    fn field_selectors_compare_dotted_paths() {
        let ev = json!({"metadata": {"name": "e1"}, "involvedObject": {"name": "w"}, "reason": "Started"});
        assert!(
            FieldSelector::parse("involvedObject.name=w,reason=Started")
                .unwrap()
                .matches(&ev)
        );
        assert!(
            !FieldSelector::parse("metadata.name!=e1")
                .unwrap()
                .matches(&ev)
        );
    }

    #[test]
    fn match_labels_and_expressions_print_as_a_query() {
        let sel = LabelSelector::from_object(
            &json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}),
        );
        assert_eq!(sel.to_query(), "app=web,tier in (a)");
    }
}
