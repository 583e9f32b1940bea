//! A track's count query split by pod: `sum(X)` becomes `sum by (pod) (X)` (also inside
//! `… or vector(0)` and parentheses), so one query gives the track's total *and* how its
//! failures fall across pods, which the judge uses to measure how bursty they are
//! (`analysis::judge::dispersion`). Any other shape is left alone: the judge then
//! measures spread over readings only.

use promql_parser::label::{Labels, MatchOp};
use promql_parser::parser::token::{T_LOR, T_SUM};
use promql_parser::parser::{self, Expr, LabelModifier};
use promql_parser::util::{ExprVisitor, walk_expr};

/// The label Prometheus' Kubernetes pod discovery gives every series of a pod.
pub const POD_LABEL: &str = "pod";

/// `query` grouped by pod, or `None` when it is not a plain `sum(...)`.
pub fn by_pod(query: &str) -> Option<String> {
    let mut expr = parser::parse(query).ok()?;
    split(&mut expr).then(|| expr.to_string())
}

/// A query split by pod, apart from its constant fallback: `sum(X) or vector(0)` is
/// `sum by (pod) (X)` with fallback `Some(0)`; `sum(X)` has none.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouped {
    pub by_pod: String,
    pub fallback: Option<f64>,
}

/// `query` as [`Grouped`], or `None` when it is not `sum(...)`, optionally followed by
/// `or vector(N)` / `or N` (the only fallbacks that answer the same for every pod set).
pub fn grouped(query: &str) -> Option<Grouped> {
    let expr = strip_parens(parser::parse(query).ok()?);
    let (mut sum, fallback) = match expr {
        Expr::Binary(b) if b.op.id() == T_LOR => (*b.lhs, Some(constant(&b.rhs)?)),
        other => (other, None),
    };
    (split(&mut sum) && matches!(strip_parens(sum.clone()), Expr::Aggregate(_))).then(|| Grouped {
        by_pod: sum.to_string(),
        fallback,
    })
}

fn strip_parens(e: Expr) -> Expr {
    match e {
        Expr::Paren(p) => strip_parens(*p.expr),
        other => other,
    }
}

/// The value of `vector(N)` or `N`.
fn constant(e: &Expr) -> Option<f64> {
    match e {
        Expr::Paren(p) => constant(&p.expr),
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Call(c) if c.func.name == "vector" && c.args.args.len() == 1 => {
            match c.args.args[0].as_ref() {
                Expr::NumberLiteral(n) => Some(n.val),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether every series `query` selects is restricted to the pods `regex` names
/// (a `pod=~"<regex>"` matcher on each selector), so splitting its answer by the `pod`
/// label attributes every sample to one of them.
pub fn selects_pods(query: &str, regex: &str) -> bool {
    struct Check<'a> {
        regex: &'a str,
        selectors: usize,
        restricted: usize,
    }
    impl ExprVisitor for Check<'_> {
        type Error = ();
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, ()> {
            let vs = match e {
                Expr::VectorSelector(vs) => vs,
                Expr::MatrixSelector(ms) => &ms.vs,
                _ => return Ok(true),
            };
            self.selectors += 1;
            let on_pods = vs.matchers.or_matchers.is_empty()
                && vs.matchers.matchers.iter().any(|m| {
                    m.name == POD_LABEL && matches!(m.op, MatchOp::Re(_)) && m.value == self.regex
                });
            self.restricted += usize::from(on_pods);
            Ok(true)
        }
    }
    let Ok(expr) = parser::parse(query) else {
        return false;
    };
    let mut check = Check {
        regex,
        selectors: 0,
        restricted: 0,
    };
    walk_expr(&mut check, &expr).is_ok()
        && check.selectors > 0
        && check.selectors == check.restricted
}

fn split(e: &mut Expr) -> bool {
    match e {
        Expr::Aggregate(a) if a.op.id() == T_SUM && a.modifier.is_none() => {
            a.modifier = Some(LabelModifier::Include(Labels::new(vec![POD_LABEL])));
            true
        }
        // `sum(...) or vector(0)`: the fallback only answers when no pod has a series.
        Expr::Binary(b) if b.op.id() == T_LOR => split(&mut b.lhs),
        Expr::Paren(p) => split(&mut p.expr),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sum_is_grouped_by_pod_and_keeps_its_fallback() {
        let q = r#"sum(increase(auth_login_attempts_total{namespace="payments",outcome="failure",pod=~"(?:a|b)"}[95s])) or vector(0)"#;
        let split = by_pod(q).unwrap();
        assert!(split.starts_with("sum by (pod) (increase("), "{split}");
        assert!(split.ends_with("or vector(0)"), "{split}");
        assert!(parser::parse(&split).is_ok());
    }

    #[test]
    fn a_constant_fallback_is_kept_apart_from_the_grouped_sum() {
        let g = grouped(r#"sum(increase(x{pod=~"a"}[95s])) or vector(0)"#).unwrap();
        assert_eq!(g.fallback, Some(0.0));
        assert!(g.by_pod.starts_with("sum by (pod) ("), "{}", g.by_pod);
        assert!(!g.by_pod.contains("vector"), "{}", g.by_pod);
        let g = grouped(r#"(sum(x{pod=~"a"}))"#).unwrap();
        assert_eq!(g.fallback, None);
        assert_eq!(
            grouped(r#"sum(x) or on() y"#),
            None,
            "a fallback that is not constant"
        );
        assert_eq!(grouped(r#"sum(x) / sum(y)"#), None);
    }

    #[test]
    fn only_selectors_restricted_to_the_pods_can_be_split_by_pod() {
        let re = "(?:p1|p2)";
        assert!(selects_pods(
            r#"sum(increase(x{pod=~"(?:p1|p2)",a="b"}[5m]))"#,
            re
        ));
        assert!(!selects_pods(
            r#"sum(increase(x{pod=~"(?:p1|p2)"}[5m])) + sum(y)"#,
            re
        ));
        assert!(!selects_pods(r#"sum(x{kubernetes_pod=~"(?:p1|p2)"})"#, re));
        assert!(!selects_pods(r#"sum(x{pod!~"(?:p1|p2)"})"#, re));
        assert!(!selects_pods(r#"sum(x{pod=~"(?:p1|p2)" or pod="p3"})"#, re));
    }

    #[test]
    fn other_shapes_are_left_alone() {
        for q in [
            "sum by (code) (rate(x[1m]))",
            "count(x > 0)",
            "sum(x) / sum(y)",
            "x",
            "not promql (",
        ] {
            assert_eq!(by_pod(q), None, "{q}");
        }
    }
}
