//! `portcullis lint`: Rollouts and analysis templates checked offline, before they reach a
//! cluster, with the checks the controller applies (`api::validate`, `analysis::resolve`:
//! steps, traffic, freeze windows, metrics, template args, PromQL) plus one the API server
//! would not report: fields it does not know (a typo like `maxIncrese` is pruned
//! silently and the default applies).
//!
//! Templates a Rollout references are looked up among the documents given, so lint the
//! Rollout together with its templates; those not given are named, not guessed.

use super::Exit;
use crate::analysis::render::check_queries;
use crate::analysis::resolve::resolve;
use crate::api::validate::{FieldError, validate_metrics, validate_rollout};
use crate::api::{
    AnalysisTemplate, AnalysisTemplateSpec, ClusterAnalysisTemplate, GROUP, Rollout, VERSION,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct LintArgs {
    /// YAML or JSON files (several documents each) or folders of them (their `.yaml`,
    /// `.yml` and `.json` files, as `kubectl apply -f DIR` reads); `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// At most this many documents in one file (a guard against runaway input).
    #[arg(long, default_value_t = 1024)]
    pub max_documents: usize,
}

/// One document of the input, as found.
#[derive(Debug, Clone)]
pub struct Document {
    /// `file` or `file#N` (N = 1-based document index) for messages.
    pub origin: String,
    pub value: Value,
}

/// A problem found, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Index of the document in the input, to print findings in input order.
    pub doc: usize,
    /// `file: Kind/name`
    pub at: String,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.at, self.field, self.message)
    }
}

/// What lint found: problems, and notes that are not problems.
#[derive(Debug, Default)]
pub struct Report {
    pub problems: Vec<Finding>,
    pub notes: Vec<String>,
    pub checked: usize,
    pub skipped: usize,
}

/// Splits a file's text into documents (a `List`'s items count as documents).
pub fn documents(origin: &str, text: &str) -> Result<Vec<Document>, String> {
    documents_within(origin, text, 1024)
}

/// [`documents`] with a limit on the number of documents in the file.
pub fn documents_within(origin: &str, text: &str, max: usize) -> Result<Vec<Document>, String> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_documents: max },
    };
    let values: Vec<Value> = serde_saphyr::from_str_multiple_with_options(text, options)
        .map_err(|e| format!("{origin}: {}", yaml_error(&e, max)))?;
    let many = values.len() > 1;
    let mut out = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        let origin = if many {
            format!("{origin}#{}", i + 1)
        } else {
            origin.to_string()
        };
        match v {
            Value::Null => {}
            Value::Object(ref m) if m.get("kind").and_then(Value::as_str) == Some("List") => {
                let items = m
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                out.extend(items.into_iter().map(|value| Document {
                    origin: origin.clone(),
                    value,
                }));
            }
            value => out.push(Document { origin, value }),
        }
    }
    Ok(out)
}

/// A YAML error in plain words (the parser's own text names its options and types).
fn yaml_error(e: &serde_saphyr::Error, max_documents: usize) -> String {
    use serde_saphyr::budget::BudgetBreach;
    let line = e.location().map(|l| l.line()).unwrap_or(0);
    match e.without_snippet() {
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => format!(
            "duplicate key `{}` at line {line}: each key may appear once in a mapping",
            key.as_deref().unwrap_or("?")
        ),
        serde_saphyr::Error::Budget { breach, .. } => match breach {
            BudgetBreach::Documents { .. } => format!(
                "more than {max_documents} documents in one file (at line {line}); split the \
                 file, or raise the limit with --max-documents"
            ),
            BudgetBreach::Depth { depth } => format!(
                "nested {depth} levels deep at line {line}; no Kubernetes object nests that deep"
            ),
            other => format!("too large to read safely at line {line} ({other:?})"),
        },
        other => format!("not YAML: {}", other.without_snippet()),
    }
}

/// Fields of `input` that the typed value dropped on its way through serde: unknown to
/// the API, so the server would prune them.
fn unknown_fields(input: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(i), Value::Object(t)) => {
            for (k, v) in i {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match t.get(k) {
                    None if !v.is_null() => out.push(p),
                    None => {}
                    Some(tv) => unknown_fields(v, tv, &p, out),
                }
            }
        }
        (Value::Array(i), Value::Array(t)) => {
            for (n, (iv, tv)) in i.iter().zip(t).enumerate() {
                unknown_fields(iv, tv, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

enum Parsed {
    Rollout(Box<Rollout>),
    Template {
        namespace: Option<String>,
        name: String,
        cluster: bool,
        spec: Box<AnalysisTemplateSpec>,
    },
}

fn parse<K>(index: usize, doc: &Document, at: &str, problems: &mut Vec<Finding>) -> Option<K>
where
    K: serde::de::DeserializeOwned + serde::Serialize,
{
    let finding = |field: &str, message: String| Finding {
        doc: index,
        at: at.to_string(),
        field: field.to_string(),
        message,
    };
    let kind = doc.value.get("kind").and_then(Value::as_str).unwrap_or("");
    if let Some(schema) = super::schema::schema_of(kind) {
        let mut errors = Vec::new();
        super::schema::check(&doc.value, schema, "", &mut errors);
        if !errors.is_empty() {
            problems.extend(errors.into_iter().map(|e| finding(&e.field, e.message)));
            return None;
        }
    }
    let typed: K = match serde_json::from_value(doc.value.clone()) {
        Ok(t) => t,
        Err(e) => {
            problems.push(finding(
                "(document)",
                format!("does not match the API: {e}"),
            ));
            return None;
        }
    };
    let mut unknown = Vec::new();
    let back = serde_json::to_value(&typed).unwrap_or(Value::Null);
    unknown_fields(&doc.value, &back, "", &mut unknown);
    for field in unknown {
        problems.push(finding(
            &field,
            "unknown field: the API server would drop it".into(),
        ));
    }
    Some(typed)
}

fn field_findings(
    index: usize,
    at: &str,
    errors: Vec<FieldError>,
) -> impl Iterator<Item = Finding> + '_ {
    errors.into_iter().map(move |e| Finding {
        doc: index,
        at: at.to_string(),
        field: e.field,
        message: e.message,
    })
}

/// A template on its own: its metrics, and its queries rendered with the args' values
/// (args without one get theirs from each Rollout; a sample stands in).
fn check_template(spec: &AnalysisTemplateSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    validate_metrics(&spec.metrics, "spec.metrics", &mut errors);
    let args: BTreeMap<String, String> = spec
        .args
        .iter()
        .map(|a| {
            let value = a.value.clone().unwrap_or(format!("sample-{}", a.name));
            (a.name.clone(), value)
        })
        .collect();
    errors.extend(check_queries(&spec.metrics, &args, "spec.metrics"));
    errors
}

/// The template `r` names, among the documents given (a namespaced one must be in the
/// Rollout's namespace when both say which).
fn find_template(
    r: &crate::api::TemplateRef,
    rollout_ns: Option<&str>,
    parsed: &[(usize, String, Parsed)],
) -> Option<AnalysisTemplateSpec> {
    parsed.iter().find_map(|(_, _, p)| match p {
        Parsed::Template {
            namespace,
            name,
            cluster,
            spec,
        } if *name == r.name
            && *cluster == r.cluster_scope
            && (r.cluster_scope
                || rollout_ns.is_none()
                || namespace.is_none()
                || namespace.as_deref() == rollout_ns) =>
        {
            Some((**spec).clone())
        }
        _ => None,
    })
}

/// A Rollout's spec, and its analysis resolved against the templates given; templates not
/// given are noted, not reported.
fn check_rollout(
    ro: &Rollout,
    parsed: &[(usize, String, Parsed)],
    at: &str,
    notes: &mut Vec<String>,
) -> Vec<FieldError> {
    let mut errors = validate_rollout(&ro.spec);
    let Some(analysis) = &ro.spec.analysis else {
        return errors;
    };
    let ns = ro.metadata.namespace.as_deref();
    let found: Vec<Option<AnalysisTemplateSpec>> = analysis
        .templates
        .iter()
        .map(|r| find_template(r, ns, parsed))
        .collect();
    let mut not_given = Vec::new();
    for (i, r) in analysis.templates.iter().enumerate() {
        if found[i].is_some() {
            continue;
        }
        let kind = r.kind();
        notes.push(format!(
            "{at}: {kind} `{}` is not among the files given; its metrics were not checked",
            r.name
        ));
        not_given.push(format!("spec.analysis.templates[{i}].name"));
    }
    // A template's own problems are reported on the template; here only what this
    // Rollout adds (its args, name clashes), not the same finding a second time.
    let seen_on_template: Vec<(String, String)> = analysis
        .templates
        .iter()
        .zip(&found)
        .filter_map(|(r, t)| Some((r, t.as_ref()?)))
        .flat_map(|(r, t)| {
            check_template(t)
                .into_iter()
                .map(move |e| (format!("{} `{}` {}", r.kind(), r.name, e.field), e.message))
        })
        .collect();
    if let Err(e) = resolve(analysis, &found) {
        errors.extend(e.into_iter().filter(|e| {
            !not_given.contains(&e.field)
                && !seen_on_template.contains(&(e.field.clone(), e.message.clone()))
        }));
    }
    errors
}

/// Checks every document; pure (no I/O), so tests call it directly.
pub fn lint(docs: &[Document]) -> Report {
    let mut report = Report::default();
    let mut parsed = Vec::new();
    for (index, doc) in docs.iter().enumerate() {
        let api_version = doc
            .value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = doc.value.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = doc
            .value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let at = format!("{}: {kind}/{name}", doc.origin);
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        if group != GROUP {
            report.skipped += 1;
            continue;
        }
        report.checked += 1;
        if version != VERSION {
            report.problems.push(Finding {
                doc: index,
                at,
                field: "apiVersion".into(),
                message: format!("`{api_version}` is not served; use {GROUP}/{VERSION}"),
            });
            continue;
        }
        let namespace = doc
            .value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str);
        let p = match kind {
            "Rollout" => parse::<Rollout>(index, doc, &at, &mut report.problems)
                .map(|r| Parsed::Rollout(Box::new(r))),
            "AnalysisTemplate" => parse::<AnalysisTemplate>(index, doc, &at, &mut report.problems)
                .map(|t| Parsed::Template {
                    namespace: namespace.map(str::to_string),
                    name: name.to_string(),
                    cluster: false,
                    spec: Box::new(t.spec),
                }),
            "ClusterAnalysisTemplate" => {
                parse::<ClusterAnalysisTemplate>(index, doc, &at, &mut report.problems).map(|t| {
                    Parsed::Template {
                        namespace: None,
                        name: name.to_string(),
                        cluster: true,
                        spec: Box::new(t.spec.into()),
                    }
                })
            }
            other => {
                report.problems.push(Finding {
                    doc: index,
                    at: at.clone(),
                    field: "kind".into(),
                    message: format!(
                        "`{other}` is not a {GROUP} kind; known: Rollout, AnalysisTemplate, \
                         ClusterAnalysisTemplate"
                    ),
                });
                None
            }
        };
        if let Some(p) = p {
            parsed.push((index, at, p));
        }
    }
    for (index, at, p) in &parsed {
        let errors = match p {
            Parsed::Template { spec, .. } => check_template(spec),
            Parsed::Rollout(ro) => check_rollout(ro, &parsed, at, &mut report.notes),
        };
        report.problems.extend(field_findings(*index, at, errors));
    }
    report.problems.sort_by_key(|f| f.doc);
    report
}

/// The files to read: `path` itself, or a folder's manifest files in name order.
fn expand(path: &PathBuf) -> Result<Vec<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(vec![path.clone()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "{}: no .yaml, .yml or .json files in this folder",
            path.display()
        ));
    }
    Ok(files)
}

fn read(path: &PathBuf) -> Result<(String, String), String> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("standard input: {e}"))?;
        return Ok(("<stdin>".into(), s));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path.display().to_string(), text))
}

/// Reads the files, lints them together, prints problems (stdout) and a summary (stderr).
pub fn run(args: &LintArgs) -> Exit {
    let mut docs = Vec::new();
    for path in &args.files {
        let read_all = expand(path).and_then(|files| {
            let mut d = Vec::new();
            for f in &files {
                let (origin, text) = read(f)?;
                d.extend(documents_within(&origin, &text, args.max_documents)?);
            }
            Ok(d)
        });
        match read_all {
            Ok(d) => docs.extend(d),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage;
            }
        }
    }
    if docs.is_empty() {
        eprintln!("error: no documents in the input: nothing to check");
        return Exit::Usage;
    }
    let report = lint(&docs);
    for p in &report.problems {
        println!("{p}");
    }
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    eprintln!(
        "{} problem{} in {} {GROUP} document{} ({} other document{} skipped)",
        report.problems.len(),
        if report.problems.len() == 1 { "" } else { "s" },
        report.checked,
        if report.checked == 1 { "" } else { "s" },
        report.skipped,
        if report.skipped == 1 { "" } else { "s" },
    );
    if report.problems.is_empty() {
        Exit::Success
    } else {
        Exit::Failed
    }
}
