//! Object metadata rules: names, uids, timestamps, generation.
use super::status::Cause;
use serde_json::Value;

/// RFC 3339 with seconds, as metadata timestamps carry them.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The 5-character suffix of `generateName` (the alphabet kube-apiserver uses).
pub fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Checks `metadata.name`: DNS labels for namespaces, DNS subdomains for everything else.
pub fn validate_name(name: &str, dns_label: bool) -> Option<Cause> {
    if name.is_empty() {
        return Some(Cause::new(
            "FieldValueRequired",
            "Required value: name or generateName is required",
            Some("metadata.name"),
        ));
    }
    let ok = if dns_label {
        is_label(name)
    } else {
        name.len() <= 253 && name.split('.').all(is_label)
    };
    (!ok).then(|| {
        let msg = format!(
            "Invalid value: \"{name}\": {}",
            if dns_label { LABEL_MSG } else { SUBDOMAIN_MSG }
        );
        Cause::new("FieldValueInvalid", msg, Some("metadata.name"))
    })
}

pub fn str_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(obj, |v, k| v.get(k))?.as_str()
}

pub fn name_of(obj: &Value) -> &str {
    str_at(obj, &["metadata", "name"]).unwrap_or("")
}

/// Everything but `metadata` and `status`: what a generation bump watches.
pub fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
        o.remove("kind");
        o.remove("apiVersion");
    }
    v
}

/// The value at a dotted path (`spec.replicas`).
pub fn dotted<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .try_fold(obj, |v, k| v.get(k))
}

pub fn set_dotted(obj: &mut Value, path: &str, value: Value) {
    let mut cur = obj;
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        if i == parts.len() - 1 {
            cur[*p] = value;
            return;
        }
        cur = cur
            .as_object_mut()
            .expect("object")
            .entry(p.to_string())
            .or_insert(Value::Object(Default::default()));
    }
}

/// `metadata.finalizers` as strings.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Age as kubectl prints it (`0s`, `5m`, `3h`, `2d`).
pub fn age(timestamp: Option<&str>) -> String {
    let Some(ts) = timestamp.and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - ts.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 * 3 => format!("{}m", s / 60),
        s if s < 86400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Drops empty optional metadata fields, as encoding ObjectMeta does (Go's `omitempty`),
/// for built-in and custom resources alike.
pub fn compact_metadata(obj: &mut Value) {
    if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        md.retain(|k, v| {
            let empty = match v {
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                Value::Null => true,
                _ => false,
            };
            !(empty
                && matches!(
                    k.as_str(),
                    "labels" | "annotations" | "finalizers" | "ownerReferences" | "managedFields"
                ))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kube-apiserver: names are DNS subdomains, namespace names DNS labels.
    #[test]
    fn names_follow_rfc_1123() {
        assert!(validate_name("web.v1-a", false).is_none());
        assert!(
            validate_name("Bad_Name", false)
                .is_some_and(|c| c.field.as_deref() == Some("metadata.name"))
        );
        assert!(
            validate_name("a.b", true).is_some(),
            "a namespace name is a label: no dots"
        );
        assert!(validate_name("", false).is_some_and(|c| c.reason == "FieldValueRequired"));
    }

    #[test]
    fn generate_name_suffixes_are_five_characters_of_the_kubernetes_alphabet() {
        let s = name_suffix();
        assert_eq!(s.len(), 5);
        assert!(
            s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{s}"
        );
    }
}
