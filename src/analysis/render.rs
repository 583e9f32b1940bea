//! Query templates: `{{args.NAME}}`, `{{namespace}}`, `{{rollout}}`, `{{workload}}`,
//! `{{track}}`, `{{pods}}`, `{{revision}}`, `{{elapsed}}`.
//!
//! No substituted value can change the shape of a query:
//! - inside a PromQL string literal (`"…"` or `'…'`), the value is escaped for that
//!   literal (backslash, the quote, control characters); a raw `` `…` `` literal refuses a
//!   value containing a backtick;
//! - `{{pods}}` must sit inside a literal (as in `pod=~"{{pods}}"`): it becomes
//!   `(?:name1|name2)` with regex metacharacters of each literal pod name escaped, then
//!   escaped again for the string literal;
//! - outside a literal (e.g. `[{{elapsed}}]`, `> {{args.threshold}}`), the value must be a
//!   plain number, duration or name (`[A-Za-z0-9_.:]+`), so it is one token.
//!
//! `{{elapsed}}` is the time since the canary started as a PromQL duration in whole
//! seconds, rounded up (so `increase(x[{{elapsed}}])` covers the whole canary).

use crate::api::validate::FieldError;
use crate::api::{Arg, Metric};
use std::collections::BTreeMap;
use std::time::Duration;

/// Values shared by both tracks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RenderContext {
    pub namespace: String,
    pub rollout: String,
    pub workload: String,
    pub args: BTreeMap<String, String>,
    /// Since the canary started.
    pub elapsed: Duration,
}

/// Values of one track.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrackContext {
    /// `canary` or `stable`.
    pub track: String,
    /// Names of the pods serving this track.
    pub pods: Vec<String>,
    /// The track's revision (pod-template hash).
    pub revision: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error(
        "unknown template variable `{{{{{0}}}}}` (known: args.NAME, namespace, rollout, workload, track, pods, revision, elapsed)"
    )]
    UnknownVariable(String),
    #[error("`{{{{args.{0}}}}}` is not an argument of this template; declare it in `args`")]
    UnknownArg(String),
    #[error("`{{{{` without a closing `}}}}`")]
    Unterminated,
    #[error(
        "`{{{{{placeholder}}}}}` is used outside a quoted string, so its value must be a plain number, duration or name; `{value}` is not"
    )]
    NotAToken { placeholder: String, value: String },
    #[error("`{{{{pods}}}}` must be inside a quoted string, as in pod=~\"{{{{pods}}}}\"")]
    PodsOutsideString,
    #[error("the value of `{{{{{0}}}}}` contains a backtick and cannot go inside a raw `…` string")]
    Backtick(String),
    #[error("`{{{{{0}}}}}` follows a backslash, which would escape the value's first character")]
    AfterBackslash(String),
    #[error("the {0} track has no pods to query")]
    NoPods(String),
}

#[derive(Clone, Copy, PartialEq)]
enum Lex {
    Code,
    Str(char),
    Escape(char),
    /// A `#` comment, to the end of the line: quotes in it open no string.
    Comment,
}

fn step(state: Lex, ch: char) -> Lex {
    match (state, ch) {
        (Lex::Code, '"' | '\'' | '`') => Lex::Str(ch),
        (Lex::Code, '#') => Lex::Comment,
        (Lex::Code, _) => Lex::Code,
        (Lex::Comment, '\n') => Lex::Code,
        (Lex::Comment, _) => Lex::Comment,
        (Lex::Str('`'), '`') => Lex::Code,
        (Lex::Str(q), '\\') if q != '`' => Lex::Escape(q),
        (Lex::Str(q), c) if c == q => Lex::Code,
        (Lex::Str(q), _) => Lex::Str(q),
        (Lex::Escape(q), _) => Lex::Str(q),
    }
}

/// Escapes a value for a PromQL string literal quoted with `quote`.
pub fn escape_string(value: &str, quote: char) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Escapes regex metacharacters (RE2 syntax) of a literal string.
pub fn escape_regex(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn is_token(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:".contains(c))
}

/// PromQL duration of `d`, whole seconds rounded up, at least `1s`.
pub fn promql_duration(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    format!("{}s", secs.max(1))
}

/// Renders a query template for one track.
pub fn render(
    template: &str,
    ctx: &RenderContext,
    track: &TrackContext,
) -> Result<String, RenderError> {
    let mut out = String::with_capacity(template.len());
    let mut state = Lex::Code;
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        for ch in rest[..open].chars() {
            state = step(state, ch);
        }
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or(RenderError::Unterminated)?;
        let name = after[..close].trim();
        out.push_str(&substitute(name, state, ctx, track)?);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn substitute(
    name: &str,
    state: Lex,
    ctx: &RenderContext,
    track: &TrackContext,
) -> Result<String, RenderError> {
    let value = match name {
        "namespace" => ctx.namespace.clone(),
        "rollout" => ctx.rollout.clone(),
        "workload" => ctx.workload.clone(),
        "track" => track.track.clone(),
        "revision" => track.revision.clone(),
        "elapsed" => promql_duration(ctx.elapsed),
        "pods" => {
            if !matches!(state, Lex::Str(_)) {
                return Err(RenderError::PodsOutsideString);
            }
            if track.pods.is_empty() {
                return Err(RenderError::NoPods(track.track.clone()));
            }
            let names: Vec<String> = track.pods.iter().map(|p| escape_regex(p)).collect();
            format!("(?:{})", names.join("|"))
        }
        _ => match name.strip_prefix("args.") {
            Some(arg) => ctx
                .args
                .get(arg)
                .cloned()
                .ok_or_else(|| RenderError::UnknownArg(arg.to_string()))?,
            None => return Err(RenderError::UnknownVariable(name.to_string())),
        },
    };
    match state {
        Lex::Str('`') if value.contains('`') => Err(RenderError::Backtick(name.to_string())),
        Lex::Str('`') => Ok(value),
        // A template backslash right before the value would escape its first character.
        Lex::Escape(_) => Err(RenderError::AfterBackslash(name.to_string())),
        Lex::Str(q) => Ok(escape_string(&value, q)),
        Lex::Code | Lex::Comment if is_token(&value) => Ok(value),
        Lex::Code | Lex::Comment => Err(RenderError::NotAToken {
            placeholder: name.to_string(),
            value,
        }),
    }
}

/// The values of a template's args: its declared defaults overridden by the ones given
/// in the Rollout. `given_field` names the Rollout's args list in errors,
/// `template` the template (for messages).
pub fn resolve_args(
    declared: &[Arg],
    given: &[Arg],
    template: &str,
    given_field: &str,
) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut values = BTreeMap::new();
    for (j, g) in given.iter().enumerate() {
        if !declared.iter().any(|d| d.name == g.name) {
            errors.push(FieldError::new(
                format!("{given_field}[{j}].name"),
                format!("`{}` is not an argument of template `{template}`", g.name),
            ));
        }
    }
    for d in declared {
        match given
            .iter()
            .find(|g| g.name == d.name)
            .and_then(|g| g.value.clone())
            .or(d.value.clone())
        {
            Some(v) => {
                values.insert(d.name.clone(), v);
            }
            None => errors.push(FieldError::new(
                given_field,
                format!(
                    "template `{template}` needs a value for argument `{}`",
                    d.name
                ),
            )),
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

/// Checks every query of `metrics` renders (known variables and args, safe values) and
/// parses as PromQL. `field` locates the list, e.g. `spec.analysis.metrics`.
pub fn check_queries(
    metrics: &[Metric],
    args: &BTreeMap<String, String>,
    field: &str,
) -> Vec<FieldError> {
    let ctx = RenderContext {
        namespace: "sample-namespace".into(),
        rollout: "sample-rollout".into(),
        workload: "sample-workload".into(),
        args: args.clone(),
        elapsed: Duration::from_secs(300),
    };
    let track = TrackContext {
        track: "canary".into(),
        pods: vec![
            "sample-workload-canary-7d9f8b6c4-x2v9q".into(),
            "sample.pod".into(),
        ],
        revision: "7d9f8b6c4".into(),
    };
    let mut errors = Vec::new();
    for (i, m) in metrics.iter().enumerate() {
        let mut queries = Vec::new();
        if let Some(c) = &m.counts {
            queries.push(("counts.failures", c.failures.as_str()));
            queries.push(("counts.total", c.total.as_str()));
        }
        if let Some(q) = &m.query {
            queries.push(("query.query", q.query.as_str()));
        }
        for (what, template) in queries {
            let f = format!("{field}[{i}].{what}");
            match render(template, &ctx, &track) {
                Err(e) => errors.push(FieldError::new(f, e.to_string())),
                Ok(q) => {
                    if let Err(e) = promql_parser::parser::parse(&q) {
                        let e = e.trim().replace('\n', " ");
                        errors.push(FieldError::new(f, format!("not valid PromQL: {e}")));
                    }
                }
            }
        }
    }
    errors
}
