//! Answers recorded from the real API server (kube-apiserver v1.37.2 with etcd 3.7.0, kube-controller-manager
//! and kwok, as e2e/controlplane/start.sh runs them, under the Gateway API v1.0.0 and v1.6.1 CRDs of
//! ../shared/fixtures), pinned against the sandbox: each test is one divergence found in issue 15 and fixed
//! here. The same requests run against both servers in the workspace's tests/e2e_divergences.rs when the
//! control plane is built; these pins hold without it.

use mesh_sandbox::scenario::{self, GatewayApiBundle};
use mesh_sandbox::{ApiError, ServerOptions, TestServer, WriteOpts};
use serde_json::{json, Value};

fn sandbox(bundle: GatewayApiBundle) -> TestServer {
    let s = TestServer::start(ServerOptions::default()).unwrap();
    s.apply_scenario(&scenario::bookinfo().crds(bundle)).unwrap();
    s
}

/// POST `obj` with `dryRun=All` through the store's create path; the API error if refused.
fn dry_run_create(s: &TestServer, resource: &str, obj: &Value) -> Result<Value, ApiError> {
    let ns = obj["metadata"]["namespace"].as_str().map(str::to_string);
    s.with_store(|st| {
        let rt = st.registry.resolve(resource).cloned().unwrap();
        let opts = WriteOpts {
            dry_run: true,
            from_http: true,
            ..Default::default()
        };
        st.create(&rt, ns.as_deref(), obj.clone(), &opts)
    })
}

fn route(f: impl FnOnce(&mut Value)) -> Value {
    let mut r = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "probe", "namespace": "istio-demo"},
        "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "reviews"}],
                 "rules": [{"backendRefs": [{"name": "reviews-v1", "port": 9080}]}]}});
    f(&mut r);
    r
}

/// The Status message of a refused write.
fn refused(s: &TestServer, resource: &str, obj: &Value) -> String {
    match dry_run_create(s, resource, obj) {
        Ok(v) => panic!("accepted: {v}"),
        Err(e) => {
            assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"), "{e}");
            e.message
        }
    }
}

/// Divergence 1: the CRDs' CEL rules (`x-kubernetes-validations`) are enforced, with kube-apiserver's
/// messages. Each message below is the real server's answer to the same dry-run create.
#[test]
fn cel_rules_of_the_httproute_crd_are_enforced_like_kube_apiserver() {
    for bundle in [GatewayApiBundle::V1_0, GatewayApiBundle::V1_6] {
        let s = sandbox(bundle);
        let msg = |f: &dyn Fn(&mut Value)| refused(&s, "httproutes", &route(f));
        assert_eq!(
            msg(&|r| {
                r["spec"]["rules"][0]["backendRefs"][0]
                    .as_object_mut()
                    .unwrap()
                    .shift_remove("port");
            }),
            r#"HTTPRoute.gateway.networking.k8s.io "probe" is invalid: spec.rules[0].backendRefs[0]: Invalid value: Must have port for Service reference"#
        );
        assert_eq!(
            msg(&|r| r["spec"]["rules"][0]["matches"] = json!([{"path": {"type": "PathPrefix", "value": "foo"}}])),
            r#"HTTPRoute.gateway.networking.k8s.io "probe" is invalid: spec.rules[0].matches[0].path: Invalid value: value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']"#
        );
        assert_eq!(
            msg(&|r| r["spec"]["rules"][0]["filters"] = json!([{"type": "RequestHeaderModifier"}])),
            r#"HTTPRoute.gateway.networking.k8s.io "probe" is invalid: spec.rules[0].filters[0]: Invalid value: filter.requestHeaderModifier must be specified for RequestHeaderModifier filter.type"#
        );
        assert_eq!(
            msg(&|r| {
                r["spec"]["parentRefs"] = json!([{"group": "", "kind": "Service", "name": "reviews"},
                                                  {"group": "", "kind": "Service", "name": "reviews"}])
            }),
            r#"HTTPRoute.gateway.networking.k8s.io "probe" is invalid: spec.parentRefs: Invalid value: sectionName must be unique when parentRefs includes 2 or more references to the same parent"#
        );
        assert_eq!(
            msg(&|r| {
                r["spec"]["rules"][0]["filters"] =
                    json!([{"type": "RequestRedirect", "requestRedirect": {"scheme": "https"}}])
            }),
            r#"HTTPRoute.gateway.networking.k8s.io "probe" is invalid: spec.rules[0]: Invalid value: RequestRedirect filter must not be used together with backendRefs"#
        );
        // A structural error (an unknown method) leaves the CEL rules unchecked, and says so.
        assert_eq!(
            msg(&|r| {
                r["spec"]["rules"][0]["matches"] =
                    json!([{"method": "FETCH", "path": {"type": "PathPrefix", "value": "foo"}}])
            }),
            r#"HTTPRoute.gateway.networking.k8s.io "probe" is invalid: [spec.rules[0].matches[0].method: Unsupported value: "FETCH": supported values: "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]"#
        );
        // The valid probe and a regular-expression path (no CEL rule applies) are accepted.
        dry_run_create(&s, "httproutes", &route(|_| {})).unwrap();
        dry_run_create(
            &s,
            "httproutes",
            &route(|r| {
                r["spec"]["rules"][0]["matches"] =
                    json!([{"path": {"type": "RegularExpression", "value": "^/(a|b)//.*#"}}])
            }),
        )
        .unwrap();
    }
    // v1.6.1 only: timeouts (a duration comparison) and the 128-match total across rules.
    let s = sandbox(GatewayApiBundle::V1_6);
    assert_eq!(
        refused(
            &s,
            "httproutes",
            &route(|r| r["spec"]["rules"][0]["timeouts"] = json!({"request": "1s", "backendRequest": "2s"}))
        ),
        r#"HTTPRoute.gateway.networking.k8s.io "probe" is invalid: spec.rules[0].timeouts: Invalid value: backendRequest timeout cannot be longer than request timeout"#
    );
    dry_run_create(
        &s,
        "httproutes",
        &route(|r| r["spec"]["rules"][0]["timeouts"] = json!({"request": "1m", "backendRequest": "20s"})),
    )
    .unwrap();
    let many = route(|r| {
        let m: Vec<Value> = (0..50)
            .map(|i| json!({"path": {"type": "PathPrefix", "value": format!("/p{i}")}}))
            .collect();
        let rule = json!({"matches": m, "backendRefs": [{"name": "reviews-v1", "port": 9080}]});
        r["spec"]["rules"] = json!([rule.clone(), rule.clone(), rule]);
    });
    assert_eq!(
        refused(&s, "httproutes", &many),
        r#"HTTPRoute.gateway.networking.k8s.io "probe" is invalid: spec.rules: Invalid value: While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128"#
    );
}

/// Divergence 1, Gateways: a rule that fails to evaluate reports cel-go's first error (`||` of two missing
/// fields names the left one), and transition rules run on updates only.
#[test]
fn gateway_cel_errors_and_transition_rules_read_like_kube_apiserver() {
    let s = sandbox(GatewayApiBundle::V1_6);
    let gw = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "probe", "namespace": "istio-demo"},
        "spec": {"gatewayClassName": "istio", "listeners": [
            {"name": "s", "port": 443, "protocol": "HTTPS", "tls": {"mode": "Terminate"}}]}});
    assert_eq!(
        refused(&s, "gateways.gateway.networking.k8s.io", &gw),
        r#"Gateway.gateway.networking.k8s.io "probe" is invalid: spec.listeners[0].tls: Invalid value: "object": no such key: certificateRefs evaluating rule: certificateRefs or options must be specified when mode is Terminate"#
    );
    // GatewayClass controllerName: `self == oldSelf`.
    s.insert(
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "probe"}, "spec": {"controllerName": "example.com/one"}}),
    )
    .unwrap();
    let patch = |body: Value| {
        s.with_store(|st| {
            let rt = st.registry.resolve("gatewayclasses").cloned().unwrap();
            st.patch(
                &rt,
                None,
                "probe",
                mesh_sandbox::PatchType::Merge,
                body.to_string().as_bytes(),
                &WriteOpts::default(),
                false,
            )
        })
    };
    let err = patch(json!({"spec": {"controllerName": "example.com/two"}})).unwrap_err();
    assert_eq!(
        err.message,
        r#"GatewayClass.gateway.networking.k8s.io "probe" is invalid: spec.controllerName: Invalid value: "example.com/two": Value is immutable"#
    );
    patch(json!({"spec": {"description": "still one"}})).unwrap();
}

/// Divergence 2: `x-kubernetes-list-type: map` keys are unique (header matches by name).
#[test]
fn duplicate_list_map_keys_are_422_duplicate_value() {
    for bundle in [GatewayApiBundle::V1_0, GatewayApiBundle::V1_6] {
        let s = sandbox(bundle);
        let r = route(|r| {
            r["spec"]["rules"][0]["matches"] = json!([{"headers": [
                {"name": "end-user", "value": "x"}, {"name": "end-user", "value": "y"}]}])
        });
        assert_eq!(
            refused(&s, "httproutes", &r),
            r#"HTTPRoute.gateway.networking.k8s.io "probe" is invalid: spec.rules[0].matches[0].headers[1]: Duplicate value: {"name":"end-user"}"#
        );
    }
}

/// Divergence 3: the CRDs are upstream's: storage version (v1beta1 in v1.0.0), the API-approval condition,
/// and the printer columns `kubectl get` shows (NAME HOSTNAMES AGE for routes, as on the real server).
#[test]
fn served_crds_are_upstreams_with_storage_version_conditions_and_printer_columns() {
    for (bundle, stored, approval) in [
        (
            GatewayApiBundle::V1_0,
            "v1beta1",
            "approved in https://github.com/kubernetes-sigs/gateway-api/pull/2466",
        ),
        (
            GatewayApiBundle::V1_6,
            "v1",
            "approved in https://github.com/kubernetes-sigs/gateway-api/pull/4530",
        ),
    ] {
        let s = sandbox(bundle);
        let crd = s.get("crd", None, "httproutes.gateway.networking.k8s.io").unwrap();
        assert_eq!(crd["status"]["storedVersions"], json!([stored]));
        let types: Vec<&str> = crd["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            ["KubernetesAPIApprovalPolicyConformant", "NamesAccepted", "Established"]
        );
        assert_eq!(crd["status"]["conditions"][0]["message"], approval);
        assert!(crd["metadata"]["annotations"].get("kubectl-mesh.dev/trimmed").is_none());
        // The route's table, as kube-apiserver renders it (hostnames as a JSON array).
        let mut route = s.get("httproutes", Some("istio-demo"), "reviews").unwrap();
        route["spec"]["hostnames"] = json!(["a.example.com", "b.example.com"]);
        let table = s.with_store(|st| {
            let rt = st.registry.resolve("httproutes").cloned().unwrap();
            mesh_sandbox::to_table(&rt, &route, st.now())
        });
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Hostnames", "Age"]);
        assert_eq!(table["rows"][0]["cells"][1], r#"["a.example.com","b.example.com"]"#);
    }
    // The Istio PeerAuthentication CRD is in no protected group: no approval condition.
    let s = sandbox(GatewayApiBundle::V1_0);
    s.load_yaml(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n",
    )
    .unwrap();
    let crd = s.get("crd", None, "widgets.example.com").unwrap();
    assert_eq!(crd["status"]["conditions"][0]["type"], "NamesAccepted");
}
