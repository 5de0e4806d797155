//! From a recognised symptom to a focused report: which checks run, which namespaces are read, which findings
//! are about the Service the text names, and how the report reads (causes found first, then what was ruled
//! out). Pure.
//!
//! Relevance is deliberately coarse for the data plane: the text names the *destination*, while the cause is
//! often on the *caller's* side (a stale client proxy rejects the server's certificate; a sidecar-less client
//! sends plaintext to a STRICT server), and the caller is not in the text. So the namespaces the text names are
//! read whole and every data-plane finding in them is kept; only route findings are narrowed to the routes that
//! attach to or send to the named Services.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Value};

use super::{Pattern, Recognised, Target};
use crate::doctor::finding::{Finding, Status};
use crate::doctor::model::Snapshot;
use crate::doctor::render::{summary, write_finding};
use crate::doctor::CHECKS;
use crate::render::{paint, Style};

/// The check every symptom runs too: without it a forbidden LIST would read as "ruled out".
pub const ALWAYS: &str = "api-access";

/// The checks a pattern calls for that exist in this build, in report order: [`ALWAYS`], then the pattern's
/// (the `--deep` check only with `deep`).
pub fn called_checks(pattern: &Pattern, deep: bool) -> Vec<&'static str> {
    CHECKS
        .iter()
        .filter(|c| c.id == ALWAYS || pattern.checks.contains(&c.id))
        .filter(|c| deep || !c.opt_in())
        .map(|c| c.id)
        .collect()
}

/// A named Service as found in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetInfo {
    pub service: String,
    pub namespace: String,
    pub port: Option<u16>,
    pub source: String,
    pub exists: bool,
    /// Ready endpoints of the Service (EndpointSlices); `None` when EndpointSlices could not be read.
    pub ready_endpoints: Option<usize>,
    /// Mesh HTTPRoutes attached to the Service (parentRef).
    pub routes: Vec<String>,
}

/// Namespaces to read for `targets`: theirs, a bare name's being `default_ns` (`-n`, else the context's).
pub fn namespaces(targets: &[Target], default_ns: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in targets {
        let ns = t.namespace.clone().unwrap_or_else(|| default_ns.to_string());
        if !out.contains(&ns) {
            out.push(ns);
        }
    }
    out
}

/// Fill in namespaces, merge duplicates, and look each target up in the snapshot. A `name.ns` host whose
/// namespace does not exist is an external host (`httpbin.org`), reported as a note instead. With
/// `all_namespaces` (`-A`) a bare name is every Service of that name (`default_ns`'s when there is none).
pub fn resolve(
    targets: &[Target],
    default_ns: &str,
    all_namespaces: bool,
    snapshot: &Snapshot,
) -> (Vec<TargetInfo>, Vec<String>) {
    let mut notes = Vec::new();
    let mut out: Vec<TargetInfo> = Vec::new();
    let known_ns: Option<BTreeSet<&str>> = snapshot
        .namespaces
        .as_ref()
        .ok()
        .map(|list| list.iter().map(|n| n.name.as_str()).collect());
    let mut expanded: Vec<(Target, String, bool)> = Vec::new();
    for t in targets {
        match &t.namespace {
            Some(ns) => expanded.push((t.clone(), ns.clone(), true)),
            None => {
                let everywhere: Vec<String> = if all_namespaces {
                    snapshot
                        .services
                        .as_ref()
                        .map(|list| {
                            list.iter()
                                .filter(|s| s.name == t.service)
                                .map(|s| s.namespace.clone())
                                .collect()
                        })
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                if everywhere.is_empty() {
                    expanded.push((t.clone(), default_ns.to_string(), false));
                }
                expanded.extend(everywhere.into_iter().map(|ns| (t.clone(), ns, false)));
            }
        }
    }
    for (t, ns, qualified) in &expanded {
        let (t, ns, qualified) = (t, ns.clone(), *qualified);
        if out.iter().any(|o| o.service == t.service && o.namespace == ns) {
            continue;
        }
        let service = snapshot
            .services
            .as_ref()
            .ok()
            .and_then(|list| list.iter().find(|s| s.namespace == ns && s.name == t.service));
        let ns_missing = known_ns.as_ref().is_some_and(|k| !k.contains(ns.as_str()));
        if service.is_none() && qualified && ns_missing && !t.source.contains(".svc") {
            notes.push(format!(
                "{} is not a Service of this cluster (no namespace {ns}): an external host, doctor cannot check it",
                t.source
            ));
            continue;
        }
        let ready_endpoints = snapshot.endpoint_slices.as_ref().ok().map(|slices| {
            slices
                .iter()
                .filter(|s| s.namespace == ns && s.service == t.service)
                .map(|s| s.ready)
                .sum()
        });
        let routes = snapshot
            .http_routes
            .as_ref()
            .map(|routes| {
                routes
                    .iter()
                    .filter(|r| {
                        r.parents
                            .iter()
                            .any(|p| p.is_service() && p.namespace == ns && p.name == t.service)
                    })
                    .map(|r| format!("{}/{}", r.namespace, r.name))
                    .collect()
            })
            .unwrap_or_default();
        out.push(TargetInfo {
            service: t.service.clone(),
            namespace: ns,
            port: t.port,
            source: t.source.clone(),
            exists: service.is_some(),
            ready_endpoints: service.and(ready_endpoints),
            routes,
        });
    }
    (out, notes)
}

/// Keep the findings about the targets: a finding that names an HTTPRoute is kept only when one of its
/// HTTPRoutes or Services is related to a target (the route attaches to a target, or sends to one, or the
/// Service is a target, a backend of such a route, or the parent of a route sending to a target); every other
/// finding is kept (the read was already narrowed to the targets' namespaces). Returns the kept findings and how
/// many were hidden.
pub fn relevant(findings: Vec<Finding>, targets: &[TargetInfo], snapshot: &Snapshot) -> (Vec<Finding>, usize) {
    if targets.is_empty() {
        return (findings, 0);
    }
    let mut services: BTreeSet<(String, String)> = targets
        .iter()
        .map(|t| (t.namespace.clone(), t.service.clone()))
        .collect();
    let mut routes: BTreeSet<(String, String)> = BTreeSet::new();
    if let Ok(list) = &snapshot.http_routes {
        let is_target = |ns: &str, name: &str| targets.iter().any(|t| t.namespace == ns && t.service == name);
        for r in list {
            let parent_hit = r
                .parents
                .iter()
                .any(|p| p.is_service() && is_target(&p.namespace, &p.name));
            let backend_hit = r
                .rules
                .iter()
                .flat_map(|rule| &rule.backends)
                .any(|b| b.is_service() && is_target(&b.namespace, &b.name));
            if parent_hit || backend_hit {
                routes.insert((r.namespace.clone(), r.name.clone()));
                for b in r
                    .rules
                    .iter()
                    .flat_map(|rule| &rule.backends)
                    .filter(|b| b.is_service())
                {
                    services.insert((b.namespace.clone(), b.name.clone()));
                }
                for p in r.parents.iter().filter(|p| p.is_service()) {
                    services.insert((p.namespace.clone(), p.name.clone()));
                }
            }
        }
    }
    let mut hidden = 0;
    let kept = findings
        .into_iter()
        .filter(|f| {
            let named_routes: Vec<_> = f.resources.iter().filter(|r| r.kind == "HTTPRoute").collect();
            if named_routes.is_empty() {
                return true;
            }
            let key = |r: &crate::doctor::ResourceRef| (r.namespace.clone().unwrap_or_default(), r.name.clone());
            let keep = named_routes.iter().any(|r| routes.contains(&key(r)))
                || f.resources
                    .iter()
                    .any(|r| r.kind == "Service" && services.contains(&key(r)));
            if !keep {
                hidden += 1;
            }
            keep
        })
        .collect();
    (kept, hidden)
}

/// Causes first: errors, warnings, suppressed, then what was ruled out (ok, skipped); stable within each.
pub fn order(findings: &mut [Finding]) {
    let rank = |s: Status| match s {
        Status::Error => 0,
        Status::Warning => 1,
        Status::Suppressed => 2,
        Status::Ok => 3,
        Status::Skipped => 4,
    };
    findings.sort_by_key(|f| rank(f.status));
}

/// Everything `doctor --error` reports besides the findings.
#[derive(Debug, Clone)]
pub struct SymptomReport {
    pub recognised: Recognised,
    /// Check ids that ran.
    pub checks: Vec<&'static str>,
    pub targets: Vec<TargetInfo>,
    /// The recognised notes, and any added while resolving targets.
    pub notes: Vec<String>,
    /// Findings about other routes in the namespaces read, left out.
    pub hidden: usize,
    /// Whether `--deep` ran (a tls-verify-failed symptom says to rerun with it otherwise).
    pub deep: bool,
}

impl SymptomReport {
    /// The `"symptom"` member of doctor's JSON.
    pub fn json(&self) -> Value {
        let r = &self.recognised;
        let mut v = json!({
            "pattern": r.pattern.id,
            "matched": r.matched,
            "checks": self.checks,
            "targets": self.targets,
            "evidence": r.evidence,
            "notes": self.notes,
            "hidden": self.hidden,
        });
        if let Some(req) = &r.request {
            v["request"] = json!(req);
        }
        v
    }

    /// Notes to print under the report: the pattern's explanation when no check found a cause, then the rest.
    pub fn closing_notes(&self, findings: &[Finding]) -> Vec<String> {
        let mut notes = Vec::new();
        let causes = findings.iter().any(|f| f.status.is_problem());
        if !causes {
            notes.push(format!(
                "none of the checks {} calls for found a cause here; {}",
                self.recognised.pattern.id, self.recognised.pattern.note
            ));
        }
        if self.recognised.pattern.id == "tls-verify-failed" && !self.deep {
            notes.push("rerun with --deep to ask each proxy which roots it trusts".to_string());
        }
        if self.recognised.pattern.id == "route-not-found" {
            if let Some(req) = &self.recognised.request {
                let svc = self.targets.first().map_or("SERVICE", |t| t.service.as_str());
                notes.push(format!(
                    "to see which rule a request takes: kubectl mesh explain {svc} --path {} --method {}",
                    req.path, req.method
                ));
            }
        }
        notes.extend(self.notes.iter().cloned());
        notes
    }

    /// The text report: symptom, targets, causes found, ruled out, notes, summary.
    pub fn render_text(&self, findings: &[Finding], color: bool) -> String {
        let r = &self.recognised;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {} ({}) — checks: {}",
            paint(color, "Symptom:", Style::Bold),
            r.pattern.id,
            r.pattern.trigger,
            self.checks.join(", ")
        );
        if r.matched.len() > 1 {
            let _ = writeln!(out, "Also matched: {}", r.matched[1..].join(", "));
        }
        for t in &self.targets {
            let port = t.port.map(|p| format!(" port {p}")).unwrap_or_default();
            let state = if !t.exists {
                "not found".to_string()
            } else {
                let ready = match t.ready_endpoints {
                    Some(1) => "1 ready endpoint".to_string(),
                    Some(n) => format!("{n} ready endpoints"),
                    None => "ready endpoints unknown".to_string(),
                };
                if t.routes.is_empty() {
                    ready
                } else {
                    format!("{ready}, routes {}", t.routes.join(", "))
                }
            };
            let _ = writeln!(
                out,
                "{} Service {}/{}{port} (from {}): {state}",
                paint(color, "Target: ", Style::Bold),
                t.namespace,
                t.service,
                t.source
            );
        }
        for e in &r.evidence {
            let _ = writeln!(out, "Evidence: {e}");
        }
        let causes: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.status.is_problem() || f.status == Status::Suppressed)
            .collect();
        let ruled_out: Vec<&Finding> = findings
            .iter()
            .filter(|f| !(f.status.is_problem() || f.status == Status::Suppressed))
            .collect();
        out.push('\n');
        let _ = writeln!(out, "{}", paint(color, "Causes found", Style::Bold));
        let _ = writeln!(out, "------------");
        if causes.is_empty() {
            let _ = writeln!(out, "none");
        }
        for f in causes {
            write_finding(&mut out, f, color);
        }
        if !ruled_out.is_empty() {
            out.push('\n');
            let _ = writeln!(out, "{}", paint(color, "Ruled out", Style::Bold));
            let _ = writeln!(out, "---------");
            for f in ruled_out {
                write_finding(&mut out, f, color);
            }
        }
        let notes = self.closing_notes(findings);
        if !notes.is_empty() || self.hidden > 0 {
            out.push('\n');
        }
        for n in notes {
            let _ = writeln!(out, "note: {n}");
        }
        if self.hidden > 0 {
            let (n, verb) = if self.hidden == 1 {
                ("1 finding".to_string(), "is")
            } else {
                (format!("{} findings", self.hidden), "are")
            };
            let _ = writeln!(
                out,
                "note: {n} about other routes in the namespaces read {verb} hidden; run kubectl mesh doctor for everything"
            );
        }
        out.push_str(&summary(findings, color, true));
        out
    }
}
