//! The scale scenario (issue 8) is what it says it is: its summary matches the store, its pods are as large
//! as real injected pods, its broken shares are real, and the request log measures what a benchmark needs
//! (bytes sent per request, start and end of each request).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mesh_sandbox::scale::{has_proxy, ScaleScenario, ScaleSummary};
use mesh_sandbox::{sequential_round_trips, Fault, RequestRecord, ServerOptions, Store, TestServer};
use serde_json::{json, Value};

fn team(obj: &Value) -> bool {
    obj["metadata"]["namespace"]
        .as_str()
        .or_else(|| obj["metadata"]["name"].as_str().filter(|_| obj["kind"] == "Namespace"))
        .is_some_and(|ns| ns.starts_with("team-"))
}

fn count(store: &Store, group: &str, plural: &str) -> usize {
    store.all(group, plural).filter(|o| team(o)).count()
}

fn small() -> ScaleScenario {
    ScaleScenario {
        namespaces: 20,
        pods_per_namespace: 50,
        services: 150,
        routes: 50,
        ..ScaleScenario::default()
    }
}

fn started(scenario: &ScaleScenario) -> (TestServer, ScaleSummary) {
    let server = TestServer::start(ServerOptions::default()).unwrap();
    let summary = server.apply_scale(scenario).unwrap();
    (server, summary)
}

/// When the pod's istio-proxy started, if it has one.
fn proxy_started_at(pod: &Value) -> Option<jiff::Timestamp> {
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .flat_map(|k| pod["status"][k].as_array().cloned().unwrap_or_default())
        .find(|c| c["name"] == "istio-proxy")
        .and_then(|c| c["state"]["running"]["startedAt"].as_str()?.parse().ok())
}

/// What a raw HTTP/1.1 client receives: status, headers (lowercase names), and the body as sent.
fn raw_get(addr: SocketAddr, path_and_query: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

/// The log record of the last request whose `path?query` is this.
fn record_of(server: &TestServer, path: &str, query: &str) -> RequestRecord {
    server
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path == path && r.query == query)
        .unwrap()
}

#[test]
fn default_scale_cluster_holds_what_its_summary_says() {
    let scenario = ScaleScenario::default();
    let server = TestServer::start(ServerOptions::default()).unwrap();
    let t = Instant::now();
    let s = server.apply_scale(&scenario).unwrap();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: ?");
    eprintln!("built {} pods in {:?}; peak RSS {peak}", s.pods, t.elapsed());
    assert_eq!((s.namespaces, s.pods, s.services, s.routes), (200, 10_000, 1_500, 500));
    server.with_store(|store| {
        assert_eq!(count(store, "", "namespaces"), s.namespaces);
        assert_eq!(count(store, "", "pods"), s.pods);
        assert_eq!(count(store, "apps", "deployments"), s.deployments);
        assert_eq!(count(store, "apps", "replicasets"), s.replica_sets);
        assert_eq!(count(store, "", "services"), s.services);
        assert_eq!(count(store, "discovery.k8s.io", "endpointslices"), s.endpoint_slices);
        assert_eq!(count(store, "gateway.networking.k8s.io", "httproutes"), s.routes);
        assert_eq!(count(store, "", "serviceaccounts"), s.service_accounts);
        let root_cms = store
            .all("", "configmaps")
            .filter(|c| team(c) && c["metadata"]["name"] == "istio-ca-root-cert")
            .count();
        assert_eq!(root_cms, s.config_maps);
        assert_eq!(s.config_maps, s.namespaces);
        // Every pod runs, and every namespace ended up injected.
        assert!(store
            .all("", "pods")
            .filter(|p| team(p))
            .all(|p| p["status"]["phase"] == "Running"));
        assert!(store
            .all("", "namespaces")
            .filter(|n| team(n))
            .all(|n| n["metadata"]["labels"]["istio-injection"] == "enabled"));
    });
    // A realistic share of each fault, not none and not most.
    assert!(s.stale_sidecar_pods * 100 >= s.pods * 2 && s.stale_sidecar_pods * 100 <= s.pods * 10);
    assert!(s.missing_sidecar_pods * 100 >= s.pods && s.missing_sidecar_pods * 100 <= s.pods * 10);
}

#[test]
fn stale_and_missing_sidecars_are_what_the_summary_says() {
    let (server, s) = started(&small());
    let not_before = s.root_cert_not_before;
    let (mut stale, mut missing, mut fresh) = (0, 0, 0);
    server.with_store(|store| {
        // The current root is the one every namespace's ConfigMap holds.
        for cm in store
            .all("", "configmaps")
            .filter(|c| team(c) && c["metadata"]["name"] == "istio-ca-root-cert")
        {
            let pem = cm["data"]["root-cert.pem"].as_str().unwrap();
            assert_eq!(mesh_sandbox::scenario::cert_not_before(pem), Some(not_before));
        }
        for pod in store.all("", "pods").filter(|p| team(p)) {
            match proxy_started_at(pod) {
                None => {
                    assert!(!has_proxy(pod), "a pod with a proxy has its status");
                    missing += 1;
                }
                Some(at) if at < not_before => stale += 1,
                Some(_) => fresh += 1,
            }
        }
    });
    assert_eq!(stale, s.stale_sidecar_pods);
    assert_eq!(missing, s.missing_sidecar_pods);
    assert!(stale > 0 && missing > 0 && fresh > stale + missing);
    assert_eq!(stale + missing + fresh, s.pods);
}

#[test]
fn pods_without_sidecars_are_whole_deployments_created_before_injection() {
    let (server, s) = started(&small());
    let without: BTreeSet<(String, String)> = server.with_store(|store| {
        store
            .all("", "pods")
            .filter(|p| team(p) && !has_proxy(p))
            .map(|p| {
                let ns = p["metadata"]["namespace"].as_str().unwrap().to_string();
                (
                    ns,
                    p["metadata"]["labels"]["app"].as_str().unwrap().to_string()
                        + "-"
                        + p["metadata"]["labels"]["version"].as_str().unwrap(),
                )
            })
            .collect()
    });
    assert_eq!(without.len(), s.missing_sidecar_deployments);
    for (ns, deployment) in &without {
        let pods = server.list_selected("pods", Some(ns), "");
        let mine: Vec<&Value> = pods
            .iter()
            .filter(|p| {
                format!(
                    "{}-{}",
                    p["metadata"]["labels"]["app"].as_str().unwrap(),
                    p["metadata"]["labels"]["version"].as_str().unwrap()
                ) == *deployment
            })
            .collect();
        assert!(!mine.is_empty());
        assert!(
            mine.iter().all(|p| !has_proxy(p)),
            "{ns}/{deployment} is partly injected"
        );
        // The namespace is injected now, so a restart would fix them: what `recover` relies on.
        let namespace = server.get("namespaces", None, ns).unwrap();
        assert_eq!(namespace["metadata"]["labels"]["istio-injection"], "enabled");
    }
}

#[test]
fn scale_pods_are_as_large_as_real_injected_pods() {
    let (server, s) = started(&small());
    let (status, _, body) = raw_get(server.addr(), "/api/v1/namespaces/team-003/pods");
    assert_eq!(status, 200);
    let list: Value = serde_json::from_slice(&body).unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), s.pods / s.namespaces);
    let avg = body.len() / items.len();
    eprintln!("average pod JSON: {avg} bytes");
    assert!(avg >= 5_000, "pods average {avg} bytes");
    // The proxy is the real one: ~20 env vars, probes, resources, securityContext, the istio volumes.
    let injected = items.iter().find(|p| has_proxy(p)).unwrap();
    let proxy = injected["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "istio-proxy")
        .unwrap();
    assert_eq!(proxy["env"].as_array().unwrap().len(), 20);
    for k in [
        "readinessProbe",
        "startupProbe",
        "resources",
        "securityContext",
        "volumeMounts",
        "ports",
    ] {
        assert!(!proxy[k].is_null(), "istio-proxy has no {k}");
    }
    let owner = proxy["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "ISTIO_META_OWNER")
        .unwrap();
    let app = injected["metadata"]["labels"]["app"].as_str().unwrap();
    let version = injected["metadata"]["labels"]["version"].as_str().unwrap();
    assert_eq!(
        owner["value"],
        format!("kubernetes://apis/apps/v1/namespaces/team-003/deployments/{app}-{version}")
    );
}

#[test]
fn routes_are_schema_valid_mesh_routes_splitting_over_version_services() {
    let (server, s) = started(&small());
    let routes = server.list("httproutes", None);
    let routes: Vec<&Value> = routes.iter().filter(|r| team(r)).collect();
    assert_eq!(routes.len(), s.routes);
    for r in &routes {
        let ns = r["metadata"]["namespace"].as_str();
        let parent = &r["spec"]["parentRefs"][0];
        assert_eq!(
            (parent["group"].as_str(), parent["kind"].as_str()),
            (Some(""), Some("Service"))
        );
        let parent_name = parent["name"].as_str().unwrap();
        assert!(server.get("services", ns, parent_name).is_some());
        // Stored through the CRD schema: its defaults are there.
        assert_eq!(r["spec"]["rules"][0]["matches"][0]["path"]["type"], "PathPrefix");
        let backends = r["spec"]["rules"][0]["backendRefs"].as_array().unwrap();
        let total: i64 = backends.iter().map(|b| b["weight"].as_i64().unwrap()).sum();
        assert_eq!(total, 100);
        for (i, b) in backends.iter().enumerate() {
            let name = b["name"].as_str().unwrap();
            assert_eq!(name, format!("{parent_name}-v{}", i + 1));
            assert!(server.get("services", ns, name).is_some(), "{name} missing");
        }
    }
    assert!(routes
        .iter()
        .any(|r| r["spec"]["rules"][0]["backendRefs"][1]["weight"].as_i64().unwrap_or(0) > 0));
    // The same write path refuses a route the schema forbids.
    let mut bad = routes[0].clone();
    bad["metadata"] = json!({"name": "bad", "namespace": routes[0]["metadata"]["namespace"]});
    bad["spec"]["rules"][0]["backendRefs"][0]["weight"] = json!(-1);
    let e = server.insert(bad).unwrap_err();
    assert_eq!(e.code, 422);
}

#[test]
fn paginated_pod_list_returns_every_pod_once_and_logs_bytes_sent() {
    let (server, s) = started(&small());
    let expected: BTreeSet<String> = server.with_store(|store| {
        store
            .all("", "pods")
            .map(|p| {
                format!(
                    "{}/{}",
                    p["metadata"]["namespace"].as_str().unwrap(),
                    p["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    });
    assert!(expected.len() > s.pods);
    server.clear_log();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let query = match &token {
            None => "limit=500".to_string(),
            Some(t) => format!("limit=500&continue={t}"),
        };
        let (status, headers, body) = raw_get(server.addr(), &format!("/api/v1/pods?{query}"));
        assert_eq!(status, 200);
        let rec = record_of(&server, "/api/v1/pods", &query);
        assert_eq!(
            rec.response_bytes,
            body.len() as u64,
            "logged bytes are the bytes received"
        );
        let length: u64 = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .unwrap()
            .1
            .parse()
            .unwrap();
        assert_eq!(length, body.len() as u64);
        assert!(rec.started <= rec.finished);
        pages.push(rec);
        let page: Value = serde_json::from_slice(&body).unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 500);
        seen.extend(items.iter().map(|p| {
            format!(
                "{}/{}",
                p["metadata"]["namespace"].as_str().unwrap(),
                p["metadata"]["name"].as_str().unwrap()
            )
        }));
        token = page["metadata"]["continue"].as_str().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a pod came twice");
    assert_eq!(unique, expected);
    assert_eq!(pages.len(), expected.len().div_ceil(500));
    // One page after the other: as many sequential round trips as pages.
    assert_eq!(sequential_round_trips(&server.requests()), pages.len());
    assert!(pages.windows(2).all(|w| w[0].finished <= w[1].started));
}

#[test]
fn streamed_answers_log_the_bytes_actually_sent() {
    let server = TestServer::start(ServerOptions::default()).unwrap();
    server
        .apply_scale(&ScaleScenario {
            namespaces: 1,
            services: 3,
            routes: 1,
            ..small()
        })
        .unwrap();
    // A watch that times out: its record is completed when the stream ends.
    let query = "watch=true&timeoutSeconds=1";
    let (status, _, body) = raw_get(server.addr(), &format!("/api/v1/namespaces/team-000/pods?{query}"));
    assert_eq!(status, 200);
    assert!(
        body.len() > 50 * 5_000,
        "initial events of 50 pods: {} bytes",
        body.len()
    );
    let rec = record_of(&server, "/api/v1/namespaces/team-000/pods", query);
    assert_eq!(rec.response_bytes, body.len() as u64);
    assert!(rec.finished >= rec.started + Duration::from_millis(900), "{rec:?}");
    // A body broken mid-way: only what was sent counts.
    server.inject(
        Fault::reset_mid_body()
            .path("/api/v1/namespaces/team-000/services")
            .once(),
    );
    let mut s = TcpStream::connect(server.addr()).unwrap();
    write!(
        s,
        "GET /api/v1/namespaces/team-000/services HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let deadline = Instant::now() + Duration::from_secs(5);
    let rec = loop {
        let rec = record_of(&server, "/api/v1/namespaces/team-000/services", "");
        if rec.response_bytes > 0 || Instant::now() > deadline {
            break rec;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(rec.response_bytes, br#"{"kind":""#.len() as u64);
}

#[test]
fn round_trips_count_concurrent_requests_once() {
    let at = |start: u64, end: u64| RequestRecord {
        method: "GET".into(),
        path: "/api/v1/pods".into(),
        query: String::new(),
        content_type: String::new(),
        status: 200,
        dry_run: false,
        watch: false,
        body: None,
        response_bytes: 10,
        started: Duration::from_millis(start),
        finished: Duration::from_millis(end),
    };
    // Three reads at once, then a write after them: two round trips.
    let shift = [at(0, 10), at(1, 12), at(2, 8), at(13, 20)];
    assert_eq!(sequential_round_trips(&shift), 2);
    // Four one after the other.
    let serial = [at(0, 5), at(5, 9), at(10, 11), at(12, 30)];
    assert_eq!(sequential_round_trips(&serial), 4);
    let mut with_watch = serial.to_vec();
    with_watch.push(RequestRecord {
        watch: true,
        ..at(31, 40)
    });
    assert_eq!(sequential_round_trips(&with_watch), 4);
    assert_eq!(sequential_round_trips(&[]), 0);
}

#[test]
fn pods_keeps_fifty_a_namespace() {
    let s = ScaleScenario::pods(1_000);
    assert_eq!(
        (s.namespaces, s.pods_per_namespace, s.services, s.routes),
        (20, 50, 150, 50)
    );
    let d = ScaleScenario::default();
    assert_eq!(ScaleScenario::pods(10_000), d);
    assert_eq!(ScaleScenario::pods(50_000).namespaces, 1_000);
}

/// Not run by default (a minute in debug): `cargo test --release --test sandbox_scale -- --ignored --nocapture`.
#[test]
#[ignore]
fn fifty_thousand_pods_build_in_well_under_a_minute() {
    let server = TestServer::start(ServerOptions::default()).unwrap();
    let t = Instant::now();
    let s = server.apply_scale(&ScaleScenario::pods(50_000)).unwrap();
    let took = t.elapsed();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: ?");
    eprintln!("built {} pods in {took:?}; peak RSS {peak}", s.pods);
    assert_eq!(s.pods, 50_000);
    let t = Instant::now();
    let (_, _, body) = raw_get(server.addr(), "/api/v1/pods?limit=500");
    eprintln!("first page of 500 pods: {} bytes in {:?}", body.len(), t.elapsed());
    if !cfg!(debug_assertions) {
        assert!(took < Duration::from_secs(60), "took {took:?}");
    }
}
