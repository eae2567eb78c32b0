//! Two deployments of the service in one Prometheus (staging and production, or two teams'
//! copies of the template) must never mix: every dashboard query selects the `job` and
//! `namespace` its variables name, every rule selects the service's job and keeps `namespace`
//! and `job` through each aggregation, and every LogQL stream selector names `app` and
//! `namespace`. Checked on the parsed queries, so a selector a generator missed fails here;
//! `dashboards/alerts/tests.yml` then shows the rules alerting per deployment.

use promql_parser::label::Matcher;
use promql_parser::parser::{Expr, LabelModifier, VectorSelector};

use super::dashboards::{
    check_dashboard, dashboards, dashboards_dir, parse, rules, stream_labels, visit,
};

/// The job in `dashboards/slo.json`, which the rules select.
fn job() -> String {
    let slo = std::fs::read_to_string(dashboards_dir().join("slo.json")).expect("slo.json");
    let slo: serde_json::Value = serde_json::from_str(&slo).expect("JSON");
    slo["job"].as_str().expect("job").to_owned()
}

fn selectors(expr: &Expr) -> Vec<&VectorSelector> {
    let mut out = Vec::new();
    visit(expr, &mut |e| match e {
        Expr::VectorSelector(v) => out.push(v),
        Expr::MatrixSelector(m) => out.push(&m.vs),
        _ => {}
    });
    out
}

fn matcher<'a>(v: &'a VectorSelector, label: &str) -> Option<&'a Matcher> {
    v.matchers.matchers.iter().find(|m| m.name == label)
}

#[test]
fn every_dashboard_query_selects_one_deployment() {
    let mut checked = 0;
    for (file, board) in dashboards() {
        let variables: Vec<&str> = board["templating"]["list"]
            .as_array()
            .expect("variables")
            .iter()
            .filter_map(|v| v["name"].as_str())
            .collect();
        let (promql, logql) = check_dashboard(&file, &board);
        if !promql.is_empty() {
            assert!(
                variables.contains(&"job") && variables.contains(&"namespace"),
                "{file}: no job and namespace variables"
            );
        }
        for expr in &promql {
            for v in selectors(&parse(&file, expr)) {
                for (label, value) in [("job", "$job"), ("namespace", "$namespace")] {
                    let m = matcher(v, label);
                    assert!(
                        m.is_some_and(|m| m.value == value),
                        "{file}: {:?} does not select {label}=\"{value}\" in {expr}",
                        v.name
                    );
                }
                checked += 1;
            }
        }
        for expr in &logql {
            let labels = stream_labels(expr);
            for label in ["app", "namespace"] {
                assert!(
                    labels.iter().any(|l| l == label),
                    "{file}: {expr} does not select {label}"
                );
                assert!(variables.contains(&label), "{file}: no {label} variable");
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} selectors checked");
}

#[test]
fn every_rule_selects_the_job_and_keeps_the_deployment() {
    let job = job();
    let (exprs, _) = rules();
    for expr in &exprs {
        let tree = parse("rules", expr);
        for v in selectors(&tree) {
            assert!(
                matcher(v, "job").is_some_and(|m| m.value == job),
                "{:?} does not select job=\"{job}\" in {expr}",
                v.name
            );
        }
        visit(&tree, &mut |e| {
            if let Expr::Aggregate(a) = e {
                let kept = match &a.modifier {
                    Some(LabelModifier::Include(l)) => ["namespace", "job"]
                        .iter()
                        .all(|n| l.labels.iter().any(|k| k == n)),
                    // `without` keeps what it does not name.
                    Some(LabelModifier::Exclude(l)) => {
                        !l.labels.iter().any(|k| k == "namespace" || k == "job")
                    }
                    None => false,
                };
                assert!(kept, "an aggregation drops namespace or job in {expr}");
            }
        });
    }
}
