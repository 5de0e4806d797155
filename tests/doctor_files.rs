//! `kubectl mesh doctor -f`: manifests checked offline (no cluster at all) and overlaid on a sandbox cluster.

#[path = "common/mesh.rs"]
mod mesh;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mesh::{Mesh, Run};
use mesh_sandbox::scenario::bookinfo;
use mesh_sandbox::{ServerOptions, TestServer};
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests")
}

fn fixture(rel: &str) -> String {
    fixtures().join(rel).display().to_string()
}

/// The plugin with no kubeconfig anywhere (no KUBECONFIG, an empty HOME), in `cwd`, with `stdin`.
fn run_bare(args: &[&str], stdin: Option<&str>) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"));
    c.args(args)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(text) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn checks<'a>(doc: &'a Value, id: &str) -> Vec<&'a Value> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id)
        .collect()
}

fn with_status<'a>(doc: &'a Value, id: &str, status: &str) -> Vec<&'a Value> {
    checks(doc, id).into_iter().filter(|c| c["status"] == status).collect()
}

/// The line of each `apiVersion:` in a file, 1-based.
fn api_version_lines(path: &str) -> Vec<usize> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("apiVersion:"))
        .map(|(i, _)| i + 1)
        .collect()
}

#[test]
fn upstream_bookinfo_is_clean_offline_without_any_kubeconfig() {
    let Some(shared) = mesh_sandbox::fixtures::shared_fixtures() else {
        return;
    };
    let dir = shared.join("istio-bookinfo");
    let files: Vec<String> = ["bookinfo.yaml", "bookinfo-versions.yaml", "route-reviews-90-10.yaml"]
        .iter()
        .map(|f| dir.join(f).display().to_string())
        .collect();
    let mut args = vec!["doctor", "--offline", "-n", "istio-demo", "-o", "json"];
    for f in &files {
        args.extend(["-f", f.as_str()]);
    }
    let r = run_bare(&args, None);
    r.assert_code(0);
    let doc = r.json();
    assert_eq!(doc["success"], true);
    assert_eq!(doc["mode"], "offline");
    assert_eq!(doc["files"].as_array().unwrap().len(), 3);
    for c in doc["checks"].as_array().unwrap() {
        assert!(c["status"] == "ok" || c["status"] == "skipped", "{c}");
    }
    // Every check that reads live state is listed as skipped, by name.
    for id in [
        "api-access",
        "sidecar-missing",
        "stale-sidecar-cert",
        "route-backend-unready",
        "route-not-accepted",
    ] {
        let c = checks(&doc, id);
        assert_eq!(c.len(), 1, "{id}");
        assert_eq!(c[0]["status"], "skipped");
        assert!(
            c[0]["message"]
                .as_str()
                .unwrap()
                .ends_with("needs a cluster (--offline)"),
            "{}",
            c[0]
        );
    }
    // The checks that read specs ran and passed on the real Bookinfo manifests.
    for id in [
        "route-parent-invalid",
        "route-backend-missing",
        "route-backend-port",
        "backend-selector-unmatched",
        "route-rule-shadowed",
    ] {
        assert_eq!(with_status(&doc, id, "ok").len(), 1, "{id}: {:?}", checks(&doc, id));
    }
}

#[test]
fn the_broken_folder_names_each_mistake_with_file_and_line() {
    let dir = fixture("broken");
    let r = run_bare(&["doctor", "-f", &dir, "--offline", "-o", "json"], None);
    r.assert_code(1);
    let doc = r.json();
    assert_eq!(doc["success"], false);
    let route = fixture("broken/20-route.yaml");
    let reviews = fixture("broken/10-reviews.yaml");
    let ns = fixture("broken/00-namespace.yaml");
    let (route_lines, reviews_lines) = (api_version_lines(&route), api_version_lines(&reviews));

    let port = with_status(&doc, "route-backend-port", "error");
    assert_eq!(port.len(), 1, "{port:?}");
    assert!(port[0]["message"]
        .as_str()
        .unwrap()
        .contains("reviews-v3 port 9080 is not a port of the Service (ports: 80)"));
    assert_eq!(port[0]["resources"][0]["file"], route.as_str());
    assert_eq!(port[0]["resources"][0]["line"], route_lines[0]);
    assert_eq!(port[0]["resources"][1]["file"], reviews.as_str());
    assert_eq!(
        port[0]["resources"][1]["line"], reviews_lines[2],
        "reviews-v3 is the third object"
    );

    let zero = with_status(&doc, "route-weights-zero", "error");
    assert_eq!(zero.len(), 1);
    assert_eq!(
        zero[0]["resources"][0]["file"],
        fixture("broken/30-duplicate.yaml").as_str(),
        "the later copy wins"
    );
    assert_eq!(zero[0]["resources"][0]["line"], 2);

    let mtls = with_status(&doc, "mtls-plaintext-callers", "error");
    assert_eq!(mtls.len(), 1);
    assert_eq!(
        mtls[0]["resources"][0],
        json!({"kind": "Deployment", "namespace": "istio-demo", "name": "reviews-v1", "file": reviews, "line": reviews_lines[3]})
    );
    assert_eq!(mtls[0]["resources"][1]["file"], ns.as_str());
    assert_eq!(mtls[0]["resources"][1]["line"], api_version_lines(&ns)[1]);

    assert_eq!(with_status(&doc, "route-rule-shadowed", "warning").len(), 1);
    assert_eq!(with_status(&doc, "files-duplicate-object", "warning").len(), 1);
    let sel = with_status(&doc, "backend-selector-unmatched", "warning");
    assert_eq!(sel.len(), 1, "a warning offline: the workload may exist in the cluster");
    assert!(sel[0]["hint"]
        .as_str()
        .unwrap()
        .contains("deployment reviews-v3 (app=reviews,version=3)"));

    // A reference outside the files is unverified, never an error (istioctl analyze's misfire).
    let missing = checks(&doc, "route-backend-missing");
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0]["status"], "skipped");
    assert!(
        missing[0]["message"].as_str().unwrap().contains("reviews-v9"),
        "{}",
        missing[0]
    );
    assert!(with_status(&doc, "route-parent-invalid", "error").is_empty());

    let r = run_bare(&["doctor", "-f", &dir, "--offline"], None);
    r.assert_code(1);
    assert!(
        r.stdout
            .contains(&format!("httproute istio-demo/reviews ({route}:{})", route_lines[0])),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("files: 9 objects from 4 files"), "{}", r.stdout);
}

#[test]
fn unparseable_yaml_is_exit_2_with_file_line_and_column() {
    let r = run_bare(&["doctor", "-f", &fixture("bad-yaml"), "--offline"], None);
    r.assert_code(2);
    let want = format!("error: {}:8:3: ", fixture("bad-yaml/route.yaml"));
    assert!(r.stderr.starts_with(&want), "{}", r.stderr);
    assert!(r.stderr.contains("hint: fix the files"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    // Without --offline too: the files are read before anything else.
    let r = run_bare(&["doctor", "-f", &fixture("bad-yaml")], None);
    r.assert_code(2);
}

#[test]
fn an_istio_gateway_is_not_a_gateway_api_gateway() {
    let r = run_bare(
        &["doctor", "-f", &fixture("istio-gateway"), "--offline", "-o", "json"],
        None,
    );
    r.assert_code(0);
    let doc = r.json();
    assert_eq!(
        doc["files"],
        json!([{"path": fixture("istio-gateway/gateway.yaml"), "objects": 1, "ignored": 1}])
    );
    let parent = checks(&doc, "route-parent-invalid");
    assert_eq!(parent[0]["status"], "skipped");
    assert!(
        parent[0]["message"]
            .as_str()
            .unwrap()
            .contains("Gateway default/bookinfo-gateway"),
        "{}",
        parent[0]
    );
}

#[test]
fn stdin_directories_and_extensions_follow_kubectl() {
    let text = std::fs::read_to_string(fixture("broken/20-route.yaml")).unwrap();
    let r = run_bare(&["doctor", "-f", "-", "--offline", "-o", "json"], Some(&text));
    r.assert_code(1);
    let doc = r.json();
    assert_eq!(doc["files"][0]["path"], "<stdin>");
    assert_eq!(
        with_status(&doc, "route-weights-zero", "error")[0]["resources"][0]["file"],
        "<stdin>"
    );

    let names = |r: &Run| -> Vec<String> {
        r.json()["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect()
    };
    let nested = fixture("nested");
    let r = run_bare(&["doctor", "-f", &nested, "--offline", "-o", "json"], None);
    r.assert_code(0);
    assert_eq!(
        names(&r),
        vec![fixture("nested/top.yaml")],
        "no .txt, no subdirectory without -R"
    );
    let r = run_bare(&["doctor", "-f", &nested, "-R", "--offline", "-o", "json"], None);
    r.assert_code(0);
    assert_eq!(
        names(&r),
        vec![fixture("nested/sub/deep.yml"), fixture("nested/top.yaml")]
    );
    // A file named explicitly is read whatever its extension.
    let r = run_bare(&["doctor", "-f", &fixture("nested/notes.txt"), "--offline"], None);
    r.assert_code(2);
    assert!(r.stderr.contains("notes.txt:1"), "{}", r.stderr);

    let r = run_bare(&["doctor", "-f", "no/such/dir", "--offline"], None);
    r.assert_code(2);
    assert!(
        r.stderr.contains("the path \"no/such/dir\" does not exist"),
        "{}",
        r.stderr
    );
    let r = run_bare(&["doctor", "-f", "-", "-f", "-", "--offline"], Some(""));
    r.assert_code(2);
    let r = run_bare(&["doctor", "--offline"], None);
    r.assert_code(2);
    let r = run_bare(&["doctor", "-f", &nested, "--offline", "--deep"], None);
    r.assert_code(2);
}

#[test]
fn an_explicit_namespace_refuses_objects_of_another_like_kubectl() {
    let r = run_bare(&["doctor", "-f", &fixture("broken"), "--offline", "-n", "other"], None);
    r.assert_code(2);
    assert!(
        r.stderr.contains("the namespace from the provided object \"istio-demo\" does not match the namespace \"other\". You must pass '--namespace=istio-demo' to perform this operation."),
        "{}",
        r.stderr
    );
}

/// A kubeconfig whose server is a sandbox that records requests: `--offline` must send none.
#[test]
fn offline_contacts_no_cluster_even_with_a_kubeconfig() {
    let server = TestServer::start(ServerOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = server.write_kubeconfig(dir.path(), Some("from-context")).unwrap();
    let route = fixture("istio-gateway/gateway.yaml");
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"));
    let out = c
        .args(["doctor", "-f", &route, "--offline", "-o", "json", "--kubeconfig"])
        .arg(&kubeconfig)
        .env_remove("KUBECONFIG")
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let parent = checks(&doc, "route-parent-invalid");
    assert!(
        parent[0]["message"]
            .as_str()
            .unwrap()
            .contains("Gateway from-context/bookinfo-gateway"),
        "the context's namespace is read from the file: {}",
        parent[0]
    );
    assert!(server.requests().is_empty(), "no request: {:?}", server.requests());

    // An unreachable server in the kubeconfig does not matter either.
    let unreachable = dir.path().join("unreachable");
    std::fs::write(
        &unreachable,
        mesh_sandbox::kubeconfig_yaml("http://127.0.0.1:1", Some("x")),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"))
        .args([
            "doctor",
            "-f",
            &route,
            "--offline",
            "--request-timeout",
            "1s",
            "--kubeconfig",
        ])
        .arg(&unreachable)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

// ---------- overlay on a live (sandbox) cluster ----------

fn write(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path.display().to_string()
}

/// The live object as a user would keep it in a file: no status, no server-set metadata.
fn as_file(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("status");
    let meta = v["metadata"].as_object_mut().unwrap();
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
    ] {
        meta.remove(k);
    }
    v
}

fn changes(doc: &Value, change: &str) -> Vec<String> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["change"] == change)
        .map(|c| format!("{} {}", c["id"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect()
}

#[test]
fn overlay_files_that_change_nothing_are_all_unchanged() {
    let m = Mesh::bookinfo();
    let f = write(m.dir.path(), "reviews.json", &as_file(m.route("reviews")));
    let r = m.run(&["doctor", "-f", &f, "-o", "json"]);
    r.assert_code(0);
    let doc = r.json();
    assert_eq!(doc["mode"], "overlay");
    assert!(
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["change"] == "unchanged"),
        "{doc}"
    );
    let r = m.run(&["doctor", "-f", &f]);
    r.assert_code(0);
    assert!(r.stdout.contains("the files introduce no problem"), "{}", r.stdout);
    assert!(m.write_attempts().is_empty(), "doctor -f writes nothing");
}

#[test]
fn overlay_a_file_that_breaks_a_backend_is_an_introduced_error() {
    let m = Mesh::bookinfo();
    let mut route = as_file(m.route("reviews"));
    route["spec"]["rules"][0]["backendRefs"][0]["name"] = json!("reviews-v9");
    let f = write(m.dir.path(), "reviews.json", &route);
    m.server.clear_log();
    let r = m.run(&["doctor", "-f", &f, "-o", "json"]);
    r.assert_code(1);
    let doc = r.json();
    assert_eq!(doc["success"], false);
    assert_eq!(changes(&doc, "introduced"), vec!["route-backend-missing error"]);
    let missing = with_status(&doc, "route-backend-missing", "error");
    assert_eq!(missing[0]["resources"][0]["file"], f.as_str());
    assert_eq!(missing[0]["resources"][0]["line"], 1);
    // The same LISTs doctor makes, one per kind and namespace, nothing per object.
    let mut lists = std::collections::BTreeMap::new();
    for q in m.server.requests() {
        assert_eq!(q.method, "GET", "{q:?}");
        assert!(q.query.contains("limit=500"), "a paginated LIST: {q:?}");
        *lists.entry(q.path.clone()).or_insert(0) += 1;
    }
    assert!(lists.values().all(|&n| n == 1), "{lists:?}");
    m.server.clear_log();
    m.run(&["doctor", "-o", "json"]).assert_code(0);
    let plain: std::collections::BTreeSet<String> = m.server.requests().into_iter().map(|q| q.path).collect();
    assert_eq!(
        lists.keys().cloned().collect::<std::collections::BTreeSet<_>>(),
        plain,
        "doctor -f reads what doctor reads"
    );

    let r = m.run(&["doctor", "-f", &f]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("× KM3030 introduced: HTTPRoute istio-demo/reviews"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("the files introduce 1 error"), "{}", r.stdout);
}

#[test]
fn overlay_a_file_that_fixes_a_live_error_passes() {
    let m = Mesh::with(bookinfo().broken_route());
    m.run(&["doctor"]).assert_code(1);
    let mut route = as_file(m.route("ratings"));
    route["spec"]["rules"][0]["backendRefs"][0]["name"] = json!("ratings");
    let f = write(m.dir.path(), "ratings.json", &route);
    let r = m.run(&["doctor", "-f", &f, "-o", "json"]);
    r.assert_code(0);
    let doc = r.json();
    assert_eq!(doc["success"], true);
    assert_eq!(changes(&doc, "fixed"), vec!["route-backend-missing error"]);
    assert!(changes(&doc, "introduced").is_empty(), "{doc}");
    // Live, Istio's ResolvedRefs=False BackendNotFound confirms route-backend-missing (one cause, one error). The
    // files change the route's spec, so that verdict is about the old spec: it is neither kept as a route-not-accepted
    // error nor counted as introduced.
    assert!(with_status(&doc, "route-not-accepted", "error").is_empty(), "{doc}");
    assert_eq!(with_status(&doc, "route-not-accepted", "ok")[0]["change"], "unchanged");
    let r = m.run(&["doctor", "-f", &f]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("√ KM3030 fixed: HTTPRoute istio-demo/ratings"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("fix 1 problem"), "{}", r.stdout);
}

#[test]
fn overlay_new_objects_and_new_namespaces_are_read_too() {
    let m = Mesh::bookinfo();
    // A new namespace in the files: doctor lists it as well (empty in the cluster) and checks the new route.
    let route = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "shop", "namespace": "shop"},
        "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "shop"}],
                 "rules": [{"backendRefs": [{"name": "shop-v1", "port": 80}]}]}});
    let f = write(m.dir.path(), "shop.json", &route);
    m.server.clear_log();
    let r = m.run(&["doctor", "-f", &f, "-o", "json"]);
    r.assert_code(1);
    let doc = r.json();
    assert_eq!(
        changes(&doc, "introduced"),
        vec!["route-parent-invalid error", "route-backend-missing error"]
    );
    assert!(m
        .server
        .requests()
        .iter()
        .any(|q| q.path == "/api/v1/namespaces/shop/services"));
}

#[test]
fn overlay_on_an_unreachable_cluster_is_exit_3_and_suggests_offline() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        mesh_sandbox::kubeconfig_yaml("http://127.0.0.1:1", Some("istio-demo")),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-mesh"))
        .args([
            "doctor",
            "-f",
            &fixture("istio-gateway"),
            "--request-timeout",
            "2s",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("hint: add --offline to check the files alone"),
        "{stderr}"
    );
    // No kubeconfig at all: exit 3 as well, with the same hint.
    let r = run_bare(&["doctor", "-f", &fixture("istio-gateway")], None);
    r.assert_code(3);
    assert!(r.stderr.contains("--offline"), "{}", r.stderr);
}

#[test]
fn check_takes_codes_and_the_file_checks_with_f() {
    let dir = fixture("broken");
    // A code selects its check, as an id does (the broken folder's backendRef port is wrong).
    let r = run_bare(
        &["doctor", "-f", &dir, "--offline", "--check", "KM3031", "-o", "json"],
        None,
    );
    r.assert_code(1);
    let doc = r.json();
    let ids: std::collections::BTreeSet<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.into_iter().collect::<Vec<_>>(), ["route-backend-port"], "{doc}");
    // The files' own check is selectable with -f, and only there.
    let r = run_bare(
        &[
            "doctor",
            "-f",
            &dir,
            "--offline",
            "--check",
            "files-duplicate-object",
            "-o",
            "json",
        ],
        None,
    );
    r.assert_code(0);
    assert_eq!(checks(&r.json(), "files-duplicate-object").len(), 1, "{}", r.stdout);
    let r = run_bare(&["doctor", "--check", "KM7010"], None);
    r.assert_code(2);
    assert!(r.stderr.contains("only runs with -f"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: it checks manifests: add -f PATH"),
        "{}",
        r.stderr
    );
    let r = run_bare(&["doctor", "--check", "multicluster-root-mismatch"], None);
    r.assert_code(2);
    assert!(r.stderr.contains("--context A --context B"), "{}", r.stderr);
}
