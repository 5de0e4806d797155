//! Doctor agrees with Istio's own injection analyzers (istio/istio 1.30.3, `pkg/config/analysis/analyzers/
//! injection/`) where both judge the same thing, on the inputs of Istio's analyzer tests: transcribed, object by
//! object, into `tests/fixtures/istio-analyzers/` (each object cites its upstream file and lines), with Istio's
//! expectations from `analyzers_test.go`.
//!
//! Where we deliberately differ, the test says so: `proxy-version-skew` also judges sidecars outside injected
//! namespaces (`default/details-v2-pod-old`), compares versions rather than images, and Istio's IST0102
//! `NamespaceNotInjected` (Info) has no counterpart.

use std::collections::BTreeSet;
use std::path::PathBuf;

use mesh_core::doctor::{run_checks, Finding, RawLists, Snapshot, Status};
use serde_json::{json, Value};

fn now() -> jiff::Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn load(file: &str) -> Vec<Value> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/istio-analyzers")
        .join(file);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_saphyr::from_multiple(&text).unwrap()
}

/// Istio's analyzer tests take the proxy version from the injector ConfigMaps
/// (`testdata/common/sidecar-injector-configmap.yaml:413`, `global.tag: 1.3.1`, and
/// `sidecar-injector-configmap-with-revision-canary.yaml`, `proxyv2:1.3.1`); doctor takes it from istiod's image.
/// These stand-ins are ours: istiod and istiod-canary at 1.3.1.
fn istiods() -> Vec<Value> {
    ["istiod", "istiod-canary"]
        .iter()
        .map(|name| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": "istio-system", "labels": {"app": "istiod"}},
                "spec": {"template": {"spec": {"containers": [
                    {"name": "discovery", "image": "registry.istio.io/release/pilot:1.3.1"}]}}},
                "status": {"availableReplicas": 1}})
        })
        .collect()
}

fn run(files: &[&str], with_istiod: bool) -> Vec<Finding> {
    let mut raw = RawLists::empty_cluster();
    for f in files {
        assert_eq!(
            raw.push_objects(load(f)),
            0,
            "every object of {f} is a kind doctor reads"
        );
    }
    if with_istiod {
        raw.push_objects(istiods());
    }
    run_checks(&Snapshot::from_raw(&raw), now())
}

/// Resource names (`Kind ns/name`, or `Kind name`) of the warnings and errors of check `id`.
fn flagged(findings: &[Finding], id: &str) -> BTreeSet<String> {
    findings
        .iter()
        .filter(|f| f.id == id && matches!(f.status, Status::Warning | Status::Error))
        .flat_map(|f| f.resources.iter())
        .map(|r| match &r.namespace {
            Some(ns) => format!("{} {ns}/{}", r.kind, r.name),
            None => format!("{} {}", r.kind, r.name),
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `analyzers_test.go:288-299` ("istioInjection"): IST0123 NamespaceMultipleInjectionLabels for busted,
/// multi-ns-1, multi-ns-2 and multi-ns-3 — not for not-conflict-ns-1 (`istio-injection=disabled` + ambient) nor
/// not-conflict-ns-2 (`disabled` + `istio.io/rev`); IST0103 PodMissingProxy for default/noninjectedpod only.
#[test]
fn injection_labels_and_missing_proxies_as_istio_judges_them() {
    let findings = run(&["injection.yaml"], false);
    assert_eq!(
        flagged(&findings, "injection-label-conflict"),
        set(&[
            "Namespace busted",
            "Namespace multi-ns-1",
            "Namespace multi-ns-2",
            "Namespace multi-ns-3",
        ])
    );
    for f in findings.iter().filter(|f| f.id == "injection-label-conflict") {
        assert_eq!(f.status, Status::Warning, "IST0123 is a Warning: {f:#?}");
    }
    let ambient = findings
        .iter()
        .find(|f| f.id == "injection-label-conflict" && f.message.contains("multi-ns-2"))
        .unwrap();
    assert!(
        ambient
            .message
            .contains("istio-injection=enabled, istio.io/dataplane-mode=ambient"),
        "{}",
        ambient.message
    );
    assert!(ambient
        .hint
        .as_deref()
        .unwrap()
        .contains("kubectl label namespace multi-ns-2 istio-injection- (ambient)"));
    assert_eq!(
        flagged(&findings, "sidecar-missing"),
        set(&["Pod default/noninjectedpod"])
    );
    let missing = findings
        .iter()
        .find(|f| f.id == "sidecar-missing" && f.status == Status::Error)
        .unwrap();
    assert!(missing
        .message
        .starts_with("pod default/noninjectedpod: 1 pod without istio-proxy sidecar"));
}

/// `analyzers_test.go:316-327` ("istioInjectionProxyImageMismatch") and `:361-374` (with the canary revision):
/// IST0158 for enabled-namespace (details-v1-pod-old, -old-pre, -pre-2, -pre-3), enabled-namespace-native
/// (details-v1-pod-old-native) and revision-namespace (revision-details-v1-pod-old); not for the pods at 1.3.1
/// nor those whose proxy image was set by hand (`sidecar.istio.io/proxyImage`).
#[test]
fn proxy_versions_as_istio_judges_them() {
    let findings = run(&["injection-with-mismatched-sidecar.yaml"], true);
    let flagged = flagged(&findings, "proxy-version-skew");
    let istio = set(&[
        "Pod enabled-namespace/details-v1-pod-old",
        "Pod enabled-namespace/details-v1-pod-old-pre",
        "Pod enabled-namespace/details-v1-pod-old-pre-2",
        "Pod enabled-namespace/details-v1-pod-old-pre-3",
        "Pod enabled-namespace-native/details-v1-pod-old-native",
        "Pod revision-namespace/revision-details-v1-pod-old",
    ]);
    // Ours, deliberately: an old proxy outside an injected namespace is old too.
    let ours_only = set(&["Pod default/details-v2-pod-old"]);
    assert_eq!(flagged, istio.union(&ours_only).cloned().collect::<BTreeSet<_>>());
    for quiet in [
        "Pod enabled-namespace/details-v1-pod-new",
        "Pod enabled-namespace/details-v1-pod-new-native",
        "Pod revision-namespace/revision-details-v1-pod-new",
        "Pod enabled-namespace/details-v1-pod-overwritten-sidecar",
        "Pod revision-namespace/revision-details-v1-pod-overwritten-sidecar",
    ] {
        assert!(!flagged.contains(quiet), "{quiet}");
    }
}

/// `analyzers_test.go:328-339` ("injectionImageDistroless"): only enabled-namespace (details-v1-pod-old, 1.3.0);
/// `proxyv2:1.3.1-distroless` is the injector's own image for 1.3.1 (`<tag>-<variant>`, `inject.go:383-407`).
#[test]
fn a_distroless_proxy_is_the_same_version() {
    let findings = run(&["injection-image-distroless.yaml"], true);
    assert_eq!(
        flagged(&findings, "proxy-version-skew"),
        set(&["Pod enabled-namespace/details-v1-pod-old"])
    );
}

/// `analyzers_test.go:340-348` ("injectionImageDistrolessNoMeshConfig"): nothing flagged.
#[test]
fn distroless_proxies_chosen_by_proxy_config_are_not_flagged() {
    let findings = run(&["injection-image-distroless-no-meshconfig.yaml"], true);
    assert_eq!(flagged(&findings, "proxy-version-skew"), BTreeSet::new());
    let ok = findings.iter().find(|f| f.id == "proxy-version-skew").unwrap();
    assert_eq!(ok.message, "all 3 sidecars run istiod's version 1.3.1");
}
