//! `doctor --error` and the suppress annotation against the real control plane (kube-apiserver,
//! kube-controller-manager, kube-scheduler, etcd, kwok; see tests/e2e.rs and tests/common/controlplane.rs): real
//! EndpointSlices for the Service the text names, real pods without sidecars under a STRICT PeerAuthentication,
//! and annotations written with kubectl and read back through doctor's LISTs. This file starts its own control
//! plane (about 15 s) on first use.

#[path = "common/controlplane.rs"]
mod controlplane;

use std::time::Duration;

use controlplane::{app_yaml, controlplane, ControlPlane, GatewayApi, Run};
use serde_json::Value;

/// An injected app `name` with `versions` in `ns`, available, its per-version Services with ready endpoints.
fn deploy_app(cp: &ControlPlane, ns: &str, name: &str, versions: &[&str]) {
    cp.apply_injected(ns, &app_yaml(name, versions, 1));
    for v in versions {
        cp.wait_available(ns, &format!("deployment/{name}-{v}"));
    }
    cp.eventually(
        &format!("ready endpoints of {ns}/{name}"),
        Duration::from_secs(90),
        || cp.ready_endpoints(ns, name) > 0,
    );
}

/// An app without sidecars (as if created before the namespace was labelled).
fn deploy_bare(cp: &ControlPlane, ns: &str, name: &str) {
    cp.apply(ns, &app_yaml(name, &["v1"], 1));
    cp.wait_available(ns, &format!("deployment/{name}-v1"));
}

fn strict_mtls(cp: &ControlPlane, ns: &str) {
    cp.apply(
        ns,
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: strict\nspec:\n  mtls:\n    mode: STRICT\n",
    );
}

fn checks(report: &Value) -> &Vec<Value> {
    report["checks"].as_array().unwrap()
}

/// Pods named by the error findings of `id`, sorted.
fn named(report: &Value, id: &str, status: &str) -> Vec<String> {
    let mut v: Vec<String> = checks(report)
        .iter()
        .filter(|c| c["id"] == id && c["status"] == status)
        .flat_map(|c| c["resources"].as_array().unwrap().iter())
        .filter(|r| r["kind"] == "Pod")
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// The request lines `-v 6` logged: (method, path with query).
fn requests(run: &Run) -> Vec<(String, String)> {
    run.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("I kubectl-mesh: "))
        .filter_map(|l| {
            let mut parts = l.split(' ');
            let method = parts.next()?;
            let url = parts.next()?;
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method) || !url.starts_with("http") {
                return None;
            }
            let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}"))?;
            Some((method.to_string(), path))
        })
        .collect()
}

/// A 503 from a caller without a sidecar to a Service under STRICT mTLS, pasted as Istio's access-log line
/// naming the Service: doctor reads only that Service's namespace, finds the sidecar-less caller, and the target's
/// ready endpoints come from the real EndpointSlice controller.
#[test]
fn doctor_error_names_the_sidecarless_caller_of_the_service_in_the_text() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-diag";
    cp.namespace(ns, true);
    deploy_app(cp, ns, "web", &["v1"]);
    deploy_bare(cp, ns, "bare");
    strict_mtls(cp, ns);
    // Another namespace with a problem of its own, which the text does not name.
    let other = "e2e-diag-other";
    cp.namespace(other, true);
    deploy_bare(cp, other, "lonely");
    let bare_pods = cp.pods(ns, "app=bare");
    assert_eq!(bare_pods.len(), 1);

    let text = format!(
        "[2026-11-23T12:00:00.000Z] \"GET /orders HTTP/1.1\" 503 UC upstream_reset_before_response_started{{connection_termination}} - \"-\" 0 95 3 - \"-\" \"curl/8.5.0\" \"9d1f0c2e-4d8e-4c1e-9f7e-2b8f3b1a6c11\" \"web.{ns}:9080\" \"10.42.0.17:9080\" outbound|9080||web.{ns}.svc.cluster.local 10.42.0.12:40538 10.43.123.7:9080 10.42.0.12:56330 - default"
    );
    let r = cp.mesh(&["doctor", "--error", &text, "-o", "json", "-v", "6"]);
    r.assert_code(1);
    let report = r.json();
    let symptom = &report["symptom"];
    assert_eq!(symptom["pattern"], "connection-termination", "{report:#}");
    let target = &symptom["targets"][0];
    assert_eq!(target["service"], "web");
    assert_eq!(target["namespace"], ns);
    assert_eq!(target["port"], 9080);
    assert_eq!(target["exists"], true);
    assert_eq!(target["readyEndpoints"], cp.ready_endpoints(ns, "web"));
    assert_eq!(symptom["request"]["path"], "/orders");
    // The causes: the sidecar-less caller, first.
    assert_eq!(checks(&report)[0]["status"], "error", "{report:#}");
    assert_eq!(
        named(&report, "mtls-plaintext-callers", "error"),
        bare_pods,
        "{report:#}"
    );
    assert_eq!(named(&report, "sidecar-missing", "error"), bare_pods, "{report:#}");
    // Only the called-for checks, and nothing from the namespace the text does not name.
    let called: Vec<&str> = symptom["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in checks(&report) {
        assert!(called.contains(&c["id"].as_str().unwrap()), "{c:#}");
        assert!(!c.to_string().contains(other), "{c:#}");
    }
    // The reads: LISTs only (no GET of one object), in the named namespace and the ones doctor always needs.
    let reqs = requests(&r);
    assert!(reqs.len() >= 15, "{}", r.stderr);
    for (method, path) in &reqs {
        assert_eq!(method, "GET", "{path}");
        assert!(path.contains("limit="), "not a paginated LIST: {path}");
        if let Some(rest) = path.split("/namespaces/").nth(1) {
            let read_ns = rest.split('/').next().unwrap();
            assert!(
                [ns, "istio-system", "kube-system"].contains(&read_ns),
                "read namespace {read_ns}: {path}"
            );
        }
    }
    // As text: the causes before what was ruled out.
    let r = cp.mesh(&["doctor", "--error", &text]);
    r.assert_code(1);
    let out = &r.stdout;
    assert!(out.starts_with("Symptom: connection-termination"), "{out}");
    assert!(out.contains(&format!("Target:  Service {ns}/web port 9080")), "{out}");
    let causes = out.find("Causes found").unwrap();
    let caller = out.find("× KM3070").unwrap();
    let ruled_out = out.find("Ruled out").unwrap();
    assert!(causes < caller && caller < ruled_out, "{out}");
}

/// `mesh.kubectl.io/suppress` written with kubectl on a Deployment, a PeerAuthentication and a Namespace: doctor
/// reads it from the LISTs it makes anyway (same requests as without it), suppresses a finding only when every
/// object it names is covered, and recover leaves the suppressed workload alone.
#[test]
fn the_suppress_annotation_set_with_kubectl_silences_findings_and_recover() {
    let Some(cp) = controlplane(GatewayApi::V1_0_0) else {
        return;
    };
    let ns = "e2e-suppress";
    cp.namespace(ns, true);
    deploy_app(cp, ns, "web", &["v1"]);
    deploy_bare(cp, ns, "bare");
    strict_mtls(cp, ns);
    let doctor = |extra: &[&str]| {
        let mut args = vec![
            "doctor",
            "-n",
            ns,
            "--check",
            "sidecar-missing",
            "--check",
            "KM3070",
            "-o",
            "json",
            "-v",
            "6",
        ];
        args.extend_from_slice(extra);
        cp.mesh(&args)
    };
    let before = doctor(&[]);
    before.assert_code(1);
    let mut plain_requests = requests(&before);
    plain_requests.sort();
    let bare_pods = cp.pods(ns, "app=bare");
    assert_eq!(named(&before.json(), "sidecar-missing", "error"), bare_pods);

    // On the Deployment: the pod findings it alone covers are suppressed; the mTLS finding also names the
    // PeerAuthentication, which is not covered yet.
    cp.kubectl_ok(&[
        "-n",
        ns,
        "annotate",
        "deployment",
        "bare-v1",
        "mesh.kubectl.io/suppress=KM2020,mtls-plaintext-callers",
    ]);
    let r = doctor(&[]);
    r.assert_code(1);
    let mut reqs = requests(&r);
    reqs.sort();
    assert_eq!(reqs, plain_requests, "the annotation costs no request");
    let report = r.json();
    let missing = checks(&report).iter().find(|c| c["id"] == "sidecar-missing").unwrap();
    assert_eq!(missing["status"], "suppressed", "{report:#}");
    assert_eq!(missing["suppressed"]["status"], "error");
    assert_eq!(
        missing["suppressed"]["by"],
        serde_json::json!([format!("annotation on deployment {ns}/bare-v1")])
    );
    assert_eq!(named(&report, "mtls-plaintext-callers", "error"), bare_pods);

    // On the PeerAuthentication too: every object the mTLS finding names is covered.
    cp.kubectl_ok(&[
        "-n",
        ns,
        "annotate",
        "peerauthentication",
        "strict",
        "mesh.kubectl.io/suppress=KM3070",
    ]);
    let r = doctor(&[]);
    r.assert_code(0);
    let report = r.json();
    assert_eq!(report["success"], true);
    assert!(checks(&report)
        .iter()
        .filter(|c| c["id"] == "mtls-plaintext-callers")
        .all(|c| c["status"] == "suppressed"));

    // recover leaves bare-v1 alone and says why.
    let r = cp.mesh(&["recover", "-n", ns, "--dry-run=client", "-o", "json"]);
    r.assert_code(0);
    let results = r.json()["results"].as_array().unwrap().clone();
    assert!(
        !results
            .iter()
            .any(|a| a["name"] == "bare-v1" && a["result"] == "planned"),
        "{results:#?}"
    );
    let skipped = results.iter().find(|a| a["name"] == "bare-v1").unwrap();
    assert_eq!(skipped["result"], "skipped");
    assert!(skipped["detail"].as_str().unwrap().contains("suppressed by annotation"));

    // Moved to the namespace: `*` there covers both objects.
    cp.kubectl_ok(&[
        "-n",
        ns,
        "annotate",
        "deployment",
        "bare-v1",
        "mesh.kubectl.io/suppress-",
    ]);
    cp.kubectl_ok(&[
        "-n",
        ns,
        "annotate",
        "peerauthentication",
        "strict",
        "mesh.kubectl.io/suppress-",
    ]);
    doctor(&[]).assert_code(1);
    cp.kubectl_ok(&["annotate", "namespace", ns, "mesh.kubectl.io/suppress=*"]);
    let r = doctor(&[]);
    r.assert_code(0);
    let report = r.json();
    let missing = checks(&report).iter().find(|c| c["id"] == "sidecar-missing").unwrap();
    assert_eq!(
        missing["suppressed"]["by"],
        serde_json::json!([format!("annotation on namespace {ns}")])
    );
    // --fail-on warning and -o short see nothing left to fail on.
    let r = cp.mesh(&[
        "doctor",
        "-n",
        ns,
        "--check",
        "sidecar-missing",
        "--fail-on",
        "warning",
        "-o",
        "short",
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "");
    cp.kubectl_ok(&["annotate", "namespace", ns, "mesh.kubectl.io/suppress-"]);
    let r = cp.mesh(&["doctor", "-n", ns, "--check", "sidecar-missing", "-o", "short"]);
    r.assert_code(1);
    assert!(
        r.stdout
            .starts_with(&format!("error KM2020 sidecar-missing: deployment {ns}/bare-v1:")),
        "{}",
        r.stdout
    );
}
