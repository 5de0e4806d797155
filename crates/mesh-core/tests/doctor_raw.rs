//! What the IO layer relies on: list paths, scopes, merging and decoding robustness.

use mesh_core::doctor::{Kind, RawLists, Scope, Snapshot, Unavailable};
use serde_json::json;

#[test]
fn list_paths_match_the_api_server_layout() {
    assert_eq!(Kind::Pod.list_path(None), "/api/v1/pods");
    assert_eq!(
        Kind::Pod.list_path(Some("istio-demo")),
        "/api/v1/namespaces/istio-demo/pods"
    );
    assert_eq!(Kind::Deployment.list_path(None), "/apis/apps/v1/deployments");
    assert_eq!(
        Kind::HttpRoute.list_path(Some("a")),
        "/apis/gateway.networking.k8s.io/v1/namespaces/a/httproutes"
    );
    assert_eq!(
        Kind::ConfigMap.list_path(None),
        "/api/v1/configmaps?fieldSelector=metadata.name%3Distio-ca-root-cert"
    );
    // Cluster-scoped kinds ignore the namespace.
    assert_eq!(
        Kind::CustomResourceDefinition.list_path(Some("x")),
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    );
    assert_eq!(Kind::PeerAuthentication.api_version(), "security.istio.io/v1beta1");
    assert_eq!(Kind::EndpointSlice.api_version(), "discovery.k8s.io/v1");
}

#[test]
fn namespace_scope_adds_the_namespaces_doctor_always_needs() {
    let scope = Scope::Namespaces(vec!["istio-demo".into()]);
    let ns = |k: Kind| -> Vec<Option<String>> { k.list_requests(&scope).into_iter().map(|r| r.namespace).collect() };
    assert_eq!(
        ns(Kind::Deployment),
        [
            Some("istio-demo".into()),
            Some("istio-system".into()),
            Some("kube-system".into())
        ]
    );
    assert_eq!(ns(Kind::HttpRoute), [Some("istio-demo".into())]);
    assert_eq!(ns(Kind::Namespace), [None]);
    assert_eq!(Kind::Pod.list_requests(&Scope::All).len(), 1);
    for kind in Kind::ALL {
        for req in kind.list_requests(&scope) {
            assert_eq!(req.path, kind.list_path(req.namespace.as_deref()));
        }
    }
}

#[test]
fn merging_lists_appends_items_and_keeps_the_first_failure() {
    let mut raw = RawLists::new();
    raw.merge(Kind::Pod, Ok(vec![json!({"metadata": {"name": "a"}})]));
    raw.merge(Kind::Pod, Ok(vec![json!({"metadata": {"name": "b"}})]));
    assert_eq!(raw.get(Kind::Pod).unwrap().len(), 2);
    raw.merge(Kind::Pod, Err(Unavailable::forbidden_list(Kind::Pod, Some("x"))));
    raw.merge(Kind::Pod, Ok(vec![json!({})]));
    assert_eq!(raw.get(Kind::Pod).unwrap_err().to_string(), "needs list pods in x");
    assert!(matches!(raw.get(Kind::Gateway), Err(Unavailable::NotListed)));
}

#[test]
fn undecodable_items_are_reported_not_fatal() {
    let mut raw = RawLists::empty_cluster();
    raw.insert(
        Kind::Pod,
        Ok(vec![
            json!({"metadata": {"name": "good", "namespace": "a"}}),
            json!({"metadata": {"name": "bad", "namespace": "a"}, "spec": {"containers": "nope"}}),
        ]),
    );
    let snap = Snapshot::from_raw(&raw);
    assert_eq!(snap.pods.as_ref().unwrap().len(), 1);
    assert_eq!(snap.decode_errors.len(), 1);
    assert!(
        snap.decode_errors[0].starts_with("Pod bad:"),
        "{:?}",
        snap.decode_errors
    );
}

#[test]
fn gamma_parent_defaults_follow_the_api_server() {
    let mut raw = RawLists::empty_cluster();
    raw.push_objects(
        [json!({"kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "n"},
        "spec": {"parentRefs": [{"group": "core", "kind": "Service", "name": "s"}, {"name": "gw"}],
                 "rules": [{"backendRefs": [{"name": "b"}]}]}})],
    );
    let snap = Snapshot::from_raw(&raw);
    let r = &snap.http_routes.as_ref().unwrap()[0];
    // `core` is not the core group to Istio (issue 16, lead's decision): not a mesh parent, but a Service parent
    // with a bad group (gamma-parent-group reports it).
    assert!(!r.parents[0].is_service());
    assert!(r.parents[0].is_service_with_bad_group());
    assert_eq!(r.parents[0].group, "core");
    assert_eq!(r.parents[0].namespace, "n");
    assert_eq!(r.parents[1].group, "gateway.networking.k8s.io");
    assert!(r.parents[1].group_omitted);
    assert!(!r.parents[1].is_service());
    assert_eq!(r.parents[1].kind, "Gateway");
    assert_eq!(r.rules[0].backends[0].weight, 1);
    assert!(r.rules[0].backends[0].is_service());
}

#[test]
fn null_fields_read_as_absent_not_as_undecodable_objects() {
    use mesh_core::doctor::{Kind, RawLists, Snapshot};
    let mut raw = RawLists::new();
    raw.insert(
        Kind::Pod,
        Ok(vec![serde_json::json!({
            "metadata": {"name": "details-v1-abc", "namespace": "istio-demo", "labels": null},
            "spec": {"containers": [{"name": "details", "image": "x"}], "initContainers": null},
            "status": {"phase": "Running", "initContainerStatuses": null, "containerStatuses": []}
        })]),
    );
    let snap = Snapshot::from_raw(&raw);
    assert!(snap.decode_errors.is_empty(), "{:?}", snap.decode_errors);
    assert_eq!(snap.pods.as_ref().unwrap().len(), 1);
}

mod pages {
    use mesh_core::doctor::{Input, Kind, RawLists, Snapshot, SnapshotDecoder};
    use serde_json::{json, Value};

    fn page(items: Vec<Value>, token: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "42", "continue": token},
            "items": items,
        }))
        .unwrap()
    }

    fn pod(name: &str) -> Value {
        json!({
            "metadata": {"name": name, "namespace": "a", "labels": {"app": "x"},
                         "annotations": {"sidecar.istio.io/status": "{\"big\": true}"}},
            "spec": {"containers": [{"name": "app", "image": "x"}, {"name": "istio-proxy", "image": "proxyv2:1.26"}],
                     "volumes": [{"name": "v", "emptyDir": {}}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "istio-proxy", "ready": true,
                                              "state": {"running": {"startedAt": "2026-11-20T00:00:00Z"}}}]}
        })
    }

    #[test]
    fn a_page_decodes_to_the_same_snapshot_as_parsed_items() {
        let items = vec![pod("p1"), pod("p2")];
        let mut decoder = SnapshotDecoder::default();
        let meta = decoder
            .push(Kind::Pod, Input::Page(&page(items.clone(), "next")))
            .unwrap()
            .unwrap();
        assert_eq!(meta.continue_token, "next");
        assert_eq!(meta.resource_version, "42");
        let from_page = decoder.finish();
        let mut raw = RawLists::new();
        raw.insert(Kind::Pod, Ok(items));
        let from_items = Snapshot::from_raw(&raw);
        assert_eq!(
            format!("{:?}", from_page.pods),
            format!("{:?}", from_items.pods),
            "page and item decoding must agree"
        );
        let pods = from_page.pods.unwrap();
        assert_eq!(pods.len(), 2);
        assert!(pods[0].ready && pods[0].sidecar.is_some());
    }

    #[test]
    fn a_null_or_a_bad_item_in_a_page_costs_only_that_item() {
        let mut with_null = pod("nulls");
        with_null["metadata"]["labels"] = Value::Null;
        with_null["spec"]["initContainers"] = Value::Null;
        let mut bad = pod("bad");
        bad["spec"]["containers"] = json!("nope");
        let mut decoder = SnapshotDecoder::default();
        let meta = decoder
            .push(Kind::Pod, Input::Page(&page(vec![pod("good"), with_null, bad], "")))
            .unwrap()
            .unwrap();
        assert_eq!(meta.continue_token, "");
        let snap = decoder.finish();
        let names: Vec<_> = snap.pods.as_ref().unwrap().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["good", "nulls"]);
        assert_eq!(snap.decode_errors.len(), 1, "{:?}", snap.decode_errors);
        assert!(
            snap.decode_errors[0].starts_with("Pod bad:"),
            "{:?}",
            snap.decode_errors
        );
    }

    #[test]
    fn a_page_that_is_not_json_is_an_error() {
        let mut decoder = SnapshotDecoder::default();
        assert!(decoder
            .push(Kind::Pod, Input::Page(b"<html>proxy error</html>"))
            .is_err());
    }

    #[test]
    fn a_restarted_list_forgets_its_earlier_pages_and_merge_keeps_the_first_failure() {
        let mut one = SnapshotDecoder::default();
        one.push(Kind::Pod, Input::Page(&page(vec![pod("p1")], "t"))).unwrap();
        one.clear(Kind::Pod);
        one.push(Kind::Pod, Input::Page(&page(vec![pod("p1"), pod("p2")], "")))
            .unwrap();
        let mut two = SnapshotDecoder::default();
        two.push(Kind::Pod, Input::Page(&page(vec![pod("p3")], ""))).unwrap();
        let mut all = SnapshotDecoder::default();
        all.merge(one);
        all.merge(two);
        let snap = all.finish();
        assert_eq!(snap.pods.as_ref().unwrap().len(), 3);
        assert!(snap.pod("a", "p3").is_some());
        // A kind never listed is unavailable, not empty.
        assert!(snap.gateways.is_err());

        let mut failed = SnapshotDecoder::default();
        failed.push(Kind::Pod, Input::Page(&page(vec![pod("p1")], ""))).unwrap();
        failed.fail(
            Kind::Pod,
            mesh_core::doctor::Unavailable::forbidden_list(Kind::Pod, Some("b")),
        );
        failed.fail(Kind::Pod, mesh_core::doctor::Unavailable::NotServed);
        assert_eq!(failed.finish().pods.unwrap_err().to_string(), "needs list pods in b");
    }
}
