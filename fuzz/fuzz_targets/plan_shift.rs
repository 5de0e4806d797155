//! The route planners (`plan_shift`, `plan_route_user`, and `route_status`) on arbitrary
//! HTTPRoutes and requests.
//!
//! Input layout: the first byte picks the mode.
//! - `% 4 == 0`, raw mode: the next 32 bytes drive the snapshot and requests (about 20 the
//!   snapshot, then the shift and route-user requests), the rest is
//!   JSON text: an object is one route, an array is a list of routes.
//! - otherwise, grammar mode: all bytes drive a small generator of route shapes (mesh and
//!   Gateway parentRefs, default/user/path rules, backendRef weights, owner markers), so
//!   coverage reaches deep into the planners instead of stopping at JSON syntax. `% 4 == 1`
//!   keeps to values the API server accepts (so "valid in, valid out" is checked often);
//!   `2` and `3` also produce values past the limits and junk where objects belong.
//!
//! Properties: nothing panics; a shift plan that writes puts weights summing to 100 on the
//! default rule; a route-user plan leaves exactly one (or, removing, no) rule for the user;
//! and every `Ok` plan's route validates against both HTTPRoute CRDs (v1.0.0 with
//! `parentRefs[].port` pruned, as the command writes it there, and v1.6.1) whenever the input
//! route(s) it was planned from did (a created route must always validate). The CRDs are read
//! once from `<repo>/../shared/fixtures/gateway-api/`; absent, validation is skipped.
#![no_main]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use mesh_core::route::{
    default_rule_index, is_user_rule, plan_route_user, plan_shift, render_shift_table, render_status_table,
    render_user_plan, route_status, NamespaceState, PodInfo, RouteSnapshot, RouteUserRequest, ServiceInfo, ServicePort,
    ShiftRequest,
};
use mesh_sandbox::schema::CrdSchema;
use serde_json::{json, Map, Value};

const NS: &str = "bookinfo";
/// Raw mode: parameter bytes before the JSON text.
const RAW_PARAMS: usize = 32;

// ---------------------------------------------------------------------------------------------
// Schemas

struct Schemas {
    /// v1.0.0 (no `parentRefs[].port`).
    old: CrdSchema,
    /// v1.6.1.
    new: CrdSchema,
}

fn schemas() -> Option<&'static Schemas> {
    static S: OnceLock<Option<Schemas>> = OnceLock::new();
    S.get_or_init(|| {
        let dir = mesh_sandbox::fixtures::shared_fixtures_dir().join("gateway-api");
        let load = |rel: &str| {
            let text = std::fs::read_to_string(dir.join(rel)).ok()?;
            Some(CrdSchema::from_crd_yaml(&text, "v1").expect("upstream HTTPRoute CRD parses"))
        };
        match (
            load("gateway.networking.k8s.io_httproutes.yaml"),
            load("latest/gateway.networking.k8s.io_httproutes.yaml"),
        ) {
            (Some(old), Some(new)) => Some(Schemas { old, new }),
            _ => {
                eprintln!(
                    "skipping: schema validation, HTTPRoute CRDs not found under {}",
                    dir.display()
                );
                None
            }
        }
    })
    .as_ref()
}

/// Why `route` would not be accepted (empty = accepted): unknown fields (Strict field
/// validation) and schema violations after defaulting.
fn problems(schema: &CrdSchema, route: &Value, strip_port: bool) -> Vec<String> {
    let mut r = route.clone();
    if strip_port {
        if let Some(prs) = r.pointer_mut("/spec/parentRefs").and_then(Value::as_array_mut) {
            for p in prs {
                if let Some(o) = p.as_object_mut() {
                    o.shift_remove("port");
                }
            }
        }
    }
    let mut out: Vec<String> = schema
        .unknown_fields(&r)
        .into_iter()
        .map(|f| format!("unknown field {f}"))
        .collect();
    schema.default(&mut r);
    out.extend(
        schema
            .validate(&r)
            .into_iter()
            .map(|c| format!("{}: {} ({})", c.field, c.message, c.reason)),
    );
    out
}

fn route_name(r: &Value) -> &str {
    r.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

/// A planned route must validate under each schema under which its inputs did.
fn check_valid(snap: &RouteSnapshot, planned: &Value, name: &str, created: bool, what: &str) {
    let Some(s) = schemas() else { return };
    for (schema, strip_port, label) in [(&s.old, true, "v1.0.0"), (&s.new, false, "v1.6.1")] {
        let input_problem = if created {
            None
        } else {
            snap.state
                .routes
                .iter()
                .filter(|r| route_name(r) == name)
                .find_map(|r| problems(schema, r, strip_port).into_iter().next())
        };
        if let Some(p) = input_problem {
            stat(&format!("{what} {label}: input invalid ({p}), not checked"));
            continue;
        }
        stat(&format!("{what} {label}: checked (created: {created})"));
        let p = problems(schema, planned, strip_port);
        assert!(
            p.is_empty(),
            "{what}: planned route invalid under {label} though its input was valid: {p:#?}\nplanned: {planned}\ninputs: {}",
            Value::Array(snap.state.routes.clone())
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Grammar of route shapes

thread_local! {
    /// Whether the grammar may produce values the API server would reject (modes 2 and 3).
    /// Mode 1 keeps to valid shapes, so most of its routes pass the schema check and the
    /// property "valid in, valid out" is exercised often.
    static JUNK: Cell<bool> = const { Cell::new(true) };
}

fn junk_allowed() -> bool {
    JUNK.with(Cell::get)
}

/// `u.ratio(num, den)` when junk is allowed, else `false`.
fn junk(u: &mut Unstructured, num: u8, den: u8) -> ArbResult<bool> {
    if junk_allowed() {
        chance(u, num, den)
    } else {
        Ok(false)
    }
}

/// `MESH_FUZZ_STATS=1`: print one line per checked property, to measure how often the
/// schema property is really exercised (`… 2>&1 | sort | uniq -c`).
fn stat(what: &str) {
    static ON: OnceLock<bool> = OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("MESH_FUZZ_STATS").is_some()) {
        eprintln!("stat: {what}");
    }
}

/// `num` in `den`; `false` once the input is used up (`Unstructured::ratio` answers `true`
/// then, which would make every rare shape the common one for short inputs).
fn chance(u: &mut Unstructured, num: u8, den: u8) -> ArbResult<bool> {
    if u.is_empty() {
        return Ok(false);
    }
    u.ratio(num, den)
}

fn pick<'a, T>(u: &mut Unstructured, items: &'a [T]) -> ArbResult<&'a T> {
    u.choose(items)
}

fn gen_weight(u: &mut Unstructured) -> ArbResult<Option<Value>> {
    let last = if junk_allowed() { 11 } else { 5 };
    Ok(match u.int_in_range(0u8..=last)? {
        0 => None,
        1 => Some(json!(0)),
        2 | 3 => Some(json!(1)),
        4 => Some(json!(u.int_in_range(0u32..=100)?)),
        5 => Some(json!(1_000_000)),
        6 => Some(json!(1_000_001)),
        7 => Some(json!(u.arbitrary::<u64>()?)),
        8 => Some(json!(u.arbitrary::<i32>()?)),
        9 => Some(json!("50")),
        10 => Some(json!(0.5)),
        _ => Some(json!(u.int_in_range(0u32..=1_000_000)?)),
    })
}

fn gen_backend_ref(u: &mut Unstructured) -> ArbResult<Value> {
    if junk(u, 1, 40)? {
        return Ok(pick(u, &[json!(7), json!("reviews-v1"), Value::Null, json!([])])?.clone());
    }
    let names: &[&str] = &[
        "reviews-v1",
        "reviews-v2",
        "reviews-v3",
        "reviews-v4",
        "reviews",
        "ratings",
        "v2",
        "",
    ];
    let name = *pick(
        u,
        if junk_allowed() {
            names
        } else {
            &names[..names.len() - 1]
        },
    )?;
    let mut r = Map::new();
    if chance(u, 1, 6)? {
        r.insert("group".into(), json!(*pick(u, &["", "core", "example.com"])?));
    }
    if chance(u, 1, 6)? {
        r.insert("kind".into(), json!(*pick(u, &["Service", "Backend"])?));
    }
    r.insert("name".into(), json!(name));
    if chance(u, 1, 8)? {
        r.insert("namespace".into(), json!(*pick(u, &[NS, "other"])?));
    }
    if !chance(u, 1, 8)? {
        let ports: &[i32] = if junk_allowed() {
            &[9080, 80, 0, 70000]
        } else {
            &[9080, 80]
        };
        r.insert("port".into(), json!(*pick(u, ports)?));
    }
    if let Some(w) = gen_weight(u)? {
        r.insert("weight".into(), w);
    }
    if chance(u, 1, 12)? {
        r.insert(
            "filters".into(),
            json!([{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-b", "value": "1"}]}}]),
        );
    }
    if junk(u, 1, 30)? {
        r.insert("unknownField".into(), json!(true));
    }
    Ok(Value::Object(r))
}

fn gen_header(u: &mut Unstructured) -> ArbResult<Value> {
    let (names, values): (&[&str], &[&str]) = if junk_allowed() {
        (
            &["end-user", "End-User", "x-user", "bad header", ""],
            &["jason", "vijay", "Jason", ""],
        )
    } else {
        (&["end-user", "End-User", "x-user"], &["jason", "vijay", "Jason"])
    };
    let name = *pick(u, names)?;
    let value = *pick(u, values)?;
    let mut h = Map::new();
    if chance(u, 3, 4)? {
        let types: &[&str] = if junk_allowed() {
            &["Exact", "RegularExpression", "Fuzzy"]
        } else {
            &["Exact", "RegularExpression"]
        };
        h.insert("type".into(), json!(*pick(u, types)?));
    }
    h.insert("name".into(), json!(name));
    h.insert("value".into(), json!(value));
    Ok(Value::Object(h))
}

fn gen_match(u: &mut Unstructured) -> ArbResult<Value> {
    if junk(u, 1, 40)? {
        return Ok(pick(u, &[json!("x"), Value::Null, json!(3)])?.clone());
    }
    let mut m = Map::new();
    match u.int_in_range(0u8..=4)? {
        0 => {}
        1 | 2 => {
            m.insert("path".into(), json!({"type": "PathPrefix", "value": "/"}));
        }
        3 => {
            m.insert("path".into(), json!({"type": "PathPrefix", "value": "/v2"}));
        }
        _ => {
            m.insert("path".into(), json!({"type": "Exact", "value": "/"}));
        }
    }
    let n = u.int_in_range(0u8..=3)?;
    if n > 0 || chance(u, 1, 10)? {
        let mut hs = (0..n).map(|_| gen_header(u)).collect::<ArbResult<Vec<_>>>()?;
        if !junk_allowed() {
            // Header matches are a list-map keyed by name: no duplicates.
            let mut seen = Vec::new();
            hs.retain(|h| {
                let name = h["name"].clone();
                let dup = seen.contains(&name);
                seen.push(name);
                !dup
            });
        }
        m.insert("headers".into(), Value::Array(hs));
    }
    if chance(u, 1, 10)? {
        m.insert("method".into(), json!(*pick(u, &["GET", "POST"])?));
    }
    if chance(u, 1, 10)? {
        m.insert("queryParams".into(), json!([{"name": "u", "value": "1"}]));
    }
    Ok(Value::Object(m))
}

fn gen_rule(u: &mut Unstructured) -> ArbResult<Value> {
    if junk(u, 1, 40)? {
        return Ok(pick(u, &[json!("x"), Value::Null, json!(1), json!([])])?.clone());
    }
    if chance(u, 1, 4)? {
        // A user rule exactly as `route-user` writes it (and as a server stores it).
        let user = *pick(u, &["jason", "vijay"])?;
        let backend = *pick(u, &["reviews-v1", "reviews-v2", "reviews-v3"])?;
        let mut m = json!({"headers": [{"type": "Exact", "name": "end-user", "value": user}]});
        if chance(u, 1, 2)? {
            m["path"] = json!({"type": "PathPrefix", "value": "/"});
        }
        return Ok(json!({"matches": [m], "backendRefs": [{"name": backend, "port": 9080, "weight": 100}]}));
    }
    let mut rule = Map::new();
    match u.int_in_range(0u8..=5)? {
        0 => {}
        1 => {
            rule.insert("matches".into(), json!([]));
        }
        2 => {
            rule.insert("matches".into(), json!(null));
        }
        _ => {
            let n = u.int_in_range(1u8..=3)?;
            let ms = (0..n).map(|_| gen_match(u)).collect::<ArbResult<Vec<_>>>()?;
            rule.insert("matches".into(), Value::Array(ms));
        }
    }
    if chance(u, 1, 10)? {
        rule.insert(
            "filters".into(),
            json!([{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-canary", "value": "1"}]}}]),
        );
    }
    if !chance(u, 1, 10)? {
        let max = if junk_allowed() { 18 } else { 16 };
        let n = if chance(u, 1, 20)? {
            u.int_in_range(0u8..=max)?
        } else {
            u.int_in_range(0u8..=4)?
        };
        let refs = (0..n).map(|_| gen_backend_ref(u)).collect::<ArbResult<Vec<_>>>()?;
        rule.insert("backendRefs".into(), Value::Array(refs));
    }
    if chance(u, 1, 20)? {
        rule.insert("timeouts".into(), json!({"request": "10s"}));
    }
    if chance(u, 1, 20)? {
        rule.insert("name".into(), json!("canary"));
    }
    Ok(Value::Object(rule))
}

fn gen_parent_ref(u: &mut Unstructured) -> ArbResult<Value> {
    let mut p = Map::new();
    match u.int_in_range(0u8..=5)? {
        0..=2 => {
            p.insert("group".into(), json!(*pick(u, &["", "", "core"])?));
            p.insert("kind".into(), json!("Service"));
        }
        3 => {
            p.insert("kind".into(), json!("Service"));
        }
        4 => {
            p.insert("group".into(), json!("gateway.networking.k8s.io"));
            p.insert("kind".into(), json!("Gateway"));
        }
        _ => {}
    }
    p.insert(
        "name".into(),
        json!(*pick(u, &["reviews", "reviews", "ratings", "bookinfo-gateway"])?),
    );
    if chance(u, 1, 8)? {
        p.insert("namespace".into(), json!(*pick(u, &[NS, "other"])?));
    }
    if chance(u, 1, 4)? {
        p.insert("port".into(), json!(9080));
    }
    Ok(Value::Object(p))
}

fn gen_route(u: &mut Unstructured) -> ArbResult<Value> {
    let mut meta = Map::new();
    meta.insert(
        "name".into(),
        json!(*pick(u, &["reviews", "reviews", "reviews-split", "ratings"])?),
    );
    if !chance(u, 1, 10)? {
        meta.insert("namespace".into(), json!(*pick(u, &[NS, NS, NS, "other"])?));
    }
    meta.insert("resourceVersion".into(), json!(u.int_in_range(1u32..=999)?.to_string()));
    match u.int_in_range(0u8..=20)? {
        0 => {
            meta.insert("ownerReferences".into(), json!([{"kind": "Canary", "name": "reviews"}]));
        }
        1 => {
            meta.insert("annotations".into(), json!({"flagger.app/primary": "x"}));
        }
        2 => {
            meta.insert("labels".into(), json!({"argo-rollouts.argoproj.io/x": "y"}));
        }
        3 => {
            meta.insert("managedFields".into(), json!([{"manager": "flagger"}]));
        }
        _ => {}
    }
    let mut spec = Map::new();
    if !chance(u, 1, 20)? {
        let n = u.int_in_range(0u8..=3)?;
        let prs = (0..n).map(|_| gen_parent_ref(u)).collect::<ArbResult<Vec<_>>>()?;
        spec.insert("parentRefs".into(), Value::Array(prs));
    }
    match u.int_in_range(0u8..=20)? {
        0 => {}
        1 if junk_allowed() => {
            spec.insert("rules".into(), json!("x"));
        }
        2 => {
            spec.insert("rules".into(), json!(null));
        }
        n => {
            let max = if junk_allowed() { 17 } else { 16 };
            let count = if n == 3 {
                u.int_in_range(14u8..=max)?
            } else {
                u.int_in_range(0u8..=4)?
            };
            let rules = (0..count).map(|_| gen_rule(u)).collect::<ArbResult<Vec<_>>>()?;
            spec.insert("rules".into(), Value::Array(rules));
        }
    }
    if chance(u, 1, 10)? {
        spec.insert("hostnames".into(), json!(["reviews.bookinfo.svc.cluster.local"]));
    }
    let mut route = json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": meta,
        "spec": spec,
    });
    if junk(u, 1, 30)? {
        route["spec"] = pick(u, &[json!([]), json!("spec"), Value::Null])?.clone();
    }
    Ok(route)
}

fn gen_routes(u: &mut Unstructured) -> ArbResult<Vec<Value>> {
    let n = u.int_in_range(0u8..=3)?;
    (0..n).map(|_| gen_route(u)).collect()
}

// ---------------------------------------------------------------------------------------------
// Snapshot and requests

fn service(name: &str, version: Option<&str>, ports: Vec<ServicePort>) -> ServiceInfo {
    let mut labels = BTreeMap::from([("app".to_string(), "reviews".to_string())]);
    if let Some(v) = version {
        labels.insert("version".into(), v.into());
    }
    ServiceInfo {
        name: name.into(),
        selector: labels.clone(),
        labels,
        ports,
        ..ServiceInfo::default()
    }
}

fn gen_snapshot(u: &mut Unstructured, routes: Vec<Value>, schemas: Option<&Schemas>) -> ArbResult<RouteSnapshot> {
    let http = |port| ServicePort {
        name: Some("http".into()),
        port,
    };
    // Choices that `int_in_range` falls back to on a used-up input (the lowest) come first.
    let parent_ports = match u.int_in_range(0u8..=7)? {
        0..=3 => vec![http(9080)],
        4 => Vec::new(),
        5 => vec![ServicePort { name: None, port: 8080 }],
        6 => vec![
            ServicePort {
                name: Some("grpc".into()),
                port: 7070,
            },
            http(9080),
        ],
        _ => vec![http(u.int_in_range(1..=65535)?)],
    };
    let mut services = Vec::new();
    if !chance(u, 1, 20)? {
        services.push(service("reviews", None, parent_ports));
    }
    let mut ready = BTreeMap::new();
    ready.insert("reviews".to_string(), 3);
    for v in ["v1", "v2", "v3"] {
        let name = format!("reviews-{v}");
        if !chance(u, 1, 8)? {
            services.push(service(&name, Some(v), vec![http(9080)]));
            ready.insert(name, *pick(u, &[1u32, 0, 2])?);
        }
    }
    if chance(u, 1, 6)? {
        // A Service named like a version.
        services.push(service("v2", Some("v2"), vec![http(9080)]));
        ready.insert("v2".into(), 1);
    }
    services.push(ServiceInfo {
        name: "ratings".into(),
        ports: vec![http(9080)],
        ..ServiceInfo::default()
    });
    ready.insert("ratings".into(), 1);
    let mut pods = Vec::new();
    for v in ["v1", "v2", "v3", "v4"] {
        if !chance(u, 1, 4)? {
            pods.push(PodInfo {
                name: format!("reviews-{v}-abc"),
                app: Some("reviews".to_string()),
                version: Some(v.into()),
                ready: !chance(u, 1, 4)?,
                ..PodInfo::default()
            });
        }
    }
    let mut routes = routes;
    if let Some(s) = schemas {
        // What a real API server returns: schema defaults applied.
        if chance(u, 1, 2)? {
            for r in &mut routes {
                s.new.default(r);
            }
        }
    }
    Ok(RouteSnapshot {
        service: (*pick(u, &["reviews", "reviews", "reviews", "ratings"])?).to_string(),
        state: NamespaceState {
            namespace: NS.into(),
            routes,
            services,
            ready_endpoints: ready,
            pods,
            ..Default::default()
        },
        parent_port_supported: u.arbitrary()?,
        namespace_labels: Some(BTreeMap::new()),
        gateways: Some(Vec::new()),
    })
}

const VERSIONS: &[&str] = &["v1", "v2", "v3", "v4", "reviews-v1", "ratings", "v2", "V2", "v_1"];

fn gen_route_name(u: &mut Unstructured) -> ArbResult<Option<String>> {
    Ok(match u.int_in_range(0u8..=5)? {
        3 => Some("reviews".into()),
        4 => Some("reviews-split".into()),
        5 => Some("missing".into()),
        _ => None,
    })
}

fn gen_shift(u: &mut Unstructured, service: &str) -> ArbResult<Option<ShiftRequest>> {
    let n = u.int_in_range(1u8..=4)?;
    let mut budget = 100u32;
    let mut args = Vec::new();
    for i in 0..n {
        let v = *pick(u, VERSIONS)?;
        let pct = if i + 1 == n && !chance(u, 1, 3)? {
            budget
        } else if chance(u, 1, 30)? {
            u.int_in_range(0u32..=120)?
        } else {
            u.int_in_range(0..=budget)?
        };
        budget = budget.saturating_sub(pct);
        args.push(format!("{v}={pct}"));
    }
    let Ok(mut req) = ShiftRequest::new(service, &args) else {
        return Ok(None);
    };
    req.route_name = gen_route_name(u)?;
    req.force = chance(u, 1, 4)?;
    req.create_backends = chance(u, 1, 3)?;
    Ok(Some(req))
}

fn gen_user(u: &mut Unstructured, service: &str) -> ArbResult<Option<RouteUserRequest>> {
    let user = *pick(u, &["jason", "vijay", "Jason", "a b", ""])?;
    let version = *pick(
        u,
        &[Some("v1"), Some("v2"), Some("v3"), Some("v4"), Some("ratings"), None],
    )?;
    let header = *pick(u, &[None, None, Some("end-user"), Some("End-User"), Some("x-user")])?;
    let remove = chance(u, 1, 4)?;
    let Ok(mut req) = RouteUserRequest::new(service, user, version, header, remove) else {
        return Ok(None);
    };
    req.route_name = gen_route_name(u)?;
    req.force = chance(u, 1, 4)?;
    req.create_backends = chance(u, 1, 3)?;
    Ok(Some(req))
}

// ---------------------------------------------------------------------------------------------

fn run(routes: Vec<Value>, u: &mut Unstructured) -> ArbResult<()> {
    let snap = gen_snapshot(u, routes, schemas())?;
    let shift = gen_shift(u, &snap.service)?;
    let user = gen_user(u, &snap.service)?;

    let statuses = route_status(std::slice::from_ref(&snap.state));
    let _ = render_status_table(&statuses, u.arbitrary()?);

    if let Some(req) = shift {
        match plan_shift(&snap, &req) {
            Ok(plan) => {
                stat(&format!("shift ok (noop: {})", plan.edit.noop));
                let _ = render_shift_table(&plan);
                if plan.edit.noop {
                    assert!(!plan.edit.create, "a no-op shift cannot create a route");
                } else {
                    let total: u64 = plan.after.iter().map(|s| u64::from(s.weight)).sum();
                    assert_eq!(total, 100, "shift writes percents summing to 100: {:?}", plan.after);
                    let idx = default_rule_index(&plan.edit.route).expect("a written shift has a default rule");
                    let refs = plan.edit.route["spec"]["rules"][idx]["backendRefs"]
                        .as_array()
                        .map_or(0, Vec::len);
                    assert_eq!(refs, plan.after.len(), "after lists the default rule's backends");
                }
                check_valid(
                    &snap,
                    &plan.edit.route,
                    &plan.edit.route_name,
                    plan.edit.create,
                    "shift",
                );
            }
            Err(e) => {
                stat(&format!(
                    "shift error {}",
                    e.to_string().chars().take(60).collect::<String>()
                ));
                let _ = (e.to_string(), e.hint());
            }
        }
    }
    if let Some(req) = user {
        match plan_route_user(&snap, &req) {
            Ok(plan) => {
                stat(&format!("route-user ok (noop: {})", plan.edit.noop));
                let _ = render_user_plan(&plan);
                if !plan.edit.route.is_null() {
                    let rules = plan.edit.route.pointer("/spec/rules").and_then(Value::as_array);
                    let n = rules.map_or(0, |rs| {
                        rs.iter().filter(|r| is_user_rule(r, &req.header, &req.user)).count()
                    });
                    if req.remove {
                        if !plan.edit.noop {
                            assert_eq!(n, 0, "removal leaves no rule for the user");
                        }
                    } else {
                        assert_eq!(n, 1, "exactly one rule for the user: {}", plan.edit.route);
                    }
                    check_valid(
                        &snap,
                        &plan.edit.route,
                        &plan.edit.route_name,
                        plan.edit.create,
                        "route-user",
                    );
                }
            }
            Err(e) => {
                stat(&format!(
                    "route-user error {}",
                    e.to_string().chars().take(60).collect::<String>()
                ));
                let _ = (e.to_string(), e.hint());
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 4 == 0 {
        let split = rest.len().min(RAW_PARAMS);
        let (params, text) = rest.split_at(split);
        let Ok(v) = serde_json::from_slice::<Value>(text) else {
            return;
        };
        let routes = match v {
            Value::Array(a) => a,
            other => vec![other],
        };
        JUNK.with(|j| j.set(true));
        let _ = run(routes, &mut Unstructured::new(params));
    } else {
        JUNK.with(|j| j.set(mode % 4 != 1));
        let mut u = Unstructured::new(rest);
        let Ok(routes) = gen_routes(&mut u) else {
            return;
        };
        let _ = run(routes, &mut u);
    }
});
