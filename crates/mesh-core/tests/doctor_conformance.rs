//! Doctor against real upstream data: Istio's injector output (classic and native sidecars)
//! and Istio's sample root certificate.

mod doctor_common;

use doctor_common::*;
use mesh_core::doctor::certs::parse_pem_bundle;
use mesh_core::doctor::model::pod_from_value;
use serde_json::{json, Value};

/// Pods from an injector test file: Pods as they are, workloads via their pod template.
fn pods_in(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).unwrap();
    docs.into_iter()
        .filter(|d| !d.is_null())
        .filter_map(|d| match d["kind"].as_str() {
            Some("Pod") => Some(d),
            Some(_) if d["spec"]["template"].is_object() => {
                let t = &d["spec"]["template"];
                Some(json!({"kind": "Pod", "metadata": t["metadata"], "spec": t["spec"]}))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn sidecar_detection_matches_istio_injector_output() {
    let Some(shared) = shared_fixtures() else {
        return;
    };
    let dir = shared.join("istio-objects/inject");
    // (file, expected: Some(native?) for injected, None for not injected)
    let cases = [
        ("hello.yaml.injected", Some(false)),
        ("hello.yaml.cni.injected", Some(false)),
        ("pod.yaml.injected", Some(false)),
        ("native-sidecar.yaml.injected", Some(true)),
        ("hello.yaml", None),
        ("pod.yaml", None),
        // Has a non-Istio native sidecar (init container with restartPolicy Always).
        ("native-sidecar.yaml", None),
    ];
    for (file, expected) in cases {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let pods = pods_in(&text);
        assert!(!pods.is_empty(), "{file}: no pod template found");
        for p in pods {
            let pod = pod_from_value(&p).unwrap();
            assert_eq!(
                pod.sidecar.as_ref().map(|s| s.native),
                expected,
                "{file}: sidecar detection"
            );
            if let Some(sc) = &pod.sidecar {
                assert!(sc.image.contains("proxyv2"), "{file}: {}", sc.image);
                assert_eq!(sc.started_at, None, "templates have no status");
            }
        }
    }
}

#[test]
fn native_sidecar_start_time_comes_from_init_container_statuses() {
    let Some(shared) = shared_fixtures() else {
        return;
    };
    let text = std::fs::read_to_string(shared.join("istio-objects/inject/native-sidecar.yaml.injected")).unwrap();
    let mut pod = pods_in(&text).remove(0);
    pod["status"] = json!({
        "phase": "Running",
        "containerStatuses": [{"name": "hello", "ready": true, "state": {"running": {"startedAt": "2026-11-20T00:00:09Z"}}}],
        "initContainerStatuses": [
            {"name": "istio-init", "state": {"terminated": {"exitCode": 0}}},
            {"name": "istio-proxy", "ready": true, "state": {"running": {"startedAt": "2026-11-20T00:00:05Z"}}}
        ]
    });
    let decoded = pod_from_value(&pod).unwrap();
    let sc = decoded.sidecar.unwrap();
    assert!(sc.native);
    assert!(sc.ready);
    assert_eq!(sc.started_at.unwrap().to_string(), "2026-11-20T00:00:05Z");
}

#[test]
fn pem_bundle_parser_reads_istio_sample_root_among_others_and_garbage() {
    let Some(shared) = shared_fixtures() else {
        return;
    };
    let sample = std::fs::read_to_string(shared.join("istio-objects/samples-certs/root-cert.pem")).unwrap();
    let ca = std::fs::read_to_string(shared.join("istio-objects/samples-certs/ca-cert.pem")).unwrap();
    let bundle_text = format!(
        "Istio sample root:\n{sample}\n# not a cert\nfoo: bar\n{}\n\n{}{ca}trailing text",
        new_root(),
        old_root()
    );
    let bundle = parse_pem_bundle(&bundle_text);
    assert!(bundle.errors.is_empty(), "{:?}", bundle.errors);
    assert_eq!(bundle.certs.len(), 4);
    // Values cross-checked with `openssl x509 -noout -startdate -enddate -subject`.
    assert_eq!(bundle.certs[0].not_before.to_string(), "2018-01-24T19:15:51Z");
    assert_eq!(bundle.certs[0].not_after.to_string(), "2117-12-31T19:15:51Z");
    assert!(
        bundle.certs[0].subject.contains("CN=Root CA"),
        "{}",
        bundle.certs[0].subject
    );
    assert_eq!(bundle.certs[3].not_before.to_string(), "2018-01-24T19:15:51Z");
    assert!(bundle.certs[3].subject.contains("CN=Istio CA"));
    let current = bundle.current().unwrap();
    assert_eq!(current.not_before.to_string(), NEW_ROOT_NOT_BEFORE);
    assert_eq!(bundle.der_set().len(), 4);
}

#[test]
fn pem_bundle_parser_keeps_good_certs_next_to_a_broken_block() {
    let text = format!(
        "{}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n{}",
        old_root(),
        new_root()
    );
    let bundle = parse_pem_bundle(&text);
    assert_eq!(bundle.certs.len(), 2);
    assert_eq!(bundle.errors.len(), 1);
    assert!(bundle.errors[0].starts_with("certificate 2:"), "{:?}", bundle.errors);
    assert_eq!(bundle.current().unwrap().not_before.to_string(), NEW_ROOT_NOT_BEFORE);
}
