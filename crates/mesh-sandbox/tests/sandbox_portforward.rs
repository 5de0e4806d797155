//! The sandbox's pod port-forward, spoken to by kube-rs and by a raw WebSocket client: the kubelet's
//! `v4.channel.k8s.io` framing, the fake Envoy admin behind port 15000, refused ports, 404, RBAC and faults.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use mesh_sandbox::{scenario, ApiServer, Fault, RbacRule, ServerOptions};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

async fn start(s: scenario::Scenario) -> (ApiServer, kube::Client, tempfile::TempDir) {
    let server = ApiServer::start(ServerOptions::default()).await.unwrap();
    server.apply_scenario(&s).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = server.write_kubeconfig(dir.path(), Some("istio-demo")).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    config.default_retry = false;
    let client = kube::Client::try_from(config).unwrap();
    server.clear_log();
    (server, client, dir)
}

fn pod_of(server: &ApiServer, ns: &str, selector: &str) -> String {
    server.list_selected("pods", Some(ns), selector)[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Send `requests` over a port-forward to `pod`:15000 and read until the forward closes.
async fn admin(client: &kube::Client, pod: &str, requests: &str) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "istio-demo");
    let mut pf = pods.portforward(pod, &[15000]).await.unwrap();
    let mut stream = pf.take_stream(15000).unwrap();
    stream.write_all(requests.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .expect("the forward closes after Connection: close")
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// Undo chunked transfer encoding of one HTTP answer's body.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let (size, tail) = rest.split_once("\r\n").unwrap();
        let n = usize::from_str_radix(size, 16).unwrap();
        if n == 0 {
            return out;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
}

#[tokio::test]
async fn envoy_admin_answers_certs_through_kube_rs_port_forward() {
    let (server, client, _dir) = start(scenario::bookinfo().stale_root_cert()).await;
    let stale = pod_of(&server, "istio-demo", "app=reviews,version=v2");
    let fresh = pod_of(&server, "istio-demo", "app=reviews,version=v1");
    let serials = |answer: &str| -> Vec<String> {
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        let certs: Value = serde_json::from_str(&dechunk(body)).unwrap();
        let entry = &certs["certificates"][0];
        assert!(entry["cert_chain"][0]["subject_alt_names"][0]["uri"]
            .as_str()
            .unwrap()
            .starts_with("spiffe://cluster.local/ns/istio-demo/sa/bookinfo-"));
        entry["ca_cert"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["serial_number"].as_str().unwrap().to_string())
            .collect()
    };
    let get = "GET /certs HTTP/1.1\r\nHost: 127.0.0.1:15000\r\nConnection: close\r\n\r\n";
    // The old root (serial 1000) for the sidecar that started before the rotated root (serial 1001).
    assert_eq!(serials(&admin(&client, &stale, get).await), ["1000"]);
    assert_eq!(serials(&admin(&client, &fresh, get).await), ["1001"]);
    // Keep-alive: two requests on one forwarded connection; unknown paths answer 404.
    let two = admin(
        &client,
        &fresh,
        "GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(two.starts_with("HTTP/1.1 404 Not Found\r\n"), "{two}");
    assert!(two.contains("HTTP/1.1 200 OK\r\n") && two.contains("LIVE\n"), "{two}");
    // The request log records each forward as the upgrade it is.
    let log: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/portforward"))
        .collect();
    assert_eq!(log.len(), 3);
    assert!(log
        .iter()
        .all(|r| r.method == "GET" && r.status == 101 && !r.is_write()));
}

#[tokio::test]
async fn the_kubelet_framing_is_v4_with_port_frames_on_data_and_error_channels() {
    let (server, _client, _dir) = start(scenario::bookinfo()).await;
    let pod = pod_of(&server, "istio-demo", "app=details");
    let url = format!(
        "ws://{}/api/v1/namespaces/istio-demo/pods/{pod}/portforward?ports=15000",
        server.addr()
    );
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "v5.channel.k8s.io, v4.channel.k8s.io".parse().unwrap(),
    );
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "v4.channel.k8s.io");
    let port = 15000u16.to_le_bytes();
    let mut first = Vec::new();
    for _ in 0..2 {
        match ws.next().await.unwrap().unwrap() {
            Message::Binary(b) => first.push(b.to_vec()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(first, vec![vec![0, port[0], port[1]], vec![1, port[0], port[1]]]);
    let mut req = vec![0u8];
    req.extend_from_slice(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ws.send(Message::binary(req)).await.unwrap();
    let mut data = Vec::new();
    let mut closed = false;
    while let Some(Ok(msg)) = ws.next().await {
        match msg {
            Message::Binary(b) => {
                assert_eq!(b[0], 0, "answers come on the data channel");
                data.extend_from_slice(&b[1..]);
            }
            Message::Close(_) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "the forward ends with a WebSocket close");
    let text = String::from_utf8(data).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\n") && text.contains("LIVE"),
        "{text}"
    );

    // Only the v4 binary protocol (or none) is spoken.
    let mut request = format!(
        "ws://{}/api/v1/namespaces/istio-demo/pods/{pod}/portforward?ports=15000",
        server.addr()
    )
    .into_client_request()
    .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "v5.channel.k8s.io".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_err());
}

#[tokio::test]
async fn ports_nothing_listens_on_report_on_the_error_channel() {
    let (server, client, _dir) = start(scenario::bookinfo()).await;
    let details = pod_of(&server, "istio-demo", "app=details");
    let istiod = pod_of(&server, "istio-system", "app=istiod");
    for (ns, pod, port) in [
        ("istio-demo", details.as_str(), 9080u16),
        ("istio-system", istiod.as_str(), 15000),
    ] {
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        let mut pf = pods.portforward(pod, &[port]).await.unwrap();
        let error = pf.take_error(port).unwrap();
        let message = tokio::time::timeout(Duration::from_secs(5), error)
            .await
            .unwrap()
            .expect("an error message");
        assert!(
            message.contains(&format!("error forwarding port {port}")) && message.contains("connection refused"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn port_forward_to_a_missing_pod_is_404_and_rbac_needs_get_and_create() {
    let (server, client, _dir) = start(scenario::bookinfo()).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "istio-demo");
    let status = |e: kube::Error| match e {
        kube::Error::UpgradeConnection(kube::client::UpgradeConnectionError::ProtocolSwitch(code)) => code.as_u16(),
        other => panic!("{other:?}"),
    };
    assert_eq!(status(pods.portforward("nope", &[15000]).await.err().unwrap()), 404);

    let pod = pod_of(&server, "istio-demo", "app=details");
    let reads = RbacRule::new(&[""], &["pods"], &["get", "list"], &[]);
    server.set_rbac(Some(vec![
        reads.clone(),
        RbacRule::new(&[""], &["pods/portforward"], &["get"], &[]),
    ]));
    assert_eq!(status(pods.portforward(&pod, &[15000]).await.err().unwrap()), 403);
    server.set_rbac(Some(vec![
        reads,
        RbacRule::new(&[""], &["pods/portforward"], &["get", "create"], &["istio-demo"]),
    ]));
    assert!(pods.portforward(&pod, &[15000]).await.is_ok());
    let codes: Vec<u16> = server
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/portforward"))
        .map(|r| r.status)
        .collect();
    assert_eq!(codes, [404, 403, 101]);
}

#[tokio::test]
async fn faults_apply_to_port_forwards() {
    let (server, client, _dir) = start(scenario::bookinfo()).await;
    let pod = pod_of(&server, "istio-demo", "app=details");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "istio-demo");
    server.inject(Fault::status(503, "kubelet down").path("/portforward").once());
    match pods.portforward(&pod, &[15000]).await {
        Err(kube::Error::UpgradeConnection(kube::client::UpgradeConnectionError::ProtocolSwitch(code))) => {
            assert_eq!(code.as_u16(), 503)
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    // Broken after the port frames: the data stream ends without an answer.
    server.inject(Fault::reset_mid_body().path("/portforward").once());
    let mut pf = pods.portforward(&pod, &[15000]).await.unwrap();
    let mut stream = pf.take_stream(15000).unwrap();
    let _ = stream.write_all(b"GET /certs HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the stream ends instead of hanging");
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
}

#[test]
fn discovery_lists_pods_portforward_like_a_real_server() {
    let r = mesh_sandbox::Registry::builtin();
    let list = r.api_resource_list("", "v1").unwrap();
    let pf = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods/portforward")
        .expect("pods/portforward in discovery");
    assert_eq!(pf["kind"], "PodPortForwardOptions");
    assert_eq!(pf["verbs"], serde_json::json!(["create", "get"]));
}
