//! `kubectl mesh explain`: which route, rule and backends a request to a Service takes, by Gateway API
//! precedence across every mesh route attached to the Service ([`super::precedence`]).
//!
//! GAMMA (`kubernetes-sigs/gateway-api site-src/mesh/index.md`): "When one or more Routes are attached to a
//! Service, requests that do not match at least one of the Routes will be rejected. If no Routes are attached to
//! a Service, requests to the Service simply proceed per the mesh's default behavior". Only producer routes (in
//! the Service's namespace) are considered: a consumer route in another namespace affects only requests from
//! that namespace.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::precedence::{rule_matches, tie_order, HttpRequest, MatchCond, PrecedenceKey, Tri};
use super::{backend_key, backend_weight, route_name, version_of, NamespaceState, PlanError};
use crate::render::table;

/// A rule of the winning route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    pub index: usize,
    pub name: Option<String>,
}

/// One backend of the winning rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplainBackend {
    /// The Service name (`kind/name` for other kinds, `namespace/…` outside the route's namespace).
    pub service: String,
    pub weight: u64,
    pub percent: f64,
    /// `None` when not known (a backend outside the namespace read, or not a Service).
    pub ready_endpoints: Option<u32>,
    pub version: Option<String>,
    /// Whether the Service exists (`None` when not known).
    pub exists: Option<bool>,
}

/// The request as explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestEcho {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub query: Vec<(String, String)>,
    pub port: Option<i32>,
}

/// The winning match of the winning rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchInfo {
    pub index: usize,
    pub path: PathInfo,
    pub method: Option<String>,
    pub headers: usize,
    pub query_params: usize,
    /// "path PathPrefix / + header end-user=jason".
    pub conditions: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathInfo {
    #[serde(rename = "type")]
    pub type_: String,
    pub value: String,
}

/// A match that might win instead, had its regex been evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Uncertain {
    pub route: String,
    pub rule: usize,
    #[serde(rename = "match")]
    pub match_: usize,
    pub reason: String,
}

/// Every (route, rule, match) looked at, in precedence order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub route: String,
    pub rule: usize,
    pub rule_name: Option<String>,
    #[serde(rename = "match")]
    pub match_: usize,
    pub conditions: String,
    /// `won`, `lower precedence`, `no: …`, `cannot evaluate: …`.
    pub result: String,
}

/// What `explain` answers. The first four fields are the contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    pub route: Option<String>,
    pub namespace: String,
    pub rule: Option<RuleRef>,
    pub matched: bool,
    pub backends: Vec<ExplainBackend>,
    pub service: String,
    pub request: RequestEcho,
    #[serde(rename = "match")]
    pub match_: Option<MatchInfo>,
    pub message: String,
    pub uncertain: Vec<Uncertain>,
    pub notes: Vec<String>,
    pub candidates: Vec<Candidate>,
    /// The winning route's creationTimestamp, for the table.
    #[serde(skip)]
    pub route_created: Option<String>,
}

fn parent_status_rejected(route: &Value, service: &str) -> Option<String> {
    let parents = route.pointer("/status/parents").and_then(Value::as_array)?;
    for p in parents {
        let Some(pr) = p.get("parentRef") else { continue };
        let is_this = pr.get("kind").and_then(Value::as_str) == Some("Service")
            && pr.get("name").and_then(Value::as_str) == Some(service);
        if !is_this {
            continue;
        }
        for c in p.get("conditions").and_then(Value::as_array).into_iter().flatten() {
            if c.get("type").and_then(Value::as_str) == Some("Accepted")
                && c.get("status").and_then(Value::as_str) == Some("False")
            {
                let reason = c.get("reason").and_then(Value::as_str).unwrap_or("no reason");
                let message = c.get("message").and_then(Value::as_str).unwrap_or("");
                return Some(if message.is_empty() {
                    reason.to_string()
                } else {
                    format!("{reason}: {message}")
                });
            }
        }
    }
    None
}

/// How a route relates to the Service `service` on `port`.
enum Attachment {
    Attached,
    /// Not a parent of this Service at all.
    No,
    /// Names the Service but does not apply (with why, for a note).
    Ignored(String),
}

fn attachment(route: &Value, namespace: &str, service: &str, port: Option<i32>) -> Attachment {
    let name = route_name(route);
    let mut ignored: Option<String> = None;
    for p in route
        .pointer("/spec/parentRefs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if p.get("kind").and_then(Value::as_str) != Some("Service")
            || p.get("name").and_then(Value::as_str) != Some(service)
        {
            continue;
        }
        if p.get("namespace")
            .and_then(Value::as_str)
            .is_some_and(|ns| ns != namespace)
        {
            continue;
        }
        match p.get("group").and_then(Value::as_str) {
            Some("") => {}
            Some("core") => {
                ignored.get_or_insert(format!(
                    "HTTPRoute {name} names its parent Service with group \"core\": Istio does not attach it (use group \"\")"
                ));
                continue;
            }
            _ => continue,
        }
        if let (Some(want), Some(port)) = (p.get("port").and_then(Value::as_i64), port) {
            if want != i64::from(port) {
                ignored.get_or_insert(format!(
                    "HTTPRoute {name} applies to port {want} of {service} only, not {port}"
                ));
                continue;
            }
        }
        if let Some(why) = parent_status_rejected(route, service) {
            ignored.get_or_insert(format!(
                "HTTPRoute {name} is not accepted for {service} (Accepted=False, {why}): the mesh ignores it"
            ));
            continue;
        }
        return Attachment::Attached;
    }
    match ignored {
        Some(why) => Attachment::Ignored(why),
        None => Attachment::No,
    }
}

fn percent_of(weight: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        weight as f64 * 100.0 / total as f64
    }
}

/// "25%", "33.3%".
pub fn format_percent(p: f64) -> String {
    let tenths = (p * 10.0).round() as i64;
    if tenths % 10 == 0 {
        format!("{}%", tenths / 10)
    } else {
        format!("{}.{}%", tenths / 10, tenths % 10)
    }
}

fn request_line(req: &HttpRequest) -> String {
    let mut s = format!("{} {}", req.method, req.path);
    if !req.query.is_empty() {
        let q: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s.push('?');
        s.push_str(&q.join("&"));
    }
    s
}

struct Scored<'a> {
    route: &'a Value,
    order: usize,
    rule: usize,
    m: usize,
    cond: MatchCond,
    key: PrecedenceKey,
    result: Tri,
}

/// Explain the request `req` to Service `service` of `state`'s namespace.
pub fn explain(state: &NamespaceState, service: &str, req: &HttpRequest) -> Result<Explanation, PlanError> {
    let ns = state.namespace.as_str();
    let svc = state.service(service).ok_or_else(|| PlanError::ServiceNotFound {
        service: service.to_string(),
        namespace: ns.to_string(),
    })?;
    let port = match req.port {
        Some(p) if !svc.ports.iter().any(|sp| sp.port == p) => {
            return Err(PlanError::ServicePortNotFound {
                service: service.to_string(),
                namespace: ns.to_string(),
                port: p,
                ports: svc.ports.iter().map(|sp| sp.port).collect(),
            })
        }
        Some(p) => Some(p),
        None => svc.route_port(),
    };
    let echo = RequestEcho {
        method: req.method.clone(),
        path: req.path.clone(),
        headers: req.headers.iter().cloned().collect(),
        query: req.query.clone(),
        port,
    };
    let mut notes = Vec::new();
    let mut attached: Vec<&Value> = Vec::new();
    for route in &state.routes {
        match attachment(route, ns, service, port) {
            Attachment::Attached => attached.push(route),
            Attachment::Ignored(why) => notes.push(why),
            Attachment::No => {}
        }
    }
    let port_text = port.map(|p| format!(" port {p}")).unwrap_or_default();
    let mut out = Explanation {
        route: None,
        namespace: ns.to_string(),
        rule: None,
        matched: false,
        backends: Vec::new(),
        service: service.to_string(),
        request: echo,
        match_: None,
        message: String::new(),
        uncertain: Vec::new(),
        notes,
        candidates: Vec::new(),
        route_created: None,
    };
    if attached.is_empty() {
        out.matched = true;
        out.backends = vec![ExplainBackend {
            service: service.to_string(),
            weight: 1,
            percent: 100.0,
            ready_endpoints: Some(state.ready(service)),
            version: None,
            exists: Some(true),
        }];
        out.message = format!(
            "no mesh route is attached to Service {ns}/{service}{port_text}: requests go to {service} as without a route"
        );
        add_backend_notes(&mut out);
        return Ok(out);
    }

    let ordered = tie_order(attached.iter().copied());
    let mut scored: Vec<Scored> = Vec::new();
    for (order, route) in ordered.iter().enumerate() {
        for (ri, rule) in route
            .pointer("/spec/rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            for (mi, cond) in rule_matches(rule).into_iter().enumerate() {
                if cond.dropped_headers > 0 {
                    out.notes.push(format!(
                        "HTTPRoute {} rules[{ri}].matches[{mi}] repeats a header name: only the first entry counts (Gateway API); Istio may read it differently",
                        route_name(route)
                    ));
                }
                let result = cond.eval(req);
                scored.push(Scored {
                    route,
                    order,
                    rule: ri,
                    m: mi,
                    key: cond.key(),
                    cond,
                    result,
                });
            }
        }
    }
    // Highest key first; ties keep route order, rule order, match order (the sort is stable).
    scored.sort_by(|a, b| {
        b.key
            .cmp(&a.key)
            .then((a.order, a.rule, a.m).cmp(&(b.order, b.rule, b.m)))
    });
    let winner = scored.iter().position(|s| s.result == Tri::Yes);
    for (i, s) in scored.iter().enumerate() {
        let rule_name = rule_at(s.route, s.rule)
            .and_then(|r| r.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let result = match (&s.result, winner) {
            (_, Some(w)) if w == i => "won".to_string(),
            (Tri::Yes, _) => "lower precedence".to_string(),
            (Tri::No(why), _) => format!("no: {why}"),
            (Tri::Unknown(why), Some(w)) if i > w => format!("lower precedence (cannot evaluate: {why})"),
            (Tri::Unknown(why), _) => {
                out.uncertain.push(Uncertain {
                    route: route_name(s.route).to_string(),
                    rule: s.rule,
                    match_: s.m,
                    reason: why.clone(),
                });
                format!("cannot evaluate: {why}")
            }
        };
        out.candidates.push(Candidate {
            route: route_name(s.route).to_string(),
            rule: s.rule,
            rule_name,
            match_: s.m,
            conditions: s.cond.describe(),
            result,
        });
    }
    let Some(w) = winner.map(|w| &scored[w]) else {
        out.message = format!(
            "no rule of the {} attached to Service {ns}/{service} matches {}: the mesh rejects such requests (Envoy answers 404, response flag NR)",
            if attached.len() == 1 {
                "1 route".to_string()
            } else {
                format!("{} routes", attached.len())
            },
            request_line(req)
        );
        if !out.uncertain.is_empty() {
            out.notes.push(format!(
                "{} match(es) could not be evaluated here and might take the request instead (see uncertain)",
                out.uncertain.len()
            ));
        }
        return Ok(out);
    };
    let rule = rule_at(w.route, w.rule).cloned().unwrap_or(Value::Null);
    let rule_name = rule.get("name").and_then(Value::as_str).map(str::to_string);
    out.matched = true;
    out.route = Some(route_name(w.route).to_string());
    out.route_created = w
        .route
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .map(str::to_string);
    out.rule = Some(RuleRef {
        index: w.rule,
        name: rule_name.clone(),
    });
    out.match_ = Some(MatchInfo {
        index: w.m,
        path: PathInfo {
            type_: w.cond.path.type_name().to_string(),
            value: w.cond.path.value().to_string(),
        },
        method: w.cond.method.clone(),
        headers: w.cond.headers.len(),
        query_params: w.cond.query.len(),
        conditions: w.cond.describe(),
    });
    let refs = rule
        .get("backendRefs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total: u64 = refs.iter().map(backend_weight).sum();
    for r in &refs {
        let key = backend_key(r, ns);
        let weight = backend_weight(r);
        let same_ns_service = !key.contains('/');
        out.backends.push(ExplainBackend {
            ready_endpoints: same_ns_service.then(|| state.ready(&key)),
            exists: same_ns_service.then(|| state.service(&key).is_some()),
            version: version_of(state, service, &key),
            percent: percent_of(weight, total),
            weight,
            service: key,
        });
    }
    let rule_text = match &rule_name {
        Some(n) => format!("rules[{}] {n:?}", w.rule),
        None => format!("rules[{}]", w.rule),
    };
    out.message = format!(
        "{} to Service {ns}/{service}{port_text} takes HTTPRoute {} {rule_text}",
        request_line(req),
        route_name(w.route)
    );
    if refs.is_empty() {
        let filters: Vec<&str> = rule
            .get("filters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("type").and_then(Value::as_str))
            .collect();
        out.notes.push(if filters.is_empty() {
            "the rule has no backendRefs and no filter that answers: such requests get HTTP 500".to_string()
        } else {
            format!(
                "the rule has no backendRefs; its filters answer: {}",
                filters.join(", ")
            )
        });
    }
    if w.route
        .pointer("/spec/hostnames")
        .and_then(Value::as_array)
        .is_some_and(|h| !h.is_empty())
    {
        out.notes.push(format!(
            "HTTPRoute {} lists spec.hostnames; explain does not evaluate hostnames",
            route_name(w.route)
        ));
    }
    if !out.uncertain.is_empty() {
        let u = &out.uncertain[0];
        out.notes.push(format!(
            "HTTPRoute {} rules[{}] ranks above the winner but could not be evaluated ({}): if it matches, it takes the request instead",
            u.route, u.rule, u.reason
        ));
    }
    add_backend_notes(&mut out);
    Ok(out)
}

fn rule_at(route: &Value, index: usize) -> Option<&Value> {
    route.pointer("/spec/rules").and_then(Value::as_array)?.get(index)
}

/// What the backend split means for requests: missing Services (500), no ready endpoints (503), all weights 0.
fn add_backend_notes(out: &mut Explanation) {
    let total: u64 = out.backends.iter().map(|b| b.weight).sum();
    if !out.backends.is_empty() && total == 0 {
        out.notes
            .push("every backend has weight 0: requests this rule takes get an error (HTTP 500)".to_string());
        return;
    }
    for b in &out.backends {
        if b.weight == 0 {
            continue;
        }
        let share = format_percent(b.percent);
        if b.exists == Some(false) {
            out.notes.push(format!(
                "backend Service {} does not exist: its {share} of requests get HTTP 500",
                b.service
            ));
        } else if b.ready_endpoints == Some(0) {
            out.notes.push(format!(
                "backend Service {} has no ready endpoints: its {share} of requests get 503 no healthy upstream",
                b.service
            ));
        }
    }
}

/// The table `explain` prints (`wide` adds every candidate match).
pub fn render_explain_table(e: &Explanation, wide: bool) -> String {
    let mut out = String::new();
    let mut req = format!("{} {}", e.request.method, e.request.path);
    if !e.request.query.is_empty() {
        let q: Vec<String> = e.request.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        req.push('?');
        req.push_str(&q.join("&"));
    }
    for (k, v) in &e.request.headers {
        let _ = write!(req, "  {k}: {v}");
    }
    let port = e.request.port.map(|p| format!(" port {p}")).unwrap_or_default();
    let _ = writeln!(out, "REQUEST   {req}  → Service {}/{}{port}", e.namespace, e.service);
    match (&e.route, &e.rule) {
        (Some(route), Some(rule)) => {
            let created = e
                .route_created
                .as_deref()
                .map(|t| format!(" (created {t})"))
                .unwrap_or_default();
            let name = rule.name.as_deref().map(|n| format!(" {n:?}")).unwrap_or_default();
            let _ = writeln!(out, "ROUTE     {route}{created}   RULE rules[{}]{name}", rule.index);
            if let Some(m) = &e.match_ {
                let _ = writeln!(out, "MATCHED   {} (matches[{}])", m.conditions, m.index);
            }
        }
        _ if e.matched => {
            let _ = writeln!(out, "ROUTE     none attached: {}", e.message);
        }
        _ => {
            let _ = writeln!(out, "NO MATCH  {}", e.message);
        }
    }
    if !e.backends.is_empty() {
        out.push('\n');
        let rows = e
            .backends
            .iter()
            .map(|b| {
                vec![
                    b.service.clone(),
                    b.weight.to_string(),
                    format_percent(b.percent),
                    b.ready_endpoints.map_or_else(|| "?".to_string(), |n| n.to_string()),
                ]
            })
            .collect();
        out.push_str(&table(vec!["BACKEND", "WEIGHT", "PERCENT", "READY"], rows));
    }
    if wide && !e.candidates.is_empty() {
        out.push('\n');
        let rows = e
            .candidates
            .iter()
            .map(|c| {
                vec![
                    c.route.clone(),
                    match &c.rule_name {
                        Some(n) => format!("rules[{}] {n:?}", c.rule),
                        None => format!("rules[{}]", c.rule),
                    },
                    c.conditions.clone(),
                    c.result.clone(),
                ]
            })
            .collect();
        out.push_str(&table(vec!["ROUTE", "RULE", "MATCH", "RESULT"], rows));
    }
    let mut notes = e.notes.clone();
    if wide {
        notes.push(
            "only routes in the Service's namespace are read: a consumer route in the caller's namespace would apply to that namespace's requests instead".to_string(),
        );
        notes.push("paths are compared as given (Envoy may normalise them, e.g. /a/../b)".to_string());
    }
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "note: {n}");
        }
    }
    out
}
