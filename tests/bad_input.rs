//! Bad input audit: every argument and flag of every subcommand, given malformed values, ends in a usage error
//! (exit 2) or a clear error (exit 1/3) — never a panic, never a write.

#[path = "common/mesh.rs"]
mod mesh;

use mesh::Mesh;
use mesh_sandbox::Fault;

/// (arguments, expected exit code, a word the message must contain)
const CASES: &[(&[&str], i32, &str)] = &[
    // global flags
    (&["status", "--request-timeout", "soon"], 2, "request-timeout"),
    (&["status", "--request-timeout", "-5s"], 2, ""),
    (&["status", "--request-timeout", "5parsecs"], 2, "parsecs"),
    (&["status", "--color", "rainbow"], 2, "rainbow"),
    (&["status", "-v", "eleven"], 2, "eleven"),
    (&["status", "-v", "99"], 2, "99"),
    (&["status", "-n", ""], 2, "namespace"),
    (&["status", "-n", "-bad"], 2, ""),
    (&["status", "-n", "UPPER"], 2, "namespace"),
    (&["status", "-n", "a.b"], 2, "namespace"),
    (
        &[
            "status",
            "-n",
            "this-namespace-name-is-far-too-long-to-be-a-dns-label-because-it-has-64c",
        ],
        2,
        "63",
    ),
    (&["status", "--context", "nope"], 3, "nope"),
    (&["status", "--cluster", "nope"], 3, "nope"),
    (&["status", "--user", "nope"], 3, "nope"),
    (&["status", "--kubeconfig", "/does/not/exist"], 3, "does not exist"),
    // output formats
    (&["status", "-o", "jsonpath"], 2, "jsonpath"),
    (&["doctor", "-o", "csv"], 2, "csv"),
    (&["recover", "-o", "xml"], 2, "xml"),
    (&["shift", "reviews", "v3=100", "-o", "name"], 2, "name"),
    (&["version", "-o", "toml"], 2, "toml"),
    // conflicting scope flags
    (&["status", "-n", "istio-demo", "-A"], 2, "together"),
    (&["doctor", "-n", "istio-demo", "-A"], 2, "together"),
    (&["recover", "-n", "istio-demo", "-A", "--yes"], 2, "together"),
    // status
    (&["status", "Bad_Service"], 2, "Bad_Service"),
    // shift weights and versions
    (&["shift", "reviews", "v3=100.5"], 2, "100.5"),
    (&["shift", "reviews", "v3=1e2"], 2, "1e2"),
    (&["shift", "reviews", "v3=0x10"], 2, "0x10"),
    (&["shift", "reviews", "v3=99999999999999999999"], 2, ""),
    (&["shift", "reviews", "v3=="], 2, ""),
    (&["shift", "reviews", "v 3=10"], 2, ""),
    (&["shift", "reviews", "v_3=10"], 2, "v_3"),
    (&["shift", "reviews", "v3=50", "v1=50", "v2=1"], 2, "100"),
    (&["shift", "", "v3=10"], 2, ""),
    (&["shift", "reviews", "v3=10", "--route", ""], 2, "route"),
    (
        &["shift", "reviews", "v3=10", "--field-manager", ""],
        2,
        "field-manager",
    ),
    (
        &[
            "shift",
            "this-service-name-is-far-too-long-to-be-a-dns-label-because-it-has-64",
            "v1=100",
        ],
        2,
        "",
    ),
    // route-user
    (&["route-user", "reviews", "vijay", "V2"], 2, "V2"),
    (&["route-user", "reviews", "vijay", "v2", "--header", ""], 2, "header"),
    (
        &["route-user", "reviews", "vijay", "v2", "--header", "x:y"],
        2,
        "header",
    ),
    (&["route-user", "reviews", "vi\njay", "v2"], 2, ""),
    (&["route-user", "reviews", "vijay\u{1b}[31m", "v2"], 2, ""),
    // doctor
    (&["doctor", "--check", "stale-certs"], 2, "stale-certs"),
    // recover
    (&["recover", "--timeout", "forever"], 2, "forever"),
    (&["recover", "--timeout", "10"], 2, "unit"),
    (&["recover", "--max-parallel", "0"], 2, "0"),
    (&["recover", "--max-parallel", "1000"], 2, "1000"),
    (&["recover", "--dry-run=partly"], 2, "partly"),
    // completion
    (&["completion"], 2, "shell"),
    (&["completion", "ksh"], 2, "ksh"),
];

#[test]
fn every_malformed_value_is_rejected_before_anything_is_written() {
    let m = Mesh::bookinfo();
    for (args, code, needle) in CASES {
        let r = m.run(args);
        assert_eq!(r.code, *code, "{args:?}: exit {}\n{}", r.code, r.stderr);
        assert!(r.stderr.starts_with("error:"), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(needle),
            "{args:?} should mention {needle:?}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{args:?} printed a result: {}", r.stdout);
    }
    assert!(m.write_attempts().is_empty(), "{:?}", m.write_attempts());
}

#[test]
fn tokens_never_appear_in_output_errors_or_debug_logs() {
    let m = Mesh::bookinfo();
    let token = "s3cr3t-t0ken-value-1234567890";
    let text = std::fs::read_to_string(&m.kubeconfig).unwrap();
    let mut doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    doc["users"][0]["user"] = serde_json::json!({"token": token});
    let with_token = m.dir.path().join("token-config");
    std::fs::write(&with_token, serde_json::to_string(&doc).unwrap()).unwrap();
    let k = with_token.to_str().unwrap();
    let mut runs = vec![
        m.run(&["status", "-v", "10", "--kubeconfig", k]),
        m.run(&["shift", "reviews", "v3=100", "-v", "10", "--kubeconfig", k]),
        m.run(&["doctor", "-v", "10", "-o", "json", "--kubeconfig", k]),
    ];
    m.server.inject(Fault::status(401, "Unauthorized"));
    let denied = m.run(&["status", "-v", "10", "--kubeconfig", k]);
    assert_eq!(denied.code, 3, "{}", denied.stderr);
    assert!(denied.stderr.contains("authentication failed"), "{}", denied.stderr);
    runs.push(denied);
    for r in runs {
        assert!(
            !r.stdout.contains(token) && !r.stderr.contains(token),
            "token leaked:\n{}\n{}",
            r.stdout,
            r.stderr
        );
        assert!(!r.stderr.to_lowercase().contains("authorization:"), "{}", r.stderr);
    }
}

#[test]
fn debug_logs_show_the_requests_made() {
    let m = Mesh::bookinfo();
    let r = m.run(&["status", "-v", "6"]);
    r.assert_code(0);
    assert!(r.stderr.contains("GET http://127.0.0.1:"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("/apis/gateway.networking.k8s.io/v1/namespaces/istio-demo/httproutes"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("200 OK in"), "{}", r.stderr);
    let quiet = m.run(&["status"]);
    assert!(quiet.stderr.is_empty(), "no logs without -v: {}", quiet.stderr);
}
