//! End-to-end suite against a real Kubernetes control plane: kube-apiserver, kube-controller-manager and
//! kube-scheduler v1.37.2, etcd v3.7.0 and kwok v0.8.0, built from their Go modules (e2e/controlplane/build.sh)
//! and started on 127.0.0.1 by e2e/controlplane/start.sh with the users' guide state: Gateway API v1.0.0 (or
//! v1.6.1) CRDs, istio-system with istiod and the root-cert ConfigMaps, Bookinfo with injected sidecars in
//! istio-demo, the per-version Services and the reviews route. No Istio control plane runs: nothing injects
//! sidecars (they are rendered into the manifests), nothing programs Gateways, no Envoy serves traffic; kwok
//! makes scheduled pods Running and Ready with IPs, so the real controllers (Deployments, ReplicaSets,
//! EndpointSlices, PodDisruptionBudgets, ServiceAccount tokens) do the rest.
//!
//! The control plane is started on first use (about 15 s) and stopped when this test binary exits. When its
//! binaries are not built the tests say they are skipped, unless MESH_REQUIRE_CONTROLPLANE=1 (CI): then they
//! fail. Each test works in a namespace of its own, except the seeds' flow (istio-demo, as in the guide).
//!
//! Tests that need real traffic through Envoy run only on a k3d cluster set up as in .github/workflows/e2e.yml,
//! when MESH_E2E_KUBECONFIG points at it (the `k3d_` tests at the end).

#[path = "common/controlplane.rs"]
mod controlplane;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use controlplane::{
    app_yaml, controlplane, default_backends, header_rules, pairs, route_yaml, ControlPlane, GatewayApi,
};
use serde_json::Value;

/// Backend names of the rules matching header `end-user: USER`.
fn user_backends(route: &Value, user: &str) -> Vec<Vec<String>> {
    header_rules(route, "end-user", user)
        .into_iter()
        .map(|b| b.into_iter().map(|(n, _)| n).collect())
        .collect()
}

fn route(cp: &ControlPlane, ns: &str, name: &str) -> Value {
    // kubectl hides managedFields unless asked.
    cp.kubectl_json(&["-n", ns, "get", "httproute", name, "--show-managed-fields"])
}

/// The managers recorded in the object's managedFields.
fn managers(obj: &Value) -> Vec<String> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|f| f["manager"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// An injected app `name` with `versions` in `ns`, available.
fn deploy_app(cp: &ControlPlane, ns: &str, name: &str, versions: &[&str], replicas: u32) {
    cp.apply_injected(ns, &app_yaml(name, versions, replicas));
    for v in versions {
        cp.wait_available(ns, &format!("deployment/{name}-{v}"));
    }
    // The EndpointSlice controller fills the per-version Services once the pods are Ready.
    for v in versions {
        cp.wait_ready_endpoints(ns, &format!("{name}-{v}"), true);
    }
}

// ---------------------------------------------------------------------------------------------------------
// The seeds' flow, through the plugin, each write validated and stored by the real API server.

fn seeds_flow(api: GatewayApi) {
    let Some(cp) = controlplane(api) else { return };
    let ns = "istio-demo";
    let get = || route(cp, ns, "reviews");
    let before = get();
    assert_eq!(default_backends(&before), pairs(&[("reviews-v1", 1)]), "{before}");
    // route-reviews-v1.yaml's parentRefs[].port: v1.0.0's schema has no such field (pruned), v1.6.1 keeps it.
    match api {
        GatewayApi::V1_0_0 => assert!(before["spec"]["parentRefs"][0]["port"].is_null(), "{before}"),
        GatewayApi::V1_6_1 => assert_eq!(before["spec"]["parentRefs"][0]["port"], 9080, "{before}"),
    }

    // 1. All traffic to v1 (the route already sends everything to v1: nothing to write, and it says so).
    let r = cp.mesh(&["shift", "reviews", "v1=100", "-n", ns]);
    r.ok();
    let after = get();
    assert_eq!(default_backends(&after).len(), 1, "{after}");
    assert_eq!(default_backends(&after)[0].0, "reviews-v1");

    // 2. vijay sees v2 (Feature 1a).
    let rv = get()["metadata"]["resourceVersion"].clone();
    cp.mesh(&["route-user", "reviews", "vijay", "v2", "-n", ns]).ok();
    let r2 = get();
    assert_ne!(r2["metadata"]["resourceVersion"], rv, "route-user wrote");
    assert_eq!(
        user_backends(&r2, "vijay"),
        vec![vec!["reviews-v2".to_string()]],
        "{r2}"
    );
    assert_eq!(default_backends(&r2)[0].0, "reviews-v1", "{r2}");
    assert!(managers(&r2).contains(&"kubectl-mesh".to_string()), "{r2}");
    // The user's rule comes before the catch-all rule (the server keeps rule order).
    let rules = r2["spec"]["rules"].as_array().unwrap();
    assert!(rules[0]["matches"][0]["headers"].is_array(), "{r2}");
    // Idempotent: a second run writes nothing.
    let rv2 = r2["metadata"]["resourceVersion"].clone();
    let again = cp.mesh(&["route-user", "reviews", "vijay", "v2", "-n", ns]);
    again.ok();
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);
    assert_eq!(get()["metadata"]["resourceVersion"], rv2);

    // 3. 50/50 between v1 and v3 (Feature 2, step 1); vijay's rule untouched.
    cp.mesh(&["shift", "reviews", "v1=50", "v3=50", "-n", ns]).ok();
    let r3 = get();
    assert_eq!(
        default_backends(&r3),
        pairs(&[("reviews-v1", 50), ("reviews-v3", 50)]),
        "{r3}"
    );
    assert_eq!(
        user_backends(&r3, "vijay"),
        vec![vec!["reviews-v2".to_string()]],
        "{r3}"
    );

    // 4. All to v3 (step 2).
    cp.mesh(&["shift", "reviews", "v3=100", "-n", ns]).ok();
    let r4 = get();
    let d = default_backends(&r4);
    assert_eq!(d.len(), 1, "{r4}");
    assert_eq!(d[0].0, "reviews-v3", "{r4}");
    assert_eq!(
        user_backends(&r4, "vijay"),
        vec![vec!["reviews-v2".to_string()]],
        "{r4}"
    );
    match api {
        GatewayApi::V1_0_0 => assert!(r4["spec"]["parentRefs"][0]["port"].is_null(), "{r4}"),
        GatewayApi::V1_6_1 => assert_eq!(r4["spec"]["parentRefs"][0]["port"], 9080, "the port survives: {r4}"),
    }

    // status reads the same from the real server (READY from the real EndpointSlices).
    let st = cp.mesh(&["status", "reviews", "-n", ns, "-o", "json"]);
    st.ok();
    let st = st.json();
    let rules = st["routes"][0]["rules"].as_array().unwrap();
    let last = rules.last().unwrap();
    assert_eq!(last["backends"][0]["service"], "reviews-v3", "{st}");
    assert_eq!(last["backends"][0]["readyEndpoints"], 1, "{st}");

    // Back to the guide's start, for whoever runs next: vijay's rule removed, all to v1.
    cp.mesh(&["route-user", "reviews", "vijay", "--remove", "-n", ns]).ok();
    cp.mesh(&["shift", "reviews", "v1=100", "-n", ns]).ok();
    let end = get();
    assert!(header_rules(&end, "end-user", "vijay").is_empty(), "{end}");
    assert_eq!(default_backends(&end)[0].0, "reviews-v1");
}

#[test]
fn seeds_flow_under_gateway_api_v1_0_0() {
    seeds_flow(GatewayApi::V1_0_0);
}

#[test]
fn seeds_flow_under_gateway_api_v1_6_1() {
    seeds_flow(GatewayApi::V1_6_1);
}

/// On v1.6.1 a new route gets `parentRefs[].port` (the served schema has it) and the real server's CEL rules
/// accept what the plugin writes; on v1.0.0 the port is left out (the schema would prune it).
#[test]
fn a_new_route_matches_the_served_schema() {
    for api in [GatewayApi::V1_0_0, GatewayApi::V1_6_1] {
        let Some(cp) = controlplane(api) else { return };
        let ns = "e2e-newroute";
        cp.namespace(ns, true);
        deploy_app(cp, ns, "web", &["v1", "v2"], 1);
        cp.mesh(&["shift", "web", "v1=90", "v2=10", "-n", ns]).ok();
        let r = route(cp, ns, "web");
        assert_eq!(default_backends(&r), pairs(&[("web-v1", 90), ("web-v2", 10)]), "{r}");
        let parent = &r["spec"]["parentRefs"][0];
        assert_eq!(parent["kind"], "Service", "{r}");
        assert_eq!(parent["group"], "", "{r}");
        match api {
            GatewayApi::V1_0_0 => assert!(parent["port"].is_null(), "{r}"),
            GatewayApi::V1_6_1 => assert_eq!(parent["port"], 9080, "{r}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Writes: optimistic concurrency against a real concurrent writer, server-side dry-run.

/// A concurrent writer: kubectl patches the route over and over (each patch adds its own annotation) while the
/// plugin shifts weights. The plugin's PUTs carry the resourceVersion they read; the real server answers 409
/// when a patch got in between; the plugin re-reads, re-plans and writes again. A run that meets 5 conflicts
/// touching the traffic gives up with a clear error and writes nothing (documented); these annotation-only patches
/// are retried without counting, up to 50 writes. In the end every kubectl patch and the
/// plugin's last split are all in the stored route: nobody's change is lost.
#[test]
fn shift_retries_409s_against_concurrent_kubectl_patches() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-race";
    cp.namespace(ns, true);
    deploy_app(cp, ns, "web", &["v1", "v2"], 1);
    cp.apply(ns, &route_yaml("web", "web-v1"));

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let patcher = {
        let stop = stop.clone();
        let kubeconfig = cp.kubeconfig.clone();
        std::thread::spawn(move || {
            let mut done = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && done < 600 {
                let patch = format!(r#"{{"metadata":{{"annotations":{{"e2e/patch-{done}":"x"}}}}}}"#);
                let out = Command::new("kubectl")
                    .arg("--kubeconfig")
                    .arg(&kubeconfig)
                    .args(["-n", ns, "patch", "httproute", "web", "--type=merge", "-p", &patch])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                done += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            done
        })
    };

    let splits = [("v1=30", "v2=70"), ("v1=70", "v2=30")];
    let (mut conflicts, mut retried_ok, mut storms, mut runs) = (0, 0, 0, 0);
    let started = Instant::now();
    while (retried_ok == 0 || runs < 6) && runs < 40 && started.elapsed() < Duration::from_secs(180) {
        let split = splits[runs % 2];
        let r = cp.mesh(&["shift", "web", split.0, split.1, "-n", ns, "-v", "6"]);
        let retried = r.stderr.matches("changed while we wrote it").count();
        let refused = r
            .stderr
            .lines()
            .filter(|l| l.contains("PUT ") && l.contains(" 409 "))
            .count();
        assert_eq!(retried, refused, "every 409 is followed by a re-read:\n{}", r.stderr);
        conflicts += refused;
        match r.code {
            0 if retried > 0 => retried_ok += 1,
            0 => {}
            1 if r.stderr.contains("kept changing") => storms += 1,
            _ => panic!("shift failed:\n{}", r.stderr),
        }
        runs += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let patches = patcher.join().unwrap();
    eprintln!("{runs} shifts against {patches} patches: {conflicts} conflicts, {retried_ok} runs retried and wrote, {storms} gave up");
    assert!(
        retried_ok > 0,
        "no shift met a 409 and then wrote ({runs} runs): the race never happened"
    );

    // The writer has stopped: the last split is written, and every patch is still there.
    let last = splits[runs % 2];
    cp.mesh(&["shift", "web", last.0, last.1, "-n", ns]).ok();
    let r = route(cp, ns, "web");
    let annotations = r["metadata"]["annotations"].as_object().unwrap();
    for i in 0..patches {
        assert!(
            annotations.contains_key(&format!("e2e/patch-{i}")),
            "kubectl's patch {i} was lost"
        );
    }
    let want: Vec<(String, i64)> = [last.0, last.1]
        .iter()
        .map(|s| {
            let (v, p) = s.split_once('=').unwrap();
            (format!("web-{v}"), p.parse().unwrap())
        })
        .collect();
    assert_eq!(default_backends(&r), want, "the plugin's last split: {r}");
}

/// `--dry-run=server`: the real server validates and defaults the route and stores nothing; the output is the
/// route as the server would have stored it (matches, group, kind and weights defaulted).
#[test]
fn dry_run_server_stores_nothing_and_shows_the_defaulted_route() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-dryrun";
    cp.namespace(ns, true);
    deploy_app(cp, ns, "web", &["v1", "v2"], 1);

    // No route yet: the create is a dry run.
    let r = cp.mesh(&[
        "shift",
        "web",
        "v1=80",
        "v2=20",
        "-n",
        ns,
        "--dry-run=server",
        "-o",
        "json",
    ]);
    r.ok();
    let shown = r.json();
    assert_eq!(
        default_backends(&shown),
        pairs(&[("web-v1", 80), ("web-v2", 20)]),
        "{shown}"
    );
    let rule = &shown["spec"]["rules"][0];
    assert_eq!(
        rule["matches"][0]["path"]["type"], "PathPrefix",
        "server defaulting shown: {shown}"
    );
    assert_eq!(rule["matches"][0]["path"]["value"], "/", "{shown}");
    assert_eq!(rule["backendRefs"][0]["kind"], "Service", "{shown}");
    assert_eq!(rule["backendRefs"][0]["group"], "", "{shown}");
    assert!(
        shown["metadata"]["uid"].is_string(),
        "the server's answer, not a local rendering: {shown}"
    );
    let get = cp.kubectl(&["-n", ns, "get", "httproute", "web"]);
    assert_ne!(get.code, 0, "a dry-run create stored a route: {}", get.stdout);
    assert!(
        get.stderr.contains("NotFound") || get.stderr.contains("not found"),
        "{}",
        get.stderr
    );

    // An existing route: neither its spec nor its resourceVersion change.
    cp.apply(ns, &route_yaml("web", "web-v1"));
    let before = route(cp, ns, "web");
    let r = cp.mesh(&["shift", "web", "v2=100", "-n", ns, "--dry-run=server", "-o", "json"]);
    r.ok();
    assert_eq!(default_backends(&r.json()), pairs(&[("web-v2", 100)]), "{}", r.stdout);
    let after = route(cp, ns, "web");
    assert_eq!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
    assert_eq!(after["spec"], before["spec"]);
}

// ---------------------------------------------------------------------------------------------------------
// doctor and recover on real controllers.

/// The guide's state is healthy: doctor has nothing to report in istio-demo (every check ok or skipped for a
/// reason that is not a permission), on real EndpointSlices, defaulted routes and server-written fields.
#[test]
fn doctor_finds_nothing_wrong_in_the_guide_state() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let r = cp.mesh(&["doctor", "-n", "istio-demo", "-o", "json"]);
    let report = r.json();
    let bad: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "ok" && c["status"] != "skipped")
        .collect();
    assert!(bad.is_empty(), "doctor reports problems on a healthy cluster: {bad:#?}");
    r.ok();
    let status = |id: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    for id in [
        "api-access",
        "gateway-api-crds",
        "istiod-ready",
        "stale-sidecar-cert",
        "sidecar-missing",
        "root-cert-mismatch",
    ] {
        assert_eq!(status(id).as_deref(), Some("ok"), "{id}: {report}");
    }
    let crds = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "gateway-api-crds")
        .unwrap();
    assert!(crds["message"].as_str().unwrap().contains("v1.0.0"), "{crds}");
}

/// A root rotation after some sidecars started, and a workload without sidecars in an injected namespace:
/// doctor names exactly those pods, and no others.
#[test]
fn doctor_names_exactly_the_stale_and_the_sidecarless_pods() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-doctor";
    cp.namespace(ns, true);
    deploy_app(cp, ns, "old", &["v1"], 2);
    // Without sidecars (as if created before the namespace was labelled).
    cp.apply(ns, &app_yaml("bare", &["v1"], 1));
    cp.wait_available(ns, "deployment/bare-v1");
    cp.rotate_root(ns);
    deploy_app(cp, ns, "new", &["v1"], 1);

    let stale_pods = cp.pods(ns, "app=old");
    let bare_pods = cp.pods(ns, "app=bare");
    assert_eq!(stale_pods.len(), 2);
    let r = cp.mesh(&[
        "doctor",
        "-n",
        ns,
        "--check",
        "stale-sidecar-cert",
        "--check",
        "sidecar-missing",
        "-o",
        "json",
    ]);
    r.assert_code(1);
    let report = r.json();
    let named = |id: &str| -> Vec<String> {
        let mut v: Vec<String> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["id"] == id && c["status"] == "error")
            .flat_map(|c| c["resources"].as_array().unwrap().iter())
            .filter(|r| r["kind"] == "Pod")
            .map(|r| {
                assert_eq!(r["namespace"], ns);
                r["name"].as_str().unwrap().to_string()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(named("stale-sidecar-cert"), stale_pods, "{report}");
    assert_eq!(named("sidecar-missing"), bare_pods, "{report}");
}

/// recover restarts the stale Deployment with kubectl's restartedAt patch; the real Deployment controller
/// makes a new ReplicaSet and replaces the pods; `--wait` returns only once the rollout is complete; doctor is
/// then clean.
#[test]
fn recover_restart_rolls_out_a_new_replicaset_and_wait_follows_it() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-recover";
    cp.namespace(ns, true);
    deploy_app(cp, ns, "web", &["v1"], 3);
    let old_pods = cp.pods(ns, "app=web");
    let old_rs: Vec<String> = cp.kubectl_json(&["-n", ns, "get", "rs", "-l", "app=web"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(old_rs.len(), 1);
    cp.rotate_root(ns);

    let r = cp.mesh(&["recover", "-n", ns, "--yes", "--wait", "--timeout", "3m"]);
    r.ok();
    assert!(r.stdout.contains("web-v1"), "{}", r.stdout);

    // Right after --wait: the rollout is complete (kubectl's rules), the old pods are gone.
    let d = cp.kubectl_json(&["-n", ns, "get", "deployment", "web-v1"]);
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string(),
        "{d}"
    );
    assert!(
        d["status"]["observedGeneration"].as_i64() >= d["metadata"]["generation"].as_i64(),
        "{d}"
    );
    assert_eq!(d["status"]["updatedReplicas"], 3, "{d}");
    assert_eq!(d["status"]["replicas"], 3, "old pods still counted: {d}");
    assert_eq!(d["status"]["availableReplicas"], 3, "{d}");
    let rs = cp.kubectl_json(&["-n", ns, "get", "rs", "-l", "app=web"]);
    let items = rs["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "a new ReplicaSet: {rs}");
    let new_rs = items
        .iter()
        .find(|r| !old_rs.contains(&r["metadata"]["name"].as_str().unwrap().to_string()))
        .unwrap();
    assert_eq!(new_rs["status"]["readyReplicas"], 3, "{new_rs}");
    let new_pods = cp.pods(ns, "app=web");
    assert_eq!(new_pods.len(), 3, "{new_pods:?}");
    assert!(
        new_pods.iter().all(|p| !old_pods.contains(p)),
        "{old_pods:?} -> {new_pods:?}"
    );
    let rs_name = new_rs["metadata"]["name"].as_str().unwrap();
    assert!(
        new_pods.iter().all(|p| p.starts_with(rs_name)),
        "{new_pods:?} from {rs_name}"
    );

    let again = cp.mesh(&["doctor", "-n", ns, "--check", "stale-sidecar-cert", "-o", "json"]);
    again.ok();
    // And recover has nothing left to do.
    let r = cp.mesh(&["recover", "-n", ns, "--yes"]);
    r.ok();
    assert!(r.stdout.to_lowercase().contains("nothing to recover"), "{}", r.stdout);
}

/// Eviction requests for solo-1 answered with `code`, from the plugin's `-v 6` request log.
fn evictions(log: &str, code: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("POST ") && l.contains("/pods/solo-1/eviction") && l.contains(&format!(" {code} ")))
        .count()
}

/// A bare stale pod is evicted (policy/v1). A real PodDisruptionBudget that allows no disruption makes the
/// server answer 429; recover retries until the budget allows it (a second pod becomes ready), never forces.
/// With no relief before --timeout, it reports the failure and the pod stays.
#[test]
fn recover_eviction_refused_by_a_pod_disruption_budget_is_retried() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-evict";
    cp.namespace(ns, true);
    let pod = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: solo}}\nspec:\n  containers:\n  - name: solo\n    image: docker.io/istio/examples-bookinfo-ratings-v1:1.20.3\n"
        )
    };
    cp.apply_injected(ns, &pod("solo-1"));
    cp.apply(
        ns,
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: solo\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels: {app: solo}\n",
    );
    cp.kubectl_ok(&["-n", ns, "wait", "--for=condition=Ready", "pod/solo-1", "--timeout=60s"]);
    cp.eventually("the budget observed solo-1", Duration::from_secs(30), || {
        let pdb = cp.kubectl_json(&["-n", ns, "get", "pdb", "solo"]);
        pdb["status"]["currentHealthy"] == 1 && pdb["status"]["disruptionsAllowed"] == 0
    });
    cp.rotate_root(ns);

    // No relief: refused (429) until the timeout, reported, the pod untouched.
    let r = cp.mesh(&["recover", "-n", ns, "--yes", "--timeout", "4s", "-v", "6"]);
    r.assert_code(1);
    assert!(evictions(&r.stderr, "429") >= 1, "{}", r.stderr);
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("PodDisruptionBudget"),
        "the failure names the budget:\n{}{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(cp.pods(ns, "app=solo"), vec!["solo-1".to_string()]);

    // Relief arrives while recover retries: a second pod becomes ready, the budget allows one disruption.
    let kubeconfig = cp.kubeconfig.clone();
    let second = pod("solo-2");
    let inject = controlplane::script("inject.sh");
    let helper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c"])
            .arg(format!(
                "bash {} -n {ns} - <<'EOF' | kubectl apply -n {ns} -f -\n{second}\nEOF",
                inject.display()
            ))
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    });
    let r = cp.mesh(&["recover", "-n", ns, "--yes", "--timeout", "90s", "-v", "6"]);
    helper.join().unwrap();
    r.ok();
    assert!(evictions(&r.stderr, "429") >= 1, "refused first:\n{}", r.stderr);
    assert_eq!(evictions(&r.stderr, "201"), 1, "then evicted:\n{}", r.stderr);
    cp.eventually("solo-1 gone", Duration::from_secs(30), || {
        cp.pods(ns, "app=solo") == vec!["solo-2".to_string()]
    });
}

// ---------------------------------------------------------------------------------------------------------
// RBAC: the roles in deploy/rbac/, bound to ServiceAccounts, the plugin run with their tokens.

#[test]
fn rbac_roles_bound_to_service_accounts() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-rbac";
    cp.namespace(ns, true);
    deploy_app(cp, ns, "web", &["v1", "v2"], 1);
    cp.apply(ns, &route_yaml("web", "web-v1"));
    let rbac = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac");
    for f in [
        "doctor-clusterrole.yaml",
        "doctor-deep-clusterrole.yaml",
        "recover-clusterrole.yaml",
    ] {
        cp.kubectl_ok(&["apply", "-f", rbac.join(f).to_str().unwrap()]);
    }
    cp.kubectl_ok(&[
        "apply",
        "-n",
        ns,
        "-f",
        rbac.join("traffic-role.yaml").to_str().unwrap(),
    ]);
    for sa in ["doctor", "deep", "recover", "traffic"] {
        cp.kubectl_ok(&["-n", ns, "create", "serviceaccount", sa]);
    }
    let bind_cluster = |name: &str, role: &str, sa: &str| {
        cp.kubectl_ok(&[
            "create",
            "clusterrolebinding",
            name,
            "--clusterrole",
            role,
            "--serviceaccount",
            &format!("{ns}:{sa}"),
        ]);
    };
    bind_cluster("e2e-rbac-doctor", "kubectl-mesh-doctor", "doctor");
    bind_cluster("e2e-rbac-deep", "kubectl-mesh-doctor", "deep");
    bind_cluster("e2e-rbac-deep-pf", "kubectl-mesh-doctor-deep", "deep");
    bind_cluster("e2e-rbac-recover", "kubectl-mesh-recover", "recover");
    cp.kubectl_ok(&[
        "-n",
        ns,
        "create",
        "rolebinding",
        "traffic",
        "--role",
        "kubectl-mesh-traffic",
        "--serviceaccount",
        &format!("{ns}:traffic"),
    ]);

    let doctor = cp.token_kubeconfig(ns, "doctor");
    // doctor under the doctor role: every LIST allowed, nothing skipped for a permission, no 403 anywhere.
    for scope in [vec!["-n", ns], vec!["-n", "istio-demo"], vec!["-A"]] {
        let mut args = vec!["doctor", "-o", "json", "-v", "6"];
        args.extend(scope.iter().copied());
        let r = cp.mesh_as(&doctor, &args);
        assert!(
            !r.stderr.contains(" 403 "),
            "a forbidden request under the doctor role:\n{}",
            r.stderr
        );
        let report = r.json();
        for c in report["checks"].as_array().unwrap() {
            let msg = c["message"].as_str().unwrap_or_default();
            assert!(
                !(c["status"] == "skipped" && msg.contains("needs ")),
                "skipped for a permission under the doctor role: {c}"
            );
        }
    }
    let st = cp.mesh_as(&doctor, &["status", "-n", ns, "-o", "json", "-v", "6"]);
    st.ok();
    assert!(!st.stderr.contains(" 403 "), "{}", st.stderr);
    // --deep under the plain doctor role: the port-forward check is skipped and names the permission.
    let deep = cp.mesh_as(
        &doctor,
        &[
            "doctor",
            "-n",
            ns,
            "--deep",
            "--check",
            "stale-sidecar-cert-deep",
            "-o",
            "json",
        ],
    );
    let report = deep.json();
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "skipped" && c["message"].as_str().unwrap().contains("pods/portforward")),
        "{report}"
    );

    // shift under the doctor role: a clear forbidden error, nothing written.
    let before = route(cp, ns, "web");
    let r = cp.mesh_as(&doctor, &["shift", "web", "v2=100", "-n", ns]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.starts_with("error: ") || r.stderr.contains("\nerror: "),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("forbidden") || r.stderr.contains("Forbidden"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    let after = route(cp, ns, "web");
    assert_eq!(
        after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"],
        "nothing written"
    );

    // The traffic Role (namespaced) is enough for shift and route-user in its namespace, not elsewhere.
    let traffic = cp.token_kubeconfig(ns, "traffic");
    cp.mesh_as(&traffic, &["shift", "web", "v1=50", "v2=50", "-n", ns]).ok();
    assert_eq!(
        default_backends(&route(cp, ns, "web")),
        pairs(&[("web-v1", 50), ("web-v2", 50)])
    );
    cp.mesh_as(&traffic, &["route-user", "web", "vijay", "v2", "-n", ns])
        .ok();
    let r = cp.mesh_as(&traffic, &["shift", "reviews", "v3=100", "-n", "istio-demo"]);
    assert_ne!(r.code, 0, "the Role is bound in {ns} only");
    assert!(
        r.stderr.contains("forbidden") || r.stderr.contains("Forbidden"),
        "{}",
        r.stderr
    );

    // The recover role passes recover's own permission preflight and the server's dry run.
    cp.rotate_root(ns);
    let recover = cp.token_kubeconfig(ns, "recover");
    let r = cp.mesh_as(&recover, &["recover", "-n", ns, "--yes", "--dry-run=server", "-v", "6"]);
    r.ok();
    assert!(!r.stderr.contains(" 403 "), "{}", r.stderr);
    assert!(
        r.stdout.contains("web-v1") && r.stdout.contains("web-v2"),
        "{}",
        r.stdout
    );
    // recover under the doctor role stops before any write, naming the permission.
    let r = cp.mesh_as(&doctor, &["recover", "-n", ns, "--yes", "-v", "6"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("patch"), "names the missing permission: {}", r.stderr);
    assert!(!r.stderr.contains("PATCH "), "no write attempted: {}", r.stderr);

    // The deep role: the port-forward permission checks pass, so the check is not skipped. (The fake nodes
    // have no kubelet: the admins cannot be read, which doctor reports as a warning per pod.)
    let deep = cp.token_kubeconfig(ns, "deep");
    let r = cp.mesh_as(
        &deep,
        &[
            "doctor",
            "-n",
            ns,
            "--deep",
            "--check",
            "stale-sidecar-cert-deep",
            "-o",
            "json",
        ],
    );
    let report = r.json();
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] != "skipped"),
        "{report}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Pagination: more objects than one page (the plugin asks for 500 per page).

#[test]
fn lists_longer_than_a_page_are_read_whole() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-pages";
    cp.namespace(ns, true);
    deploy_app(cp, ns, "web", &["v1"], 1);
    // 1,100 headless Services: three pages of 500. The route's backend sorts last, on the third page.
    let mut list = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 0..1100 {
        list.push_str(&format!(
            "- apiVersion: v1\n  kind: Service\n  metadata: {{name: filler-{i:04}}}\n  spec: {{clusterIP: None, ports: [{{port: 80}}], selector: {{app: none}}}}\n"
        ));
    }
    let file = cp.dir.join("e2e-pages-services.yaml");
    std::fs::write(&file, list).unwrap();
    cp.kubectl_ok(&["-n", ns, "create", "-f", file.to_str().unwrap()]);
    cp.apply(
        ns,
        "apiVersion: v1\nkind: Service\nmetadata: {name: zz-last}\nspec: {ports: [{port: 9080}], selector: {app: web}}\n",
    );
    cp.apply(ns, &route_yaml("web", "zz-last"));

    let r = cp.mesh(&[
        "doctor",
        "-n",
        ns,
        "--check",
        "route-backend-missing",
        "-o",
        "json",
        "-v",
        "6",
    ]);
    r.ok();
    let services: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains(&format!("/namespaces/{ns}/services?")))
        .collect();
    assert_eq!(services.len(), 3, "three pages:\n{}", services.join("\n"));
    assert!(services.iter().all(|l| l.contains("limit=500")), "{services:?}");
    assert_eq!(
        services.iter().filter(|l| l.contains("continue=")).count(),
        2,
        "{services:?}"
    );
    let report = r.json();
    assert_eq!(
        report["checks"][0]["status"], "ok",
        "zz-last (page 3) was found: {report}"
    );

    // status and shift read the same lists: the backend on the last page is seen.
    let st = cp.mesh(&["status", "web", "-n", ns, "-o", "json"]);
    st.ok();
    assert_eq!(st.json()["routes"][0]["rules"][0]["backends"][0]["service"], "zz-last");
}

// ---------------------------------------------------------------------------------------------------------
// A real k3d cluster with Istio (traffic through Envoy): only with MESH_E2E_KUBECONFIG.

fn k3d_kubeconfig() -> Option<String> {
    match std::env::var("MESH_E2E_KUBECONFIG") {
        Ok(k) if !k.is_empty() => Some(k),
        _ => {
            eprintln!(
                "skipping k3d test: set MESH_E2E_KUBECONFIG to a k3d cluster set up as in .github/workflows/e2e.yml"
            );
            None
        }
    }
}

fn k3d_mesh(kc: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"))
        .args(args)
        .args(["--kubeconfig", kc, "-n", "istio-demo", "--request-timeout", "30s"])
        .output()
        .unwrap();
    eprintln!(
        "$ kubectl mesh {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn k3d_kubectl(kc: &str, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .args(["--kubeconfig", kc, "-n", "istio-demo"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Ask reviews directly from inside the mesh (from the ratings pod), as productpage would.
fn reviews_color(kc: &str, user: Option<&str>) -> String {
    let mut args = vec!["exec", "deploy/ratings-v1", "-c", "ratings", "--", "curl", "-s"];
    let header;
    if let Some(u) = user {
        header = format!("end-user: {u}");
        args.extend(["-H", &header]);
    }
    args.push("http://reviews:9080/reviews/0");
    let body = k3d_kubectl(kc, &args);
    if body.contains("\"color\": \"red\"") || body.contains("\"color\":\"red\"") {
        "red".into()
    } else if body.contains("black") {
        "black".into()
    } else {
        "none".into()
    }
}

#[test]
fn k3d_guide_flow_routes_real_traffic() {
    let Some(kc) = k3d_kubeconfig() else { return };
    let kc = kc.as_str();

    let out = k3d_mesh(kc, &["version", "-o", "json"]);
    assert!(out.status.success());

    let out = k3d_mesh(kc, &["doctor", "-o", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let status_of = |id: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["status"].clone())
    };
    assert_eq!(status_of("gateway-api-crds"), Some(Value::from("ok")));
    assert_eq!(status_of("istiod-ready"), Some(Value::from("ok")));

    // Feature 2 of the guide: 50/50, then all to v3.
    assert!(k3d_mesh(kc, &["shift", "reviews", "v1=50", "v3=50"]).status.success());
    let out = k3d_mesh(kc, &["status", "reviews", "-o", "json"]);
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    let backends = st["routes"][0]["rules"].as_array().unwrap().last().unwrap()["backends"].clone();
    assert_eq!(backends.as_array().unwrap().len(), 2, "{backends}");
    assert!(k3d_mesh(kc, &["shift", "reviews", "v3=100"]).status.success());
    std::thread::sleep(Duration::from_secs(5));
    let reds = (0..10).filter(|_| reviews_color(kc, None) == "red").count();
    assert!(reds >= 9, "after v3=100, {reds}/10 answers came from v3");

    // Feature 1a: vijay sees v2 (black stars), everyone else v3.
    assert!(k3d_mesh(kc, &["route-user", "reviews", "vijay", "v2"]).status.success());
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(reviews_color(kc, Some("vijay")), "black");
    assert_eq!(reviews_color(kc, Some("someone-else")), "red");

    // Nothing is broken, so recover has nothing to do.
    let out = k3d_mesh(kc, &["recover", "--dry-run=client"]);
    assert!(out.status.success());

    // Put things back as the guide started.
    assert!(k3d_mesh(kc, &["route-user", "reviews", "vijay", "--remove"])
        .status
        .success());
    assert!(k3d_mesh(kc, &["shift", "reviews", "v1=100"]).status.success());
}

/// `doctor --deep` against real Envoy admins: every sidecar of a freshly installed mesh answers `/certs` through
/// the API server's port-forward and trusts the current root.
#[test]
fn k3d_doctor_deep_reads_every_envoy_admin() {
    let Some(kc) = k3d_kubeconfig() else { return };
    let out = k3d_mesh(
        &kc,
        &["doctor", "--deep", "--check", "stale-sidecar-cert-deep", "-o", "json"],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let deep: Vec<&Value> = report["checks"].as_array().unwrap().iter().collect();
    assert!(!deep.is_empty(), "{report}");
    assert!(
        deep.iter().all(|c| c["status"] == "ok"),
        "every admin readable and fresh: {report}"
    );
    assert!(
        deep.iter().any(|c| !c["resources"].as_array().unwrap().is_empty()),
        "{report}"
    );
}
