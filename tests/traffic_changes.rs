//! Traffic changes you can verify, step through and take back (issue 17), as a user runs them: the real binary
//! against the sandbox API server, whose route-status controller plays istiod (accept, reject with a reason,
//! slow, silent). Each test asserts the exit code, what was printed, what the server then holds, and which
//! requests were made.

#[path = "common/mesh.rs"]
mod mesh;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mesh::{pairs, Mesh};
use mesh_sandbox::scenario::bookinfo;
use mesh_sandbox::{Fault, RequestRecord, RouteStatusMode, RouteVerdict};
use serde_json::{json, Value};

const HISTORY: &str = "mesh.kubectl.io/history";

fn history_doc(route: &Value) -> Value {
    let text = route["metadata"]["annotations"][HISTORY]
        .as_str()
        .unwrap_or_else(|| panic!("no history annotation: {route}"));
    serde_json::from_str(text).unwrap()
}

fn route_puts(m: &Mesh) -> Vec<RequestRecord> {
    m.stored_writes()
        .into_iter()
        .filter(|w| w.method == "PUT" && w.path.contains("routes/"))
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Wait until `cond` holds (polling), or fail naming `what`.
fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The observedGeneration of the controller's Accepted condition on the reviews route.
fn observed(route: &Value) -> i64 {
    route["status"]["parents"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["controllerName"] == "istio.io/gateway-controller" && p["parentRef"]["kind"] == "Service")
        .and_then(|p| p["conditions"][0]["observedGeneration"].as_i64())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------------------
// History.

#[test]
fn history_is_written_in_the_same_request_and_bounded() {
    let m = Mesh::bookinfo();
    let splits = [["v1=70", "v3=30"], ["v1=30", "v3=70"]];
    for i in 0..12 {
        let before = route_puts(&m).len();
        m.run(&["shift", "reviews", splits[i % 2][0], splits[i % 2][1]])
            .assert_code(0);
        let puts = route_puts(&m);
        assert_eq!(puts.len(), before + 1, "one PUT per change");
        let body: Value = serde_json::from_str(puts.last().unwrap().body.as_ref().unwrap()).unwrap();
        assert!(
            body["metadata"]["annotations"][HISTORY].is_string(),
            "the history rides in the write"
        );
        let doc = history_doc(&m.route("reviews"));
        if i == 0 {
            // The state before the first write (made by someone else) and the one written.
            let revs = doc["revisions"].as_array().unwrap();
            assert_eq!(revs.len(), 2, "{doc}");
            assert_eq!(
                (revs[0]["revision"].as_u64(), revs[1]["revision"].as_u64()),
                (Some(1), Some(2))
            );
            assert!(revs[0]["command"].is_null());
            assert_eq!(revs[1]["command"], "kubectl mesh shift reviews v1=70 v3=30");
        }
    }
    assert_eq!(m.stored_writes().len(), 12, "nothing but the 12 route writes");
    let route = m.route("reviews");
    let text = route["metadata"]["annotations"][HISTORY].as_str().unwrap();
    assert!(text.len() <= 16 * 1024, "{}", text.len());
    let doc = history_doc(&route);
    assert_eq!(doc["lastRevision"], 13);
    let numbers: Vec<u64> = doc["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        (4..=13).collect::<Vec<_>>(),
        "the newest 10, numbers never reused"
    );

    // `history -o json`: exactly the shape, oldest first, the last entry the live state.
    let r = m.run(&["history", "reviews", "-o", "json"]);
    r.assert_code(0);
    let out = r.json();
    assert_eq!(keys(&out), set(&["service", "namespace", "route", "revisions"]));
    assert_eq!(
        (
            out["service"].as_str(),
            out["namespace"].as_str(),
            out["route"].as_str()
        ),
        (Some("reviews"), Some("istio-demo"), Some("reviews"))
    );
    let revs = out["revisions"].as_array().unwrap();
    assert_eq!(revs.len(), 10);
    for rev in revs {
        assert_eq!(
            keys(rev),
            set(&["revision", "time", "manager", "command", "backends", "userRules"]),
            "{rev}"
        );
    }
    let last = revs.last().unwrap();
    assert_eq!(last["revision"], 13);
    assert_eq!(last["manager"], "kubectl-mesh");
    assert_eq!(
        last["backends"],
        json!([{"service": "reviews-v1", "weight": 30}, {"service": "reviews-v3", "weight": 70}])
    );
    assert_eq!(keys(&last["backends"][0]), set(&["service", "weight"]));
    let table = m.run(&["history", "reviews"]);
    table.assert_code(0);
    assert!(table.stdout.starts_with("REVISION   AGE"), "{}", table.stdout);
    assert!(
        table.stdout.contains("reviews-v1 30%, reviews-v3 70%"),
        "{}",
        table.stdout
    );
}

#[test]
fn history_stays_within_16_kib_and_keeps_the_newest() {
    let m = Mesh::bookinfo();
    for i in 0..6 {
        let user = format!("{i}{}", "u".repeat(2000));
        m.run(&["route-user", "reviews", &user, "v2"]).assert_code(0);
        let route = m.route("reviews");
        let text = route["metadata"]["annotations"][HISTORY].as_str().unwrap();
        assert!(text.len() <= 16 * 1024, "{}", text.len());
    }
    let doc = history_doc(&m.route("reviews"));
    let revs = doc["revisions"].as_array().unwrap();
    assert_eq!(
        revs.last().unwrap()["revision"],
        doc["lastRevision"],
        "the newest is kept"
    );
    assert!(revs.len() < 7, "older entries dropped: {}", revs.len());
    let out = m.run(&["history", "reviews", "-o", "json"]).json();
    assert_eq!(
        out["revisions"].as_array().unwrap().last().unwrap()["userRules"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[test]
fn a_conflict_replan_rebuilds_the_history_from_the_winners_route() {
    let m = Mesh::bookinfo();
    m.run(&["shift", "reviews", "v1=50", "v3=50"]).assert_code(0);
    m.server.clear_log();
    // Hold the next PUT for 2 s; meanwhile another tool changes the route (the PUT then meets a real 409).
    m.server.inject(
        Fault::delay(Duration::from_secs(2))
            .method("PUT")
            .path("/httproutes/reviews")
            .once(),
    );
    let child = m
        .command(&["shift", "reviews", "v3=100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("the plugin's reads", Duration::from_secs(20), || {
        m.server
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/httproutes") && r.method == "GET")
    });
    let mut foreign = m.route("reviews");
    foreign["spec"]["rules"][0]["backendRefs"] = json!([{"name": "reviews-v2", "port": 9080}]);
    foreign["metadata"]["managedFields"] = json!([{"manager": "kubectl-edit", "operation": "Update",
        "time": "2026-08-22T11:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]);
    m.server.update(foreign).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let log = m.server.requests();
    let puts: Vec<&RequestRecord> = log.iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(
        puts.iter().map(|p| p.status).collect::<Vec<_>>(),
        vec![409, 200],
        "{puts:#?}"
    );
    // Between the 409 and the retry: one GET, of the route alone.
    let between: Vec<&RequestRecord> = log
        .iter()
        .filter(|r| r.started >= puts[0].finished && r.finished <= puts[1].started)
        .collect();
    assert_eq!(between.len(), 1, "{between:#?}");
    assert_eq!(
        between[0].path,
        "/apis/gateway.networking.k8s.io/v1/namespaces/istio-demo/httproutes/reviews"
    );
    let doc = history_doc(&m.route("reviews"));
    let revs = doc["revisions"].as_array().unwrap();
    let cmds: Vec<Value> = revs.iter().map(|r| r["command"].clone()).collect();
    assert_eq!(
        cmds,
        vec![
            Value::Null,
            json!("kubectl mesh shift reviews v1=50 v3=50"),
            Value::Null,
            json!("kubectl mesh shift reviews v3=100")
        ],
        "the foreign state is kept, ours after it"
    );
    assert_eq!(revs[2]["manager"], "kubectl-edit");
    assert_eq!(m.default_backends("reviews"), pairs(&[("reviews-v3", 100)]));
}

#[test]
fn a_conflict_rereads_only_the_route_and_the_window_is_short() {
    // The same 409 against the 1,200-pod namespace of the scale scenario: the retry waits for one GET, not for
    // the namespace's lists again (measured: see the printed window).
    let m = Mesh::bookinfo();
    m.server.clear_log();
    m.server
        .inject(Fault::status(409, "the object has been modified").method("PUT").once());
    m.run(&["shift", "reviews", "v1=50", "v3=50"]).assert_code(0);
    let log = m.server.requests();
    let puts: Vec<&RequestRecord> = log.iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(puts.len(), 2);
    let gets_between = log
        .iter()
        .filter(|r| r.method == "GET" && r.started >= puts[0].finished && r.started <= puts[1].started)
        .count();
    assert_eq!(gets_between, 1, "{log:#?}");
    eprintln!(
        "conflict window (409 answered → retry sent): {:?}",
        puts[1].started.saturating_sub(puts[0].finished)
    );
}

// ---------------------------------------------------------------------------------------------------------
// Undo.

#[test]
fn undo_restores_byte_identical_rules_and_twice_toggles() {
    let m = Mesh::bookinfo();
    // A route with filters on a backendRef and a user rule with its own filters.
    let mut r = m.route("reviews");
    r["spec"]["rules"] = json!([
        {"matches": [{"headers": [{"type": "Exact", "name": "end-user", "value": "jason"}]}],
         "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-canary", "value": "1"}]}}],
         "backendRefs": [{"name": "reviews-v2", "port": 9080}]},
        {"backendRefs": [{"name": "reviews-v1", "port": 9080,
            "filters": [{"type": "ResponseHeaderModifier", "responseHeaderModifier": {"remove": ["x-debug"]}}]}]}]);
    m.server.update(r).unwrap();
    let rules_of = |m: &Mesh| serde_json::to_string(&m.route("reviews")["spec"]["rules"]).unwrap();
    let revision_1 = rules_of(&m);
    m.run(&["shift", "reviews", "v3=100"]).assert_code(0);
    m.run(&["route-user", "reviews", "jason", "v3"]).assert_code(0);
    m.run(&["route-user", "reviews", "vijay", "v2"]).assert_code(0);
    let latest = rules_of(&m);
    let r = m.run(&["undo", "reviews", "--to-revision", "1"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("httproute.gateway.networking.k8s.io/reviews rolled back to revision 1"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("end-user: vijay (removed)"), "{}", r.stdout);
    assert_eq!(rules_of(&m), revision_1, "byte-identical");
    // undo again: back to the state just left; and again: forth.
    m.run(&["undo", "reviews"]).assert_code(0);
    assert_eq!(rules_of(&m), latest);
    m.run(&["undo", "reviews"]).assert_code(0);
    assert_eq!(rules_of(&m), revision_1);
    let cmds: Vec<String> = m.run(&["history", "reviews", "-o", "json"]).json()["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["command"].as_str().unwrap_or("-").to_string())
        .collect();
    assert_eq!(
        cmds[cmds.len() - 3..],
        [
            "kubectl mesh undo reviews --to-revision 1",
            "kubectl mesh undo reviews",
            "kubectl mesh undo reviews"
        ]
    );
    // Already there.
    let before = m.stored_writes().len();
    let r = m.run(&["undo", "reviews", "--to-revision", "1"]);
    r.assert_code(0);
    assert!(r.stdout.contains("skipped rollback"), "{}", r.stdout);
    assert_eq!(m.stored_writes().len(), before);
}

#[test]
fn undo_refuses_what_it_cannot_do_and_writes_nothing() {
    let m = Mesh::bookinfo();
    let r = m.run(&["undo", "reviews"]);
    r.assert_code(1);
    assert!(
        r.stderr
            .starts_with("error: nothing to undo: httproute/reviews has no earlier revision"),
        "{}",
        r.stderr
    );
    m.run(&["shift", "reviews", "v3=100"]).assert_code(0);
    m.server.clear_log();
    let r = m.run(&["undo", "reviews", "--to-revision", "99"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("revision 99 not found") && r.stderr.contains("known: 1, 2"),
        "{}",
        r.stderr
    );
    // The state to go back to needs reviews-v1: unready → refused unless --force; gone → always refused.
    let mut d = m.server.get("deployments", Some("istio-demo"), "reviews-v1").unwrap();
    d["spec"]["replicas"] = json!(0);
    m.server.update(d).unwrap();
    let r = m.run(&["undo", "reviews"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("reviews-v1") && r.stderr.contains("no ready endpoints"),
        "{}",
        r.stderr
    );
    for dry in ["--dry-run=client", "--dry-run=server"] {
        m.run(&["undo", "reviews", "--force", dry]).assert_code(0);
    }
    assert!(m.stored_writes().is_empty(), "{:?}", m.stored_writes());
    m.server.delete("services", Some("istio-demo"), "reviews-v1").unwrap();
    let r = m.run(&["undo", "reviews", "--force"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("reviews-v1") && r.stderr.contains("does not exist"),
        "{}",
        r.stderr
    );
    assert!(m.stored_writes().is_empty());
    let created = Mesh::bookinfo();
    created
        .server
        .delete("httproutes", Some("istio-demo"), "reviews")
        .unwrap();
    created.run(&["shift", "reviews", "v1=100"]).assert_code(0);
    let r = created.run(&["undo", "reviews"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("revision 1 created the route")
            && r.stderr.contains("kubectl delete httproute reviews -n istio-demo"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------------------------
// --wait, on the sandbox's istiod.

#[test]
fn wait_confirms_acceptance_through_a_watch() {
    let m = Mesh::bookinfo();
    let r = m.run(&["shift", "reviews", "v3=100", "--wait"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains(
            "httproute.gateway.networking.k8s.io/reviews accepted by istio.io/gateway-controller (generation 2)"
        ),
        "{}",
        r.stdout
    );
    let log = m.server.requests();
    assert!(
        log.iter()
            .any(|q| q.watch && q.query.contains("metadata.name%3Dreviews")),
        "{log:#?}"
    );
    // --wait adds the watch and nothing else: no extra LIST, one write.
    assert_eq!(log.iter().filter(|q| q.is_write()).count(), 1);
    // A no-op with --wait still answers "is it accepted".
    let r = m.run(&["shift", "reviews", "v3=100", "--wait"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("unchanged") && r.stdout.contains("accepted by"),
        "{}",
        r.stdout
    );
}

#[test]
fn wait_reports_a_rejection_and_the_undo_command() {
    let m = Mesh::bookinfo();
    m.server.set_route_status(RouteStatusMode::reject(
        "ResolvedRefs",
        "BackendNotFound",
        "backend(reviews-v3.istio-demo.svc.cluster.local) not found",
    ));
    let r = m.run(&["shift", "reviews", "v3=100", "--wait"]);
    r.assert_code(1);
    assert!(r.stderr.contains(
        "error: istio.io/gateway-controller rejected httproute istio-demo/reviews at generation 2: ResolvedRefs=False (BackendNotFound): backend(reviews-v3.istio-demo.svc.cluster.local) not found"
    ), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("hint: go back with: kubectl mesh undo reviews -n istio-demo --to-revision 1 --kubeconfig "),
        "{}",
        r.stderr
    );
    assert_eq!(
        m.default_backends("reviews"),
        pairs(&[("reviews-v3", 100)]),
        "no rollback unless asked"
    );

    // --rollback-on-failure: one more write, the previous state, said on stdout.
    let m = Mesh::bookinfo();
    m.server.set_route_status(RouteStatusMode::reject(
        "Accepted",
        "NoMatchingParent",
        "parent service: \"reviews\" not found",
    ));
    let r = m.run(&["shift", "reviews", "v3=100", "--wait", "--rollback-on-failure"]);
    r.assert_code(1);
    assert!(
        r.stdout
            .contains("httproute.gateway.networking.k8s.io/reviews rolled back to revision 1"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("Accepted=False (NoMatchingParent)") && r.stderr.contains("rolled back to revision 1"),
        "{}",
        r.stderr
    );
    assert_eq!(route_puts(&m).len(), 2);
    assert_eq!(m.default_backends("reviews"), pairs(&[("reviews-v1", 1)]));
    let last = m.run(&["history", "reviews", "-o", "json"]).json()["revisions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["command"], "kubectl mesh shift reviews v3=100 --wait --rollback-on-failure (automatic rollback: Accepted=False NoMatchingParent)");
}

#[test]
fn wait_on_a_slow_or_silent_controller() {
    let m = Mesh::bookinfo();
    m.server.set_route_status(RouteStatusMode::slow(Duration::from_secs(2)));
    let t = Instant::now();
    m.run(&["shift", "reviews", "v1=50", "v3=50", "--wait", "--timeout", "10s"])
        .assert_code(0);
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
    let r = m.run(&["shift", "reviews", "v3=100", "--wait", "--timeout", "1s"]);
    r.assert_code(1);
    assert!(r.stderr.contains("error: not confirmed: no status for generation 3 of httproute istio-demo/reviews from istio.io/gateway-controller within 1s"), "{}", r.stderr);
    assert!(
        r.stderr.contains("PILOT_ENABLE_GATEWAY_API_STATUS") && r.stderr.contains("--to-revision 2"),
        "{}",
        r.stderr
    );
    let m = Mesh::bookinfo();
    m.server.set_route_status(RouteStatusMode::silent());
    let r = m.run(&[
        "shift",
        "reviews",
        "v3=100",
        "--wait",
        "--timeout",
        "1s",
        "--rollback-on-failure",
    ]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("not confirmed") && r.stdout.contains("rolled back to revision 1"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(m.default_backends("reviews"), pairs(&[("reviews-v1", 1)]));
}

#[test]
fn wait_polls_where_watching_is_forbidden() {
    let m = Mesh::bookinfo();
    m.server
        .inject(Fault::status(403, "watch is not allowed").path("watch=true").always());
    let r = m.run(&["shift", "reviews", "v3=100", "--wait", "--timeout", "20s"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("accepted by istio.io/gateway-controller"),
        "{}",
        r.stdout
    );
    assert!(m
        .server
        .requests()
        .iter()
        .any(|q| q.method == "GET" && q.path.ends_with("/httproutes/reviews")));
}

#[test]
fn route_user_and_undo_wait_too() {
    let m = Mesh::bookinfo();
    let r = m.run(&["route-user", "reviews", "vijay", "v2", "--wait"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("accepted by istio.io/gateway-controller (generation 2)"),
        "{}",
        r.stdout
    );
    let r = m.run(&["undo", "reviews", "--wait"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("rolled back to revision 1") && r.stdout.contains("(generation 3)"),
        "{}",
        r.stdout
    );
}

// ---------------------------------------------------------------------------------------------------------
// Progressive shift.

fn step_puts(m: &Mesh) -> usize {
    route_puts(m).len()
}

#[test]
fn dry_run_client_prints_the_steps_at_once() {
    let m = Mesh::bookinfo();
    m.run(&["shift", "reviews", "v1=50", "v2=50"]).assert_code(0);
    m.server.clear_log();
    let t = Instant::now();
    let r = m.run(&[
        "shift",
        "reviews",
        "v3=100",
        "--step",
        "25",
        "--interval",
        "1h",
        "--dry-run=client",
    ]);
    r.assert_code(0);
    assert!(t.elapsed() < Duration::from_secs(10), "did not wait the intervals");
    assert_eq!(
        r.stdout,
        "STEP      reviews-v1   reviews-v2   reviews-v3\n\
         0 (now)   50%          50%          -\n\
         1         38%          37%          25%\n\
         2         25%          25%          50%\n\
         3         13%          12%          75%\n\
         4         -            -            100%\n\
         (dry run) 4 steps, 1h apart; nothing was written\n"
    );
    let doc = m
        .run(&[
            "shift",
            "reviews",
            "v3=100",
            "--step",
            "50",
            "--dry-run=client",
            "-o",
            "json",
        ])
        .json();
    assert_eq!(
        doc["steps"][1],
        json!({"step": 1, "backends": [{"service": "reviews-v1", "weight": 25}, {"service": "reviews-v2", "weight": 25}, {"service": "reviews-v3", "weight": 50}]})
    );
    assert!(m.write_attempts().is_empty());
}

#[test]
fn progressive_shift_walks_in_steps_each_accepted() {
    let m = Mesh::bookinfo();
    let r = m.run(&["shift", "reviews", "v3=100", "--step", "50", "--interval", "0"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("configured in 2 steps, revisions 2–3"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("step 1/2: reviews-v1 50%, reviews-v3 50%"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("step 2/2: accepted by istio.io/gateway-controller"),
        "{}",
        r.stderr
    );
    let bodies: Vec<Value> = route_puts(&m)
        .iter()
        .map(|p| serde_json::from_str(p.body.as_ref().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["spec"]["rules"][0]["backendRefs"][1]["weight"], 50);
    let cmds: Vec<Value> = history_doc(&m.route("reviews"))["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["command"].clone())
        .collect();
    assert_eq!(
        cmds[1],
        "kubectl mesh shift reviews v3=100 --step 50 --interval 0 (step 1/2)"
    );
    assert_eq!(m.default_backends("reviews"), pairs(&[("reviews-v3", 100)]));
}

#[test]
fn progressive_shift_stops_when_v3_becomes_unready() {
    for rollback in [false, true] {
        let m = Mesh::bookinfo();
        let mut args = vec!["shift", "reviews", "v3=100", "--step", "25", "--interval", "1s"];
        if rollback {
            args.push("--rollback-on-failure");
        }
        let child = m
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        eventually("the step-2 write", Duration::from_secs(30), || step_puts(&m) >= 2);
        let mut d = m.server.get("deployments", Some("istio-demo"), "reviews-v3").unwrap();
        d["spec"]["replicas"] = json!(0);
        m.server.update(d).unwrap();
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        assert!(
            stderr.contains("step 3/4 not taken") && stderr.contains("\"reviews-v3\" has no ready endpoints"),
            "{stderr}"
        );
        assert!(
            stderr.contains("go back with: kubectl mesh undo reviews -n istio-demo --to-revision 1"),
            "{stderr}"
        );
        assert!(
            stderr.contains("resume with: kubectl mesh shift reviews v3=100 --step 25 -n istio-demo"),
            "{stderr}"
        );
        if rollback {
            assert_eq!(step_puts(&m), 3, "two steps and the rollback");
            assert!(stdout.contains("rolled back to the start"), "{stdout}");
            assert!(stderr.contains("stays at step 0/4: reviews-v1 100%"), "{stderr}");
            assert_eq!(m.default_backends("reviews"), pairs(&[("reviews-v1", 1)]));
        } else {
            assert_eq!(step_puts(&m), 2);
            assert!(
                stderr.contains("stays at step 2/4: reviews-v1 50%, reviews-v3 50%, revision 3"),
                "{stderr}"
            );
            assert_eq!(
                m.default_backends("reviews"),
                pairs(&[("reviews-v1", 50), ("reviews-v3", 50)])
            );
        }
    }
}

#[test]
fn a_rejected_step_is_reverted_to_the_last_accepted_one() {
    for rollback in [false, true] {
        let m = Mesh::bookinfo();
        m.server.set_route_status_for(
            "httproutes",
            "istio-demo",
            "reviews",
            RouteStatusMode::script(
                vec![
                    RouteVerdict::Accept,
                    RouteVerdict::Accept,
                    RouteVerdict::Reject {
                        condition: "ResolvedRefs".into(),
                        reason: "BackendNotFound".into(),
                        message: "backend(reviews-v3.istio-demo.svc.cluster.local) not found".into(),
                    },
                ],
                RouteVerdict::Accept,
            ),
        );
        let mut args = vec!["shift", "reviews", "v3=100", "--step", "25", "--interval", "0"];
        if rollback {
            args.push("--rollback-on-failure");
        }
        let r = m.run(&args);
        r.assert_code(1);
        assert!(r.stderr.contains("step 3/4: istio.io/gateway-controller rejected httproute istio-demo/reviews at generation 4: ResolvedRefs=False (BackendNotFound)"), "{}", r.stderr);
        assert!(
            r.stderr
                .contains("step 3/4 reverted to step 2/4 (reviews-v1 50%, reviews-v3 50%)"),
            "{}",
            r.stderr
        );
        let puts = step_puts(&m);
        if rollback {
            assert_eq!(puts, 5, "3 steps, the revert, the rollback");
            assert_eq!(m.default_backends("reviews"), pairs(&[("reviews-v1", 1)]));
        } else {
            assert_eq!(puts, 4, "3 steps and the revert");
            assert_eq!(
                m.default_backends("reviews"),
                pairs(&[("reviews-v1", 50), ("reviews-v3", 50)])
            );
        }
    }
    // Silent: not confirmed within --timeout, the same revert.
    let m = Mesh::bookinfo();
    m.server.set_route_status_for(
        "httproutes",
        "istio-demo",
        "reviews",
        RouteStatusMode::script(vec![RouteVerdict::Accept, RouteVerdict::Silent], RouteVerdict::Accept),
    );
    let r = m.run(&[
        "shift",
        "reviews",
        "v3=100",
        "--step",
        "50",
        "--interval",
        "0",
        "--timeout",
        "1s",
    ]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("step 2/2: not confirmed") && r.stderr.contains("reverted to step 1/2"),
        "{}",
        r.stderr
    );
    assert_eq!(
        m.default_backends("reviews"),
        pairs(&[("reviews-v1", 50), ("reviews-v3", 50)])
    );
}

fn kill(pid: u32, signal: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn sigint_midway_leaves_a_completed_step_and_exits_130() {
    let m = Mesh::bookinfo();
    let child = m
        .command(&["shift", "reviews", "v3=100", "--step", "25", "--interval", "30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("step 1 written and accepted", Duration::from_secs(30), || {
        step_puts(&m) == 1 && observed(&m.route("reviews")) >= 2
    });
    // Let the walk reach its 30 s interval, then interrupt it.
    std::thread::sleep(Duration::from_millis(300));
    let t = m.server.elapsed();
    kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let late: Vec<RequestRecord> = m
        .server
        .requests()
        .into_iter()
        .filter(|r| r.is_write() && r.started > t)
        .collect();
    assert!(late.is_empty(), "writes after the signal: {late:#?}");
    assert_eq!(
        m.default_backends("reviews"),
        pairs(&[("reviews-v1", 75), ("reviews-v3", 25)])
    );
    assert!(
        stderr.contains(
            "error: interrupted by SIGINT: httproute/reviews stays at step 1/4: reviews-v1 75%, reviews-v3 25%"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("go back with: kubectl mesh undo reviews -n istio-demo --to-revision 1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("resume with: kubectl mesh shift reviews v3=100 --step 25"),
        "{stderr}"
    );
}

#[test]
fn a_signal_during_a_slow_acceptance_writes_nothing_more() {
    let m = Mesh::bookinfo();
    m.server
        .set_route_status(RouteStatusMode::slow(Duration::from_secs(10)));
    let child = m
        .command(&[
            "shift",
            "reviews",
            "v3=100",
            "--step",
            "25",
            "--interval",
            "30s",
            "--timeout",
            "30s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("the step-1 write", Duration::from_secs(30), || step_puts(&m) >= 1);
    // Step 1 is written; its acceptance is 10 s away.
    std::thread::sleep(Duration::from_millis(300));
    let t = m.server.elapsed();
    kill(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("step 1/4 was written but not confirmed"), "{stderr}");
    let late: Vec<RequestRecord> = m
        .server
        .requests()
        .into_iter()
        .filter(|r| r.is_write() && r.started > t)
        .collect();
    assert!(late.is_empty(), "no revert after a signal: {late:#?}");
    assert_eq!(
        m.default_backends("reviews"),
        pairs(&[("reviews-v1", 75), ("reviews-v3", 25)]),
        "left at the written step"
    );
}

#[test]
fn sigterm_exit_code_is_143() {
    let m = Mesh::bookinfo();
    let child = m
        .command(&["shift", "reviews", "v3=100", "--step", "25", "--interval", "30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("step 1 accepted", Duration::from_secs(30), || {
        step_puts(&m) == 1 && observed(&m.route("reviews")) >= 2
    });
    std::thread::sleep(Duration::from_millis(300));
    kill(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted by SIGTERM"));
}

#[test]
fn a_signal_before_any_write_writes_nothing() {
    let m = Mesh::bookinfo();
    m.server
        .inject(Fault::delay(Duration::from_secs(3)).path("/pods").once());
    let child = m
        .command(&["shift", "reviews", "v3=100", "--step", "25", "--interval", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(m.write_attempts().is_empty(), "{:?}", m.write_attempts());
}

// ---------------------------------------------------------------------------------------------------------
// GitOps.

fn annotate(m: &Mesh, annotations: Value, labels: Value) {
    let mut r = m.route("reviews");
    r["metadata"]["annotations"] = annotations;
    r["metadata"]["labels"] = labels;
    m.server.update(r).unwrap();
    m.server.clear_log();
}

#[test]
fn gitops_managed_routes_are_refused_unless_forced() {
    let argo =
        json!({"argocd.argoproj.io/tracking-id": "bookinfo:gateway.networking.k8s.io/HTTPRoute:istio-demo/reviews"});
    let m = Mesh::bookinfo();
    annotate(&m, argo.clone(), json!({}));
    let r = m.run(&["shift", "reviews", "v3=100"]);
    r.assert_code(1);
    assert!(r.stderr.starts_with("error: HTTPRoute \"reviews\" is managed by Argo CD (application \"bookinfo\", annotation argocd.argoproj.io/tracking-id); its next sync reverts a change made here"), "{}", r.stderr);
    assert!(
        r.stderr.contains("--emit-patch") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    for args in [
        &["route-user", "reviews", "vijay", "v2"][..],
        &["shift", "reviews", "v3=100", "--step", "50"][..],
    ] {
        m.run(args).assert_code(1);
    }
    assert!(m.write_attempts().is_empty(), "{:?}", m.write_attempts());
    let r = m.run(&["shift", "reviews", "v3=100", "--force"]);
    r.assert_code(0);
    assert!(
        r.stderr
            .contains("warning: HTTPRoute \"reviews\" is managed by Argo CD"),
        "{}",
        r.stderr
    );
    // undo is refused too.
    m.server.clear_log();
    m.run(&["undo", "reviews"]).assert_code(1);
    assert!(m.write_attempts().is_empty());

    for labels in [
        json!({"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}),
        json!({"helm.toolkit.fluxcd.io/name": "bookinfo", "helm.toolkit.fluxcd.io/namespace": "apps"}),
    ] {
        let m = Mesh::bookinfo();
        annotate(&m, json!({}), labels.clone());
        let r = m.run(&["shift", "reviews", "v3=100"]);
        r.assert_code(1);
        assert!(r.stderr.contains("is managed by Flux"), "{labels}: {}", r.stderr);
        assert!(m.write_attempts().is_empty());
    }
    // Not proof, or switched off: written.
    for (annotations, labels) in [
        (
            json!({"argocd.argoproj.io/tracking-id": "bookinfo:gateway.networking.k8s.io/HTTPRoute:istio-demo/ratings"}),
            json!({}),
        ),
        (json!({}), json!({"app.kubernetes.io/instance": "bookinfo"})),
        (
            json!({"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}),
            json!({"kustomize.toolkit.fluxcd.io/name": "apps"}),
        ),
    ] {
        let m = Mesh::bookinfo();
        annotate(&m, annotations.clone(), labels.clone());
        m.run(&["shift", "reviews", "v3=100"]).assert_code(0);
    }
}

/// `kubectl patch --type merge` (the real kubectl) with `patch` on the reviews route.
fn kubectl_merge_patch(m: &Mesh, patch: &str) {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&m.kubeconfig)
        .args([
            "-n",
            "istio-demo",
            "patch",
            "httproute",
            "reviews",
            "--type",
            "merge",
            "-p",
            patch,
        ])
        .output()
        .expect("kubectl runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn kubectl_available() -> bool {
    std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn emit_patch_round_trips_to_what_shift_would_write() {
    if !kubectl_available() {
        assert!(std::env::var_os("CI").is_none(), "kubectl is required in CI");
        return;
    }
    let argo =
        json!({"argocd.argoproj.io/tracking-id": "bookinfo:gateway.networking.k8s.io/HTTPRoute:istio-demo/reviews"});
    let cases: &[&[&str]] = &[
        &["shift", "reviews", "v1=50", "v3=50"],
        &["route-user", "reviews", "vijay", "v2"],
        &["undo", "reviews"],
    ];
    for args in cases {
        let (gitops, twin) = (Mesh::bookinfo(), Mesh::bookinfo());
        for m in [&gitops, &twin] {
            // Something to undo, then the Argo CD marker.
            m.run(&["shift", "reviews", "v2=100"]).assert_code(0);
            let mut r = m.route("reviews");
            r["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] =
                argo["argocd.argoproj.io/tracking-id"].clone();
            m.server.update(r).unwrap();
            m.server.clear_log();
        }
        let mut with_patch = args.to_vec();
        with_patch.push("--emit-patch");
        let r = gitops.run(&with_patch);
        r.assert_code(0);
        assert!(
            r.stderr
                .contains("JSON merge patch for httproute istio-demo/reviews (managed by Argo CD"),
            "{}",
            r.stderr
        );
        let patch = r.json();
        assert_eq!(keys(&patch), set(&["spec"]), "{patch}");
        assert_eq!(
            keys(&patch["spec"]),
            set(&["rules"]),
            "the traffic change only: {patch}"
        );
        assert!(gitops.write_attempts().is_empty(), "--emit-patch writes nothing");
        let yaml = gitops.run(&[&with_patch[..], &["-o", "yaml"]].concat());
        yaml.assert_code(0);
        let from_yaml: Value = serde_saphyr::from_str(&yaml.stdout).unwrap();
        assert_eq!(from_yaml, patch);
        let history_before = gitops.route("reviews")["metadata"]["annotations"][HISTORY].clone();
        kubectl_merge_patch(&gitops, &patch.to_string());
        let mut forced = args.to_vec();
        forced.push("--force");
        twin.run(&forced).assert_code(0);
        assert_eq!(
            gitops.route("reviews")["spec"],
            twin.route("reviews")["spec"],
            "{args:?}"
        );
        assert_eq!(
            gitops.route("reviews")["metadata"]["annotations"][HISTORY],
            history_before,
            "no history in the patch"
        );
    }
    // A usage error with --wait, --step, --dry-run.
    let m = Mesh::bookinfo();
    for extra in [
        &["--wait"][..],
        &["--step", "25"],
        &["--dry-run=server"],
        &["--rollback-on-failure"],
    ] {
        let r = m.run(&[&["shift", "reviews", "v3=100", "--emit-patch"][..], extra].concat());
        r.assert_code(2);
    }
}

// ---------------------------------------------------------------------------------------------------------
// GRPCRoute.

#[test]
fn grpcroute_shift_and_user_rule() {
    let m = Mesh::with(bookinfo().grpc_echo());
    let r = m.run(&["shift", "grpc-echo", "v2=20", "--wait"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("grpcroute.gateway.networking.k8s.io/grpc-echo configured"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("grpcroute.gateway.networking.k8s.io/grpc-echo accepted by istio.io/gateway-controller"),
        "{}",
        r.stdout
    );
    let route = m.server.get("grpcroutes", Some("istio-demo"), "grpc-echo").unwrap();
    assert_eq!(
        route["spec"]["rules"][0]["backendRefs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["name"].as_str().unwrap(), b["weight"].as_u64().unwrap()))
            .collect::<Vec<_>>(),
        vec![("grpc-echo-v1", 80), ("grpc-echo-v2", 20)]
    );
    m.run(&["route-user", "grpc-echo", "jason", "v2"]).assert_code(0);
    let route = m.server.get("grpcroutes", Some("istio-demo"), "grpc-echo").unwrap();
    assert_eq!(
        route["spec"]["rules"][0]["matches"],
        json!([{"headers": [{"type": "Exact", "name": "end-user", "value": "jason"}]}])
    );
    assert_eq!(route["spec"]["rules"][0]["backendRefs"][0]["name"], "grpc-echo-v2");
    let again = m.run(&["route-user", "grpc-echo", "jason", "v2"]);
    again.assert_code(0);
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);
    // status: the KIND column and "kind" in JSON.
    let st = m.run(&["status", "grpc-echo"]);
    st.assert_code(0);
    assert!(
        st.stdout.contains("grpc-echo   GRPCRoute   end-user=jason"),
        "{}",
        st.stdout
    );
    let doc = m.run(&["status", "-o", "json"]).json();
    let kinds: BTreeSet<String> = doc["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, set(&["GRPCRoute", "HTTPRoute"]));
    // history and undo.
    let h = m.run(&["history", "grpc-echo", "-o", "json"]).json();
    assert_eq!(h["revisions"].as_array().unwrap().len(), 3);
    m.run(&["undo", "grpc-echo"]).assert_code(0);
    let route = m.server.get("grpcroutes", Some("istio-demo"), "grpc-echo").unwrap();
    assert_eq!(
        route["spec"]["rules"].as_array().unwrap().len(),
        1,
        "jason's rule undone: {route}"
    );

    // Both kinds attached: refused, naming both; --kind picks.
    m.server
        .load_yaml_in(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: grpc-echo-http\nspec:\n  parentRefs:\n  - {group: \"\", kind: Service, name: grpc-echo}\n  rules:\n  - backendRefs:\n    - {name: grpc-echo-v1, port: 9090}\n",
            Some("istio-demo"),
        )
        .unwrap();
    m.server.clear_log();
    let r = m.run(&["shift", "grpc-echo", "v2=50"]);
    r.assert_code(1);
    assert!(
        r.stderr
            .contains("has both HTTPRoutes (grpc-echo-http) and GRPCRoutes (grpc-echo)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--kind http or --kind grpc"), "{}", r.stderr);
    assert!(m.write_attempts().is_empty());
    m.run(&["shift", "grpc-echo", "v2=50", "--kind", "grpc"]).assert_code(0);
    let route = m.server.get("grpcroutes", Some("istio-demo"), "grpc-echo").unwrap();
    assert_eq!(route["spec"]["rules"][0]["backendRefs"][1]["weight"], 50);
}

#[test]
fn grpcroute_needs_gateway_api_v1_1() {
    let m = Mesh::bookinfo();
    let r = m.run(&["shift", "reviews", "v3=100", "--kind", "grpc"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("does not serve GRPCRoutes") && r.stderr.contains("v1.1.0"),
        "{}",
        r.stderr
    );
    assert!(m.write_attempts().is_empty());
    // Without --kind, HTTP as before.
    m.run(&["shift", "reviews", "v3=100"]).assert_code(0);
}

// ---------------------------------------------------------------------------------------------------------
// Output.

#[test]
fn json_and_yaml_output_hide_managed_fields_like_kubectl() {
    let m = Mesh::bookinfo();
    let r = m.run(&["shift", "reviews", "v1=50", "v3=50", "-o", "json"]);
    r.assert_code(0);
    assert!(r.json()["metadata"].get("managedFields").is_none(), "{}", r.stdout);
    let r = m.run(&["route-user", "reviews", "vijay", "v2", "-o", "yaml"]);
    r.assert_code(0);
    assert!(!r.stdout.contains("managedFields"), "{}", r.stdout);
    let r = m.run(&[
        "route-user",
        "reviews",
        "jason",
        "v3",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    r.assert_code(0);
    assert!(r.json()["metadata"]["managedFields"].is_array(), "{}", r.stdout);
}
