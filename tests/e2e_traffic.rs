//! Issue 17 against the real control plane (tests/common/controlplane.rs: kube-apiserver v1.37.2, etcd, the real
//! controllers, kwok; Gateway API v1.0.0 or v1.6.1 CRDs with their CEL rules and ValidatingAdmissionPolicy): the
//! traffic history written in the same request and bounded, undo restoring byte-identical rules, `--wait` with
//! rollback, a progressive shift stopped when v3 becomes unready, SIGINT to the process midway, GitOps refusal and
//! the `--emit-patch` round trip through `kubectl patch`, GRPCRoute under v1.6.1, and 409s from writers patching
//! many times a second, re-read with one GET.
//!
//! No Istio runs on the control plane: a [`FakeMesh`] thread plays istiod's status writer, as Istio writes route
//! status for a Service parent (`controllerName: istio.io/gateway-controller`, the spec parentRef echoed,
//! `Accepted`/`ResolvedRefs` with `observedGeneration`), through `kubectl patch --subresource=status`.

#[path = "common/controlplane.rs"]
mod controlplane;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::{app_yaml, controlplane, default_backends, pairs, route_yaml, ControlPlane, GatewayApi};
use serde_json::{json, Value};

const HISTORY: &str = "mesh.kubectl.io/history";

/// An injected app `name` with `versions` in a fresh namespace `ns`, each version ready behind its Service.
fn deploy_app(cp: &ControlPlane, ns: &str, name: &str, versions: &[&str]) {
    cp.namespace(ns, true);
    cp.apply_injected(ns, &app_yaml(name, versions, 1));
    for v in versions {
        cp.wait_available(ns, &format!("deployment/{name}-{v}"));
    }
    for v in versions {
        cp.wait_ready_endpoints(ns, &format!("{name}-{v}"), true);
    }
}

fn get(cp: &ControlPlane, ns: &str, kind: &str, name: &str) -> Value {
    cp.kubectl_json(&["-n", ns, "get", kind, name, "--show-managed-fields"])
}

fn history_doc(route: &Value) -> Value {
    serde_json::from_str(
        route["metadata"]["annotations"][HISTORY]
            .as_str()
            .expect("history annotation"),
    )
    .unwrap()
}

/// Requests with `method` answered `code` in a `-v 6` log.
fn requests(log: &str, method: &str, code: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(&format!(" {method} ")) || l.contains(&format!(": {method} ")))
        .filter(|l| l.contains(&format!(" {code} ")))
        .count()
}

// ---------------------------------------------------------------------------------------------------------
// A stand-in for istiod's route status writer.

#[derive(Clone, Debug)]
enum Verdict {
    Accept,
    Reject(&'static str, &'static str, &'static str),
    Silent,
}

/// Writes Istio-shaped status for one route's mesh parents, one verdict per new generation (the script, then
/// `then`), like istiod: a read-modify-write of `status.parents` (an atomic list) through the status subresource.
struct FakeMesh {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeMesh {
    fn start(
        cp: &'static ControlPlane,
        ns: &str,
        kind: &str,
        name: &str,
        script: Vec<Verdict>,
        then: Verdict,
    ) -> FakeMesh {
        let stop = Arc::new(AtomicBool::new(false));
        let (ns, kind, name) = (ns.to_string(), kind.to_string(), name.to_string());
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut handled = 0i64;
            let mut script = script.into_iter();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(150));
                let r = cp.kubectl(&["-n", &ns, "get", &kind, &name, "-o", "json"]);
                let Ok(route) = serde_json::from_str::<Value>(&r.stdout) else {
                    continue;
                };
                let generation = route["metadata"]["generation"].as_i64().unwrap_or(0);
                if generation <= handled {
                    continue;
                }
                handled = generation;
                let verdict = script.next().unwrap_or_else(|| then.clone());
                let (accepted, refs) = match &verdict {
                    Verdict::Silent => continue,
                    Verdict::Accept => (None, None),
                    Verdict::Reject(c, reason, message) if *c == "Accepted" => (Some((*reason, *message)), None),
                    Verdict::Reject(_, reason, message) => (None, Some((*reason, *message))),
                };
                let now = "2026-08-22T10:00:00Z";
                let cond = |ty: &str, failed: Option<(&str, &str)>, ok_reason: &str, ok_message: &str| match failed {
                    Some((reason, message)) => {
                        json!({"type": ty, "status": "False", "reason": reason, "message": message,
                        "observedGeneration": generation, "lastTransitionTime": now})
                    }
                    None => json!({"type": ty, "status": "True", "reason": ok_reason, "message": ok_message,
                        "observedGeneration": generation, "lastTransitionTime": now}),
                };
                let parents: Vec<Value> = route["spec"]["parentRefs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["group"] == "" && p["kind"] == "Service")
                    .map(|p| {
                        json!({"parentRef": p, "controllerName": "istio.io/gateway-controller", "conditions": [
                            cond("Accepted", accepted, "Accepted", "Route was valid"),
                            cond("ResolvedRefs", refs, "ResolvedRefs", "All references resolved")]})
                    })
                    .collect();
                let patch = json!({"status": {"parents": parents}}).to_string();
                cp.kubectl(&[
                    "-n",
                    &ns,
                    "patch",
                    &kind,
                    &name,
                    "--subresource=status",
                    "--type=merge",
                    "-p",
                    &patch,
                ]);
            }
        });
        FakeMesh {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeMesh {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------------------

/// Twelve shifts: each one PUT carrying the history (no extra request); then 10 entries, numbers 4..13, within
/// 16 KiB; `history -o json` in the issue's shape, the first entry the state kubectl apply made (its manager from
/// the real managedFields).
fn history_bounded(api: GatewayApi, ns: &str) {
    let Some(cp) = controlplane(api) else { return };
    deploy_app(cp, ns, "web", &["v1", "v2"]);
    cp.apply(ns, &route_yaml("web", "web-v1"));
    let splits = [["v1=70", "v2=30"], ["v1=30", "v2=70"]];
    for i in 0..12 {
        let r = cp.mesh(&["shift", "web", splits[i % 2][0], splits[i % 2][1], "-n", ns, "-v", "6"]);
        r.ok();
        assert_eq!(
            requests(&r.stderr, "PUT", "200"),
            1,
            "one write per change:\n{}",
            r.stderr
        );
        assert_eq!(
            requests(&r.stderr, "POST", "201") + requests(&r.stderr, "PATCH", "200"),
            0,
            "{}",
            r.stderr
        );
    }
    let route = get(cp, ns, "httproute", "web");
    let text = route["metadata"]["annotations"][HISTORY].as_str().unwrap();
    assert!(text.len() <= 16 * 1024);
    let doc = history_doc(&route);
    assert_eq!(doc["lastRevision"], 13);
    let numbers: Vec<u64> = doc["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (4..=13).collect::<Vec<_>>());
    let out = cp.mesh(&["history", "web", "-n", ns, "-o", "json"]);
    out.ok();
    let out = out.json();
    assert_eq!(out["route"], "web");
    let last = out["revisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["backends"],
        json!([{"service": "web-v1", "weight": 30}, {"service": "web-v2", "weight": 70}])
    );
    // -v and the connection flags are not part of the recorded command.
    assert_eq!(last["command"], format!("kubectl mesh shift web v1=30 v2=70 -n {ns}"));

    // The first write recorded the state kubectl apply made, with kubectl's manager from the real managedFields.
    let ns2 = format!("{ns}-first");
    deploy_app(cp, &ns2, "web", &["v1", "v2"]);
    cp.apply(&ns2, &route_yaml("web", "web-v1"));
    cp.mesh(&["shift", "web", "v2=100", "-n", &ns2]).ok();
    let first = cp.mesh(&["history", "web", "-n", &ns2, "-o", "json"]).json()["revisions"][0].clone();
    assert_eq!(first["revision"], 1);
    assert!(first["command"].is_null());
    assert!(
        first["manager"].as_str().is_some_and(|m| m.starts_with("kubectl")),
        "{first}"
    );
    assert!(first["time"].is_string(), "{first}");
}

#[test]
fn history_is_bounded_and_written_in_the_same_request_v1_0_0() {
    history_bounded(GatewayApi::V1_0_0, "e2e-hist-a");
}

#[test]
fn history_is_bounded_and_written_in_the_same_request_v1_6_1() {
    history_bounded(GatewayApi::V1_6_1, "e2e-hist-b");
}

/// undo puts back exactly the rules of a revision (the real server's defaulting included), undo twice toggles,
/// and the v1.6.1 CEL rules accept every restored route.
#[test]
fn undo_restores_byte_identical_rules() {
    let Some(cp) = controlplane(GatewayApi::V1_6_1) else {
        return;
    };
    let ns = "e2e-undo";
    deploy_app(cp, ns, "web", &["v1", "v2", "v3"]);
    cp.apply(
        ns,
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: web\nspec:\n  parentRefs:\n  - {group: \"\", kind: Service, name: web, port: 9080}\n  rules:\n  - matches:\n    - headers:\n      - {name: end-user, value: jason}\n    filters:\n    - type: RequestHeaderModifier\n      requestHeaderModifier:\n        set:\n        - {name: x-canary, value: \"1\"}\n    backendRefs:\n    - {name: web-v2, port: 9080}\n  - backendRefs:\n    - name: web-v1\n      port: 9080\n      filters:\n      - type: ResponseHeaderModifier\n        responseHeaderModifier:\n          remove: [x-debug]\n",
    );
    let rules = || serde_json::to_string(&get(cp, ns, "httproute", "web")["spec"]["rules"]).unwrap();
    let revision_1 = rules();
    cp.mesh(&["shift", "web", "v3=100", "-n", ns]).ok();
    cp.mesh(&["route-user", "web", "jason", "v3", "-n", ns]).ok();
    cp.mesh(&["route-user", "web", "vijay", "v2", "-n", ns]).ok();
    let latest = rules();
    cp.mesh(&["undo", "web", "--to-revision", "1", "-n", ns]).ok();
    assert_eq!(rules(), revision_1, "byte-identical as the server stores it");
    cp.mesh(&["undo", "web", "-n", ns]).ok();
    assert_eq!(rules(), latest);
    cp.mesh(&["undo", "web", "-n", ns]).ok();
    assert_eq!(rules(), revision_1);
    // Refusals write nothing.
    let rv = get(cp, ns, "httproute", "web")["metadata"]["resourceVersion"].clone();
    let r = cp.mesh(&["undo", "web", "--to-revision", "99", "-n", ns]);
    r.assert_code(1);
    assert!(r.stderr.contains("revision 99 not found"), "{}", r.stderr);
    cp.mesh(&["undo", "web", "--dry-run=server", "-n", ns]).ok();
    assert_eq!(get(cp, ns, "httproute", "web")["metadata"]["resourceVersion"], rv);
}

/// `--wait` against a controller that writes Istio's status: accepted; rejected → exit 1 with the undo command;
/// with `--rollback-on-failure` the previous split is back.
#[test]
fn wait_reads_the_mesh_controllers_verdict() {
    let Some(cp) = controlplane(GatewayApi::V1_6_1) else {
        return;
    };
    let ns = "e2e-wait";
    deploy_app(cp, ns, "web", &["v1", "v2"]);
    cp.apply(ns, &route_yaml("web", "web-v1"));
    let reject = Verdict::Reject(
        "ResolvedRefs",
        "BackendNotFound",
        "backend(web-v2.e2e-wait.svc.cluster.local) not found",
    );
    let mesh = {
        // Generation 1 (the route as applied) and 2 accepted, 3 and 4 rejected, the rest accepted.
        let mesh = FakeMesh::start(
            cp,
            ns,
            "httproute",
            "web",
            vec![Verdict::Accept, Verdict::Accept, reject.clone(), reject],
            Verdict::Accept,
        );
        cp.eventually("generation 1 judged", Duration::from_secs(30), || {
            get(cp, ns, "httproute", "web")["status"]["parents"][0]["conditions"][0]["observedGeneration"] == 1
        });
        mesh
    };
    let r = cp.mesh(&["shift", "web", "v2=50", "-n", ns, "--wait", "--timeout", "30s"]);
    r.ok();
    assert!(
        r.stdout
            .contains("accepted by istio.io/gateway-controller (generation 2)"),
        "{}",
        r.stdout
    );
    let r = cp.mesh(&["shift", "web", "v2=100", "-n", ns, "--wait", "--timeout", "30s"]);
    r.assert_code(1);
    assert!(
        r.stderr
            .contains("rejected httproute e2e-wait/web at generation 3: ResolvedRefs=False (BackendNotFound)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("kubectl mesh undo web -n {ns} --to-revision 2")),
        "{}",
        r.stderr
    );
    // The next write is rejected too; --rollback-on-failure puts revision 3 (v2=100) back.
    let r = cp.mesh(&[
        "shift",
        "web",
        "v1=100",
        "-n",
        ns,
        "--wait",
        "--timeout",
        "30s",
        "--rollback-on-failure",
    ]);
    r.assert_code(1);
    assert!(r.stdout.contains("rolled back to revision 3"), "{}", r.stdout);
    assert_eq!(
        default_backends(&get(cp, ns, "httproute", "web")),
        pairs(&[("web-v2", 100)])
    );
    drop(mesh);
    // A controller that never writes: not confirmed.
    let _silent = FakeMesh::start(cp, ns, "httproute", "web", vec![], Verdict::Silent);
    let r = cp.mesh(&["shift", "web", "v1=100", "-n", ns, "--wait", "--timeout", "3s"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("not confirmed: no status for generation"),
        "{}",
        r.stderr
    );
}

/// `shift v3=100 --step 25`: after step 2, v3 is scaled to 0 (the real EndpointSlice controller empties its
/// slice): step 3 is refused before writing, the route stays at step 2, exit 1 with the undo command.
#[test]
fn progressive_shift_stops_when_v3_becomes_unready() {
    let Some(cp) = controlplane(GatewayApi::V1_6_1) else {
        return;
    };
    let ns = "e2e-steps";
    deploy_app(cp, ns, "web", &["v1", "v3"]);
    cp.apply(ns, &route_yaml("web", "web-v1"));
    let _mesh = FakeMesh::start(cp, ns, "httproute", "web", vec![], Verdict::Accept);
    let child = Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"))
        .args([
            "shift",
            "web",
            "v3=100",
            "--step",
            "25",
            "--interval",
            "8s",
            "--timeout",
            "60s",
            "-n",
            ns,
            "-v",
            "6",
        ])
        .arg("--kubeconfig")
        .arg(&cp.kubeconfig)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    cp.eventually("step 2 written", Duration::from_secs(120), || {
        default_backends(&get(cp, ns, "httproute", "web")) == pairs(&[("web-v1", 50), ("web-v3", 50)])
    });
    cp.kubectl_ok(&["-n", ns, "scale", "deployment/web-v3", "--replicas=0"]);
    cp.wait_ready_endpoints(ns, "web-v3", false);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("step 3/4 not taken") && stderr.contains("\"web-v3\" has no ready endpoints"),
        "{stderr}"
    );
    assert!(stderr.contains("stays at step 2/4: web-v1 50%, web-v3 50%"), "{stderr}");
    assert!(
        stderr.contains(&format!("kubectl mesh undo web -n {ns} --to-revision 1")),
        "{stderr}"
    );
    assert_eq!(requests(&stderr, "PUT", "200"), 2, "{stderr}");
    assert_eq!(
        default_backends(&get(cp, ns, "httproute", "web")),
        pairs(&[("web-v1", 50), ("web-v3", 50)])
    );
}

/// SIGINT to the plugin during the interval after step 1: exit 130, the route left at step 1, no write after the
/// signal (the route's resourceVersion and the history do not move).
#[test]
fn sigint_midway_leaves_a_completed_step() {
    let Some(cp) = controlplane(GatewayApi::V1_6_1) else {
        return;
    };
    let ns = "e2e-sigint";
    deploy_app(cp, ns, "web", &["v1", "v3"]);
    cp.apply(ns, &route_yaml("web", "web-v1"));
    let _mesh = FakeMesh::start(cp, ns, "httproute", "web", vec![], Verdict::Accept);
    let child = Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"))
        .args([
            "shift",
            "web",
            "v3=100",
            "--step",
            "25",
            "--interval",
            "60s",
            "-n",
            ns,
            "-v",
            "6",
        ])
        .arg("--kubeconfig")
        .arg(&cp.kubeconfig)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    cp.eventually("step 1 written and accepted", Duration::from_secs(120), || {
        let r = get(cp, ns, "httproute", "web");
        default_backends(&r) == pairs(&[("web-v1", 75), ("web-v3", 25)])
            && r["status"]["parents"][0]["conditions"][0]["observedGeneration"] == r["metadata"]["generation"]
    });
    std::thread::sleep(Duration::from_secs(1));
    let before = get(cp, ns, "httproute", "web")["metadata"]["resourceVersion"].clone();
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped at once, not after the interval"
    );
    assert_eq!(requests(&stderr, "PUT", "200"), 1, "one step written:\n{stderr}");
    assert!(
        stderr.contains("interrupted by SIGINT") && stderr.contains("stays at step 1/4"),
        "{stderr}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let after = get(cp, ns, "httproute", "web");
    // Only the status writer may have touched it since: the spec and the history did not move.
    assert_eq!(default_backends(&after), pairs(&[("web-v1", 75), ("web-v3", 25)]));
    assert_eq!(history_doc(&after)["lastRevision"], 2);
    let _ = before;
}

/// An Argo CD tracking id naming the route: shift refused (nothing written); `--emit-patch` applied with real
/// `kubectl patch --type merge` gives exactly the spec `shift --force` would store (its server dry run), and no
/// history annotation.
#[test]
fn gitops_refusal_and_emit_patch_round_trip() {
    let Some(cp) = controlplane(GatewayApi::V1_6_1) else {
        return;
    };
    let ns = "e2e-gitops";
    deploy_app(cp, ns, "web", &["v1", "v2"]);
    cp.apply(ns, &route_yaml("web", "web-v1"));
    cp.kubectl_ok(&[
        "-n",
        ns,
        "annotate",
        "httproute",
        "web",
        &format!("argocd.argoproj.io/tracking-id=bookinfo:gateway.networking.k8s.io/HTTPRoute:{ns}/web"),
    ]);
    let rv = get(cp, ns, "httproute", "web")["metadata"]["resourceVersion"].clone();
    let r = cp.mesh(&["shift", "web", "v1=50", "v2=50", "-n", ns]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("is managed by Argo CD (application \"bookinfo\""),
        "{}",
        r.stderr
    );
    assert_eq!(
        get(cp, ns, "httproute", "web")["metadata"]["resourceVersion"],
        rv,
        "nothing written"
    );
    let want = cp.mesh(&[
        "shift",
        "web",
        "v1=50",
        "v2=50",
        "-n",
        ns,
        "--force",
        "--dry-run=server",
        "-o",
        "json",
    ]);
    want.ok();
    let patch = cp.mesh(&["shift", "web", "v1=50", "v2=50", "-n", ns, "--emit-patch"]);
    patch.ok();
    let p = patch.json();
    assert_eq!(p.as_object().unwrap().keys().collect::<Vec<_>>(), vec!["spec"], "{p}");
    cp.kubectl_ok(&[
        "-n",
        ns,
        "patch",
        "httproute",
        "web",
        "--type",
        "merge",
        "-p",
        &p.to_string(),
    ]);
    let got = get(cp, ns, "httproute", "web");
    assert_eq!(got["spec"], want.json()["spec"]);
    assert!(got["metadata"]["annotations"].get(HISTORY).is_none(), "{got}");
}

/// GRPCRoute under v1.6.1: shift finds the GRPCRoute by itself, route-user writes a gRPC header match (the real
/// CEL rules accept both), status says GRPCRoute; on v1.0.0 `--kind grpc` names v1.1.0.
#[test]
fn grpcroute_shift_and_user_rule() {
    if let Some(cp) = controlplane(GatewayApi::V1_6_1) {
        let ns = "e2e-grpc";
        cp.namespace(ns, true);
        let app = app_yaml("echo", &["v1", "v2"], 1).replace("name: http}", "name: grpc}");
        cp.apply_injected(ns, &app);
        for v in ["v1", "v2"] {
            cp.wait_available(ns, &format!("deployment/echo-{v}"));
            cp.wait_ready_endpoints(ns, &format!("echo-{v}"), true);
        }
        cp.apply(ns, "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata:\n  name: echo\nspec:\n  parentRefs:\n  - {group: \"\", kind: Service, name: echo, port: 9080}\n  rules:\n  - backendRefs:\n    - {name: echo-v1, port: 9080}\n");
        let _mesh = FakeMesh::start(cp, ns, "grpcroute", "echo", vec![], Verdict::Accept);
        let r = cp.mesh(&["shift", "echo", "v2=20", "-n", ns, "--wait", "--timeout", "30s"]);
        r.ok();
        assert!(
            r.stdout.contains("grpcroute.gateway.networking.k8s.io/echo configured"),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.contains("accepted by istio.io/gateway-controller"),
            "{}",
            r.stdout
        );
        cp.mesh(&["route-user", "echo", "jason", "v2", "-n", ns]).ok();
        let route = get(cp, ns, "grpcroute", "echo");
        assert_eq!(
            route["spec"]["rules"][0]["matches"][0]["headers"][0]["value"], "jason",
            "{route}"
        );
        assert_eq!(route["spec"]["rules"][0]["backendRefs"][0]["name"], "echo-v2");
        assert_eq!(
            default_backends(&json!({"spec": {"rules": [route["spec"]["rules"][1].clone()]}})),
            pairs(&[("echo-v1", 80), ("echo-v2", 20)])
        );
        let again = cp.mesh(&["route-user", "echo", "jason", "v2", "-n", ns]);
        again.ok();
        assert!(again.stdout.contains("unchanged"), "{}", again.stdout);
        let st = cp.mesh(&["status", "echo", "-n", ns, "-o", "json"]).json();
        assert_eq!(st["routes"][0]["kind"], "GRPCRoute", "{st}");
        cp.mesh(&["undo", "echo", "-n", ns]).ok();
        assert_eq!(
            get(cp, ns, "grpcroute", "echo")["spec"]["rules"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
    if let Some(cp) = controlplane(GatewayApi::V1_0_0) {
        let r = cp.mesh(&["shift", "reviews", "v3=100", "--kind", "grpc", "-n", "istio-demo"]);
        r.assert_code(1);
        assert!(
            r.stderr.contains("GRPCRoute") && r.stderr.contains("v1.1.0"),
            "{}",
            r.stderr
        );
    }
}

/// Four `kubectl patch` loops rewriting the route as fast as they can (about 10 patches a second here) while the
/// plugin shifts: every 409 is followed by one GET of the route (not the namespace's lists), and no shift gives up.
#[test]
fn conflicts_against_fast_writers_reread_only_the_route() {
    let Some(cp) = controlplane(GatewayApi::V1_6_1) else {
        return;
    };
    let ns = "e2e-race-fast";
    deploy_app(cp, ns, "web", &["v1", "v2"]);
    cp.apply(ns, &route_yaml("web", "web-v1"));
    let stop = Arc::new(AtomicBool::new(false));
    let patchers: Vec<_> = (0..4)
        .map(|w| {
            let stop = stop.clone();
            let kubeconfig = cp.kubeconfig.clone();
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let patch = format!(r#"{{"metadata":{{"annotations":{{"e2e/w{w}":"{n}"}}}}}}"#);
                    let _ = Command::new("kubectl")
                        .arg("--kubeconfig")
                        .arg(&kubeconfig)
                        .args(["-n", ns, "patch", "httproute", "web", "--type=merge", "-p", &patch])
                        .output();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let started = Instant::now();
    let (mut conflicts, mut rereads, mut runs) = (0, 0, 0);
    let mut windows = Vec::new();
    while runs < 10 && started.elapsed() < Duration::from_secs(120) {
        let split = if runs % 2 == 0 {
            ["v1=30", "v2=70"]
        } else {
            ["v1=70", "v2=30"]
        };
        let r = cp.mesh(&["shift", "web", split[0], split[1], "-n", ns, "-v", "6"]);
        assert!(
            !r.stderr.contains("kept changing"),
            "gave up against the fast writers:\n{}",
            r.stderr
        );
        r.ok();
        let lines: Vec<&str> = r.stderr.lines().filter(|l| l.contains(" milliseconds")).collect();
        for (i, l) in lines.iter().enumerate() {
            if l.contains("PUT ") && l.contains(" 409 ") {
                conflicts += 1;
                let next = lines.get(i + 1).copied().unwrap_or_default();
                assert!(
                    next.contains("GET ") && next.contains("/httproutes/web "),
                    "a 409 is followed by one GET of the route: {next}\n{}",
                    r.stderr
                );
                rereads += 1;
                if let Some(ms) = next
                    .split(" in ")
                    .nth(1)
                    .and_then(|t| t.split(' ').next())
                    .and_then(|t| t.parse::<u64>().ok())
                {
                    windows.push(ms);
                }
            }
        }
        runs += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let patches: u32 = patchers.into_iter().map(|p| p.join().unwrap()).sum();
    eprintln!(
        "{runs} shifts against {patches} patches in {:.0?}: {conflicts} conflicts, each re-read with one GET (durations ms: {windows:?})",
        started.elapsed()
    );
    assert_eq!(conflicts, rereads);
    assert!(runs >= 10, "{runs} runs");
}
