//! kube-rs (the plugin's client) against the sandbox API server over HTTP: pagination, optimistic
//! concurrency, watches, dry run, schema defaulting/pruning with the real upstream CRDs, eviction,
//! faults, RBAC.

#[path = "common/sandbox.rs"]
mod sandbox_common;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use mesh_sandbox::{scenario, ApiServer, Fault, RbacRule, ServerOptions};
use serde_json::{json, Value};

async fn start() -> (ApiServer, kube::Client, tempfile::TempDir) {
    let server = ApiServer::start(ServerOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = server.write_kubeconfig(dir.path(), Some("istio-demo")).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    // kube 4 retries 429/503/504 up to 15 times by default; these tests observe the raw answers.
    config.default_retry = false;
    let client = kube::Client::try_from(config).unwrap();
    (server, client, dir)
}

fn httproutes(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}

fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default", "labels": labels}, "data": {"k": name}})
}

#[tokio::test]
async fn list_paginates_with_continue_tokens() {
    let (server, client, _d) = start().await;
    for i in 0..7 {
        server
            .insert(cm(&format!("cm-{i}"), json!({"n": i.to_string()})))
            .unwrap();
    }
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(3);
    let mut pages = 0;
    loop {
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn pages_stay_in_their_namespace_and_count_what_is_left_like_kube_apiserver() {
    let (server, client, _d) = start().await;
    for ns in ["a", "b", "c"] {
        server
            .insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .unwrap();
        for i in 0..5 {
            let mut c = cm(&format!("cm-{i}"), json!({"odd": (i % 2 == 1).to_string()}));
            c["metadata"]["namespace"] = json!(ns);
            server.insert(c).unwrap();
        }
    }
    // Every page of namespace `b` comes from `b`; no selector: remainingItemCount counts what is left.
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "b");
    let mut lp = ListParams::default().limit(2);
    let mut seen = Vec::new();
    let mut remaining = Vec::new();
    loop {
        let page = api.list(&lp).await.unwrap();
        seen.extend(page.items.iter().map(|c| {
            assert_eq!(c.metadata.namespace.as_deref(), Some("b"));
            c.metadata.name.clone().unwrap()
        }));
        remaining.push(page.metadata.remaining_item_count);
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(seen, ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);
    assert_eq!(remaining, [Some(3), Some(1), None]);
    // With a selector the count is unknown (omitted), and a page that ends the matches has no continue.
    let page = api
        .list(&ListParams::default().labels("odd=true").limit(2))
        .await
        .unwrap();
    let names: Vec<_> = page.items.iter().map(|c| c.metadata.name.clone().unwrap()).collect();
    assert_eq!(names, ["cm-1", "cm-3"]);
    assert_eq!(page.metadata.remaining_item_count, None);
    assert!(
        page.metadata.continue_.as_deref().unwrap_or_default().is_empty(),
        "{:?}",
        page.metadata
    );
    let page = api
        .list(&ListParams::default().labels("odd=false").limit(2))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.metadata.remaining_item_count, None);
    let rest = api
        .list(
            &ListParams::default()
                .labels("odd=false")
                .limit(2)
                .continue_token(page.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    let names: Vec<_> = rest.items.iter().map(|c| c.metadata.name.clone().unwrap()).collect();
    assert_eq!(names, ["cm-4"]);
    // All namespaces: pages run across namespace boundaries, in (namespace, name) order.
    let all: Api<ConfigMap> = Api::all(client);
    let page = all
        .list(&ListParams::default().labels("odd=true").limit(3))
        .await
        .unwrap();
    let keys: Vec<_> = page
        .items
        .iter()
        .map(|c| {
            format!(
                "{}/{}",
                c.metadata.namespace.clone().unwrap(),
                c.metadata.name.clone().unwrap()
            )
        })
        .collect();
    assert_eq!(keys, ["a/cm-1", "a/cm-3", "b/cm-1"]);
    // The wire form is exactly the in-process list, serialized.
    server.with_store(|s| {
        let rt = s.registry.resolve("configmaps").unwrap().clone();
        for (ns, labels, limit) in [
            (Some("b"), "", 2),
            (None, "odd=true", 3),
            (None, "", 0),
            (Some("c"), "odd=false", 1),
        ] {
            let q = mesh_sandbox::ListQuery {
                labels: mesh_sandbox::LabelSelector::parse(labels).unwrap(),
                limit,
                ..Default::default()
            };
            let wire: Value = serde_json::from_slice(&s.list_json(&rt, ns, &q).unwrap()).unwrap();
            assert_eq!(wire, s.list(&rt, ns, &q).unwrap(), "{ns:?} {labels} {limit}");
        }
    });
}

/// Issue 15 divergence 7: an undecodable continue token is a 400 (kube-apiserver's `invalid continue token`),
/// not a 410 as this test asserted before the sandbox was compared with the real server; an expired one is a
/// 410 whose Status carries a token to continue at the latest version, and lists started after the expiry
/// page normally.
#[tokio::test]
async fn bad_continue_token_answers_400_and_expired_one_410() {
    let (server, client, _d) = start().await;
    for i in 0..4 {
        server.insert(cm(&format!("cm-{i}"), json!({}))).unwrap();
    }
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let err = api
        .list(&ListParams::default().continue_token("not-a-token"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 400 && s.reason == "BadRequest"
            && s.message.starts_with("invalid continue token: continue key is not valid: ")),
        "{err:?}"
    );
    let page = api.list(&ListParams::default().limit(2)).await.unwrap();
    let token = page.metadata.continue_.unwrap();
    server.expire_continue_tokens();
    let err = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 410 && s.reason == "Expired"),
        "{err:?}"
    );
    // A fresh list after the expiry pages to the end.
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    let rest = api
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(first.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(first.items.len() + rest.items.len(), 4);
    assert!(rest.metadata.continue_.is_none());
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists() {
    let (server, client, _d) = start().await;
    server.apply_scenario(&scenario::bookinfo()).unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "istio-demo");
    let sel = pods
        .list(&ListParams::default().labels("app in (reviews),version notin (v1)"))
        .await
        .unwrap();
    let mut versions: Vec<String> = sel
        .items
        .iter()
        .map(|p| p.metadata.labels.as_ref().unwrap()["version"].clone())
        .collect();
    versions.sort();
    assert_eq!(versions, vec!["v2", "v3"]);
    let not_running = pods
        .list(&ListParams::default().fields("status.phase!=Running"))
        .await
        .unwrap();
    assert!(not_running.items.is_empty());
    let one = pods
        .list(&ListParams::default().fields(&format!(
            "metadata.name={}",
            sel.items[0].metadata.name.as_ref().unwrap()
        )))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    let all: Api<Pod> = Api::all(client);
    let everywhere = all.list(&ListParams::default().labels("app=istiod")).await.unwrap();
    assert_eq!(everywhere.items.len(), 1);
    assert_eq!(everywhere.items[0].metadata.namespace.as_deref(), Some("istio-system"));
}

#[tokio::test]
async fn stale_put_on_an_httproute_is_a_409_conflict() {
    let (server, client, _d) = start().await;
    server.apply_scenario(&scenario::bookinfo()).unwrap();
    let api = httproutes(&client, "istio-demo");
    let mut route = api.get("reviews").await.unwrap();
    let stale = route.clone();
    route.data["spec"]["hostnames"] = json!(["reviews"]);
    let updated = api.replace("reviews", &PostParams::default(), &route).await.unwrap();
    assert_ne!(updated.metadata.resource_version, stale.metadata.resource_version);
    assert_eq!(updated.metadata.generation, Some(2));
    let err = api
        .replace("reviews", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.message, "Operation cannot be fulfilled on httproutes.gateway.networking.k8s.io \"reviews\": the object has been modified; please apply your changes to the latest version and try again");
        }
        other => panic!("{other:?}"),
    }
    // PUT without resourceVersion on a custom resource: 422.
    let mut no_rv = updated.clone();
    no_rv.metadata.resource_version = None;
    let err = api
        .replace("reviews", &PostParams::default(), &no_rv)
        .await
        .unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 422), "{err:?}");
    // Merge patch with a stale resourceVersion is a precondition failure.
    let p = json!({"metadata": {"resourceVersion": stale.metadata.resource_version}, "spec": {"hostnames": ["x"]}});
    let err = api
        .patch("reviews", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 409), "{err:?}");
}

#[tokio::test]
async fn writes_that_change_nothing_keep_the_resource_version() {
    let (server, client, _d) = start().await;
    server.apply_scenario(&scenario::bookinfo()).unwrap();
    let api = httproutes(&client, "istio-demo");
    let before = api.get("reviews").await.unwrap();
    let same = json!({"spec": {"parentRefs": before.data["spec"]["parentRefs"].clone()}});
    let after = api
        .patch("reviews", &PatchParams::default(), &Patch::Merge(&same))
        .await
        .unwrap();
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version);
    assert_eq!(after.metadata.generation, before.metadata.generation);
}

#[tokio::test]
async fn dry_run_validates_and_stores_nothing() {
    let (server, client, _d) = start().await;
    server.apply_scenario(&scenario::bookinfo()).unwrap();
    let api = httproutes(&client, "istio-demo");
    let rv = server.resource_version();
    server.clear_log();
    let p = json!({"spec": {"rules": [{"backendRefs": [{"name": "reviews-v3", "port": 9080}]}]}});
    let out = api
        .patch("reviews", &PatchParams::default().dry_run(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(out.data["spec"]["rules"][0]["backendRefs"][0]["name"], "reviews-v3");
    assert_eq!(out.data["spec"]["rules"][0]["backendRefs"][0]["weight"], 1);
    let stored = server.get("httproutes", Some("istio-demo"), "reviews").unwrap();
    assert_eq!(stored["spec"]["rules"][0]["backendRefs"][0]["name"], "reviews-v1");
    assert_eq!(server.resource_version(), rv);
    assert!(server.writes().is_empty());
    assert_eq!(server.writes_including_dry_run().len(), 1);
    // Validation still runs on dry run.
    let bad = json!({"spec": {"rules": [{"backendRefs": [{"name": "reviews-v3", "port": 9080, "weight": 2000000}]}]}});
    let err = api
        .patch("reviews", &PatchParams::default().dry_run(), &Patch::Merge(&bad))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422);
            assert!(
                s.message.contains("spec.rules[0].backendRefs[0].weight"),
                "{}",
                s.message
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn json_patch_test_op_guards_concurrent_edits() {
    let (server, client, _d) = start().await;
    server.apply_scenario(&scenario::bookinfo()).unwrap();
    let api = httproutes(&client, "istio-demo");
    let cur = api.get("reviews").await.unwrap();
    let rv = cur.metadata.resource_version.clone().unwrap();
    let path = "/apis/gateway.networking.k8s.io/v1/namespaces/istio-demo/httproutes/reviews";
    let ops = json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 7}]);
    let err = client.request_text(json_patch_request(path, &ops)).await.unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 422), "{err:?}");
    let ops = json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 7}]);
    let text = client.request_text(json_patch_request(path, &ops)).await.unwrap();
    let out: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(out["spec"]["rules"][0]["backendRefs"][0]["weight"], 7);
    let _ = api;
}

fn json_patch_request(path: &str, ops: &Value) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method("PATCH")
        .uri(path)
        .header("content-type", "application/json-patch+json")
        .body(serde_json::to_vec(ops).unwrap())
        .unwrap()
}

fn watch_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let name = v["object"]["metadata"]["name"].as_str().map(str::to_string);
            match name {
                Some(n) => format!("{} {n}", v["type"].as_str().unwrap()),
                None => format!("{} {}", v["type"].as_str().unwrap(), v["object"]["code"]),
            }
        })
        .collect()
}

#[tokio::test]
async fn server_side_apply_creates_and_updates() {
    let (server, client, _d) = start().await;
    server.apply_scenario(&scenario::bookinfo()).unwrap();
    let api = httproutes(&client, "istio-demo");
    let route = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "details"},
        "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "details"}], "rules": [{"backendRefs": [{"name": "details", "port": 9080}]}]}});
    let pp = PatchParams::apply("kubectl-mesh").force();
    let created = api.patch("details", &pp, &Patch::Apply(&route)).await.unwrap();
    assert_eq!(created.data["spec"]["rules"][0]["backendRefs"][0]["weight"], 1);
    let mf = created.metadata.managed_fields.unwrap();
    assert_eq!(mf[0].manager.as_deref(), Some("kubectl-mesh"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    let mut route2 = route.clone();
    route2["spec"]["hostnames"] = json!(["details.local"]);
    let updated = api.patch("details", &pp, &Patch::Apply(&route2)).await.unwrap();
    assert_eq!(updated.data["spec"]["hostnames"][0], "details.local");
    assert!(server.get("httproute", Some("istio-demo"), "details").is_some());
}

#[tokio::test]
async fn watch_streams_events_after_a_resource_version_and_ends_on_timeout() {
    let (server, client, _d) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    server.insert(cm("before", json!({}))).unwrap();
    let rv = server.resource_version().to_string();
    let s2 = server.sandbox();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        s2.insert(cm("after", json!({"x": "1"}))).unwrap();
        s2.delete("configmaps", Some("default"), "after").unwrap();
    });
    let started = std::time::Instant::now();
    let req = http::Request::get(format!(
        "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=2&resourceVersion={rv}"
    ))
    .body(vec![])
    .unwrap();
    let text = client.request_text(req).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(watch_lines(&text), vec!["ADDED after", "DELETED after"]);
    let _ = api;
}

#[tokio::test]
async fn watch_from_a_compacted_resource_version_gets_410() {
    let (server, client, _d) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    server.insert(cm("a", json!({}))).unwrap();
    server.compact();
    let req = http::Request::get("/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&resourceVersion=2")
        .body(vec![])
        .unwrap();
    let text = client.request_text(req).await.unwrap();
    assert_eq!(watch_lines(&text), vec!["ERROR 410"]);
    let _ = api;
}

#[tokio::test]
async fn eviction_is_refused_with_429_when_a_pdb_allows_no_disruption() {
    let (server, client, _d) = start().await;
    server.apply_scenario(&scenario::bookinfo()).unwrap();
    server
        .insert(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "ratings", "namespace": "istio-demo"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "ratings"}}}}))
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "istio-demo");
    let pod = server.list_selected("pods", Some("istio-demo"), "app=ratings")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let err = pods.evict(&pod, &Default::default()).await.unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 429);
            assert_eq!(
                s.message,
                "Cannot evict pod as it would violate the pod's disruption budget."
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(server.get("pods", Some("istio-demo"), &pod).is_some());
    // Without the budget, the pod is evicted: Terminating (as on a real cluster) while its ReplicaSet
    // replaces it at once, then gone when its kubelet is done.
    server.delete("pdb", Some("istio-demo"), "ratings").unwrap();
    pods.evict(&pod, &Default::default()).await.unwrap();
    let evicted = server
        .get("pods", Some("istio-demo"), &pod)
        .expect("still listed while terminating");
    assert!(evicted["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(evicted["metadata"]["deletionGracePeriodSeconds"], 30);
    assert!(evicted["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "DisruptionTarget" && c["reason"] == "EvictionByEvictionAPI"));
    assert_eq!(server.list_selected("pods", Some("istio-demo"), "app=ratings").len(), 2);
    for _ in 0..100 {
        if server.get("pods", Some("istio-demo"), &pod).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(server.get("pods", Some("istio-demo"), &pod).is_none());
    assert_eq!(server.list_selected("pods", Some("istio-demo"), "app=ratings").len(), 1);
}

#[tokio::test]
async fn faults_fire_the_configured_number_of_times() {
    let (server, client, _d) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    server.inject(
        Fault::status(409, "injected conflict")
            .method("GET")
            .path("/configmaps")
            .once(),
    );
    let err = api.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );
    api.list(&ListParams::default()).await.unwrap();

    server.inject(Fault::status(500, "boom").path("/configmaps/x").always());
    for _ in 0..3 {
        assert!(api.get("x").await.is_err());
    }
    let five_hundreds = server.requests().iter().filter(|r| r.status == 500).count();
    assert_eq!(five_hundreds, 3);
    server.clear_faults();

    server.inject(Fault::delay(Duration::from_millis(300)).path("/configmaps").once());
    let t = std::time::Instant::now();
    api.list(&ListParams::default()).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));

    server.inject(Fault::reset().path("/configmaps").once());
    assert!(api.list(&ListParams::default()).await.is_err());
    api.list(&ListParams::default()).await.unwrap();

    server.inject(Fault::reset_mid_body().path("/configmaps").once());
    assert!(api.list(&ListParams::default()).await.is_err());
    api.list(&ListParams::default()).await.unwrap();

    server.inject(Fault::status(429, "slow down").retry_after(3).once());
    let err = api.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 429 && s.reason == "TooManyRequests"),
        "{err:?}"
    );
}

#[tokio::test]
async fn rbac_rules_answer_403_with_the_real_message() {
    let (server, client, _d) = start().await;
    server.apply_scenario(&scenario::bookinfo()).unwrap();
    server.set_rbac(Some(vec![RbacRule::new(
        &[""],
        &["configmaps"],
        &["get", "list"],
        &["istio-demo"],
    )]));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "istio-demo");
    let err = pods.list(&ListParams::default()).await.unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 403);
            assert_eq!(s.message, "pods is forbidden: User \"test\" cannot list resource \"pods\" in API group \"\" in the namespace \"istio-demo\"");
        }
        other => panic!("{other:?}"),
    }
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "istio-demo");
    cms.list(&ListParams::default()).await.unwrap();
    // SelfSubjectAccessReview answers from the same rules.
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let ssar: Api<SelfSubjectAccessReview> = Api::all(client);
    let review = |verb: &str, resource: &str| SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some("istio-demo".into()),
                verb: Some(verb.into()),
                resource: Some(resource.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let yes = ssar
        .create(&PostParams::default(), &review("list", "configmaps"))
        .await
        .unwrap();
    assert!(yes.status.unwrap().allowed);
    let no = ssar
        .create(&PostParams::default(), &review("patch", "configmaps"))
        .await
        .unwrap();
    assert!(!no.status.unwrap().allowed);
}

#[tokio::test]
async fn creating_in_a_missing_namespace_is_404_and_duplicates_are_409() {
    let (server, client, _d) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "nope");
    let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap();
    let err = api.create(&PostParams::default(), &c).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 404 && s.message == "namespaces \"nope\" not found"),
        "{err:?}"
    );
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &c).await.unwrap();
    let err = api.create(&PostParams::default(), &c).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );
    let err = api.get("zzz").await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 404 && s.message == "configmaps \"zzz\" not found"),
        "{err:?}"
    );
    assert!(server.get("cm", Some("default"), "a").is_some());
}

#[tokio::test]
async fn status_subresource_is_separate_from_the_main_resource() {
    let (server, client, _d) = start().await;
    server.apply_scenario(&scenario::bookinfo()).unwrap();
    let api = httproutes(&client, "istio-demo");
    let before = api.get("reviews").await.unwrap();
    // A main-resource write cannot change status.
    let p = json!({"status": {"parents": []}, "spec": {"hostnames": ["r"]}});
    let out = api
        .patch("reviews", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(out.data["status"], before.data["status"]);
    assert_eq!(out.data["spec"]["hostnames"], json!(["r"]));
    // A status write changes only status.
    let p = json!({"status": {"parents": []}, "spec": {"hostnames": ["ignored"]}});
    let out = api
        .patch_status("reviews", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(out.data["status"]["parents"], json!([]));
    assert_eq!(out.data["spec"]["hostnames"], json!(["r"]));
    assert_eq!(out.metadata.generation, Some(2));
}

#[tokio::test]
async fn generate_name_creates_unique_names() {
    let (_server, client, _d) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let c: ConfigMap = serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap();
    let a = api.create(&PostParams::default(), &c).await.unwrap();
    let b = api.create(&PostParams::default(), &c).await.unwrap();
    let (a, b) = (a.metadata.name.unwrap(), b.metadata.name.unwrap());
    assert!(a.starts_with("gen-") && b.starts_with("gen-") && a != b, "{a} {b}");
    assert_eq!(a.len(), "gen-".len() + 5);
}

#[tokio::test]
async fn ready_delay_shows_a_rollout_in_progress() {
    let server = ApiServer::start(ServerOptions {
        ready_delay: Some(Duration::from_millis(1500)),
        ..Default::default()
    })
    .await
    .unwrap();
    server.apply_scenario(&scenario::bookinfo()).unwrap();
    let d = server.get("deploy", Some("istio-demo"), "reviews-v1").unwrap();
    assert_eq!(d["status"]["readyReplicas"], 0);
    assert_eq!(d["status"]["unavailableReplicas"], 1);
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let d = server.get("deploy", Some("istio-demo"), "reviews-v1").unwrap();
    assert_eq!(d["status"]["readyReplicas"], 1);
    let slice = &server.list_selected(
        "endpointslices",
        Some("istio-demo"),
        "kubernetes.io/service-name=reviews-v1",
    )[0];
    assert_eq!(slice["endpoints"][0]["conditions"]["ready"], true);
}

#[tokio::test]
async fn ready_pods_without_init_containers_have_no_init_container_statuses() {
    let server = ApiServer::start(ServerOptions {
        ready_delay: Some(Duration::from_millis(200)),
        ..Default::default()
    })
    .await
    .unwrap();
    server.apply_scenario(&scenario::bookinfo()).unwrap();
    let gateway_pods = || {
        server.list_selected(
            "pods",
            Some("istio-demo"),
            "gateway.networking.k8s.io/gateway-name=bookinfo-gateway",
        )
    };
    assert_eq!(gateway_pods().len(), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gateway_pods()[0]["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Ready" && c["status"] != "True")
    {
        assert!(std::time::Instant::now() < deadline, "gateway pod never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Over the wire too: the JSON a client reads has no `initContainerStatuses` key at all.
    let dir = tempfile::tempdir().unwrap();
    let path = server.write_kubeconfig(dir.path(), None).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let req = http::Request::get("/api/v1/pods").body(Vec::new()).unwrap();
    let list: Value = serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap();
    let pods = list["items"].as_array().unwrap();
    let mut without_inits = 0;
    for p in pods {
        let name = p["metadata"]["name"].as_str().unwrap();
        let status = p["status"].as_object().unwrap();
        if p["spec"].get("initContainers").is_none() {
            without_inits += 1;
            assert!(!status.contains_key("initContainerStatuses"), "{name}: {status:?}");
        }
        assert!(status.values().all(|v| !v.is_null()), "{name}: {status:?}");
    }
    assert!(
        without_inits >= 2,
        "istiod and the gateway pod run without init containers"
    );
    let injected = pods
        .iter()
        .find(|p| p["metadata"]["name"].as_str().unwrap().starts_with("reviews-v1-"))
        .unwrap();
    assert_eq!(injected["status"]["initContainerStatuses"][0]["name"], "istio-init");
}

#[tokio::test]
async fn istio_kinds_are_served_at_their_older_versions_too() {
    let (server, client, _d) = start().await;
    server.apply_scenario(&scenario::bookinfo().strict_mtls()).unwrap();
    let api_at = |group: &str, version: &str, kind: &str, ns: &str| -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
    };
    // The scenario stored the PeerAuthentication at v1; v1beta1 lists the same object.
    for version in ["v1", "v1beta1"] {
        let list = api_at("security.istio.io", version, "PeerAuthentication", "istio-system")
            .list(&ListParams::default())
            .await
            .unwrap();
        let names: Vec<_> = list.items.iter().map(|o| o.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, ["default"], "{version}");
        let pa = &list.items[0];
        assert_eq!(
            pa.types.as_ref().unwrap().api_version,
            format!("security.istio.io/{version}")
        );
        assert_eq!(pa.data["spec"]["mtls"]["mode"], "STRICT");
    }
    // Written at v1beta1 (or v1alpha3), read at v1 and the other way round.
    let dr = serde_json::from_value(
        json!({"apiVersion": "networking.istio.io/v1alpha3", "kind": "DestinationRule",
        "metadata": {"name": "reviews", "namespace": "istio-demo"},
        "spec": {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}}),
    )
    .unwrap();
    api_at("networking.istio.io", "v1alpha3", "DestinationRule", "istio-demo")
        .create(&PostParams::default(), &dr)
        .await
        .unwrap();
    for version in ["v1", "v1beta1", "v1alpha3"] {
        let got = api_at("networking.istio.io", version, "DestinationRule", "istio-demo")
            .get("reviews")
            .await
            .unwrap();
        assert_eq!(got.types.unwrap().api_version, format!("networking.istio.io/{version}"));
        assert_eq!(got.data["spec"]["subsets"][0]["name"], "v1");
    }
    let ap = serde_json::from_value(
        json!({"apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy",
        "metadata": {"name": "deny-all", "namespace": "istio-demo"}, "spec": {}}),
    )
    .unwrap();
    api_at("security.istio.io", "v1beta1", "AuthorizationPolicy", "istio-demo")
        .create(&PostParams::default(), &ap)
        .await
        .unwrap();
    let read = server
        .get("authorizationpolicies", Some("istio-demo"), "deny-all")
        .unwrap();
    assert_eq!(read["apiVersion"], "security.istio.io/v1");
    // Discovery names every version and prefers v1.
    let groups: Value = serde_json::from_str(
        &client
            .request_text(http::Request::get("/apis").body(Vec::new()).unwrap())
            .await
            .unwrap(),
    )
    .unwrap();
    let group = |name: &str| {
        let g = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .unwrap();
        let versions: Vec<&str> = g["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_str().unwrap())
            .collect();
        (versions, g["preferredVersion"]["version"].as_str().unwrap().to_string())
    };
    assert_eq!(group("security.istio.io"), (vec!["v1", "v1beta1"], "v1".to_string()));
    assert_eq!(
        group("networking.istio.io"),
        (vec!["v1", "v1beta1", "v1alpha3"], "v1".to_string())
    );
    // A version Istio does not serve stays a 404.
    let err = api_at("security.istio.io", "v1alpha1", "PeerAuthentication", "istio-system")
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 404), "{err:?}");
}

#[tokio::test]
async fn odd_bodies_get_clean_errors_and_the_server_keeps_serving() {
    let (server, client, _d) = start().await;
    server.apply_scenario(&scenario::bookinfo()).unwrap();
    let cases: Vec<(&str, &str, &str, String)> = vec![
        ("POST", "/api/v1/namespaces/istio-demo/pods", "application/json", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":"nope"}"#.into()),
        ("POST", "/api/v1/namespaces/istio-demo/pods", "application/json", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","labels":"a"}}"#.into()),
        ("POST", "/api/v1/namespaces/istio-demo/pods", "application/json", "[1,2]".into()),
        ("POST", "/api/v1/namespaces/istio-demo/pods", "application/json", "{not json".into()),
        ("POST", "/apis/apps/v1/namespaces/istio-demo/deployments", "application/json", r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"metadata":"m"}}}"#.into()),
        ("PATCH", "/apis/apps/v1/namespaces/istio-demo/deployments/reviews-v1", "application/merge-patch+json", r#"{"spec":{"template":{"spec":{"containers":"x"}}}}"#.into()),
        ("PATCH", "/apis/apps/v1/namespaces/istio-demo/deployments/reviews-v1", "application/json-patch+json", r#"[{"op":"replace","path":"/metadata","value":"x"}]"#.into()),
        ("PATCH", "/apis/apps/v1/namespaces/istio-demo/deployments/reviews-v1", "application/apply-patch+yaml", "- a\n- b\n".into()),
        ("PATCH", "/apis/apps/v1/namespaces/istio-demo/deployments/reviews-v1", "text/plain", "{}".into()),
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "application/json", "[]".into()),
        ("GET", "/api/v1/namespaces/istio-demo/pods?labelSelector=app%20in%20(", "", String::new()),
        ("GET", "/apis/nope/v1/things", "", String::new()),
        ("PUT", "/api/v1/namespaces/istio-demo/pods/x/status", "application/json", "null".into()),
    ];
    for (method, path, ct, body) in cases {
        let mut req = http::Request::builder().method(method).uri(path);
        if !ct.is_empty() {
            req = req.header("content-type", ct);
        }
        let err = client
            .request_text(req.body(body.clone().into_bytes()).unwrap())
            .await
            .unwrap_err();
        match err {
            kube::Error::Api(s) => assert!((400..500).contains(&s.code), "{method} {path} {body}: {s:?}"),
            other => panic!("{method} {path} {body}: {other:?}"),
        }
    }
    // Still serving, store intact.
    let d = server.get("deploy", Some("istio-demo"), "reviews-v1").unwrap();
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["name"], "reviews");
    let pods: Api<Pod> = Api::namespaced(client, "istio-demo");
    assert!(!pods.list(&ListParams::default()).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn kube_discovery_sees_gateway_api_only_when_crds_are_installed() {
    let (server, client, _d) = start().await;
    server.apply_scenario(&scenario::bookinfo().no_crds()).unwrap();
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    assert!(discovery.get("gateway.networking.k8s.io").is_none());
    let (ar, caps) = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .find(|(ar, _)| ar.kind == "Pod")
        .unwrap();
    assert_eq!(ar.plural, "pods");
    assert!(
        caps.subresources
            .iter()
            .any(|(s, _)| s.plural == "pods/eviction" || s.plural == "eviction"),
        "{:?}",
        caps.subresources
    );

    server.load_yaml(scenario::GATEWAY_API_V1_0_CRDS).unwrap();
    let discovery = kube::Discovery::new(client).run().await.unwrap();
    let group = discovery.get("gateway.networking.k8s.io").unwrap();
    assert_eq!(group.preferred_version_or_latest(), "v1");
    let (ar, _) = group.recommended_kind("HTTPRoute").unwrap();
    assert_eq!(ar.plural, "httproutes");
}

#[tokio::test]
async fn selector_watches_see_objects_enter_and_leave() {
    let (server, client, _d) = start().await;
    server.insert(cm("moving", json!({"team": "a"}))).unwrap();
    let rv = server.resource_version();
    let s2 = server.sandbox();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        s2.insert(cm("moving", json!({"team": "b"}))).unwrap();
        s2.insert(cm("moving", json!({"team": "a"}))).unwrap();
    });
    let req = http::Request::get(format!(
        "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&resourceVersion={rv}&labelSelector=team%3Da"
    ))
    .body(vec![])
    .unwrap();
    let text = client.request_text(req).await.unwrap();
    assert_eq!(watch_lines(&text), vec!["DELETED moving", "ADDED moving"]);
}
