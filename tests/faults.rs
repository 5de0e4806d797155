//! The API failing the way real ones do, on every command: each case asserts the exit code, the message, and
//! that no partial or duplicate write happened.

#[path = "common/mesh.rs"]
mod mesh;

use std::time::{Duration, Instant};

use mesh::{pairs, Mesh};
use mesh_sandbox::scenario::bookinfo;
use mesh_sandbox::{Fault, ServerOptions};

/// Every command that reads the cluster, as a user would type it.
const READ_COMMANDS: &[&[&str]] = &[
    &["status"],
    &["doctor"],
    &["recover", "--dry-run=client"],
    &["shift", "reviews", "v3=100"],
    &["route-user", "reviews", "vijay", "v2"],
    &["version"],
];

#[test]
fn transient_500_and_503_on_reads_are_retried_and_every_command_succeeds() {
    for cmd in READ_COMMANDS {
        for code in [500, 503] {
            let m = Mesh::bookinfo();
            m.server.inject(Fault::status(code, "transient").method("GET").times(2));
            let r = m.run(cmd);
            r.assert_code(0);
            let failed: Vec<_> = m.server.requests().into_iter().filter(|q| q.status == code).collect();
            assert_eq!(failed.len(), 2, "{cmd:?}: both faults were hit and retried");
        }
    }
}

#[test]
fn persistent_read_failures_end_with_a_clear_error_and_no_write() {
    for cmd in READ_COMMANDS {
        let m = Mesh::bookinfo();
        m.server
            .inject(Fault::status(503, "the server is currently unable to handle the request").method("GET"));
        let started = Instant::now();
        let r = m.run(cmd);
        assert_ne!(r.code, 0, "{cmd:?}");
        let said = if cmd[0] == "doctor" { &r.stdout } else { &r.stderr };
        assert!(said.contains("503"), "{cmd:?}: {said}");
        assert!(said.contains("hint:"), "{cmd:?}: {said}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{cmd:?}: bounded retries, took {:?}",
            started.elapsed()
        );
        assert!(m.write_attempts().is_empty(), "{cmd:?}: {:?}", m.write_attempts());
    }
}

#[test]
fn too_many_requests_with_retry_after_is_honoured() {
    let m = Mesh::bookinfo();
    m.server.inject(
        Fault::status(429, "too many requests")
            .method("GET")
            .path("httproutes")
            .retry_after(2)
            .once(),
    );
    let started = Instant::now();
    let r = m.run(&["status"]);
    r.assert_code(0);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited only {:?}",
        started.elapsed()
    );
}

#[test]
fn latency_beyond_the_request_timeout_exits_3_quickly() {
    for cmd in READ_COMMANDS {
        let m = Mesh::bookinfo();
        m.server.inject(Fault::delay(Duration::from_secs(30)));
        let started = Instant::now();
        let mut args = cmd.to_vec();
        args.extend(["--request-timeout", "1s"]);
        let r = m.run(&args);
        r.assert_code(3);
        assert!(r.stderr.contains("did not answer within 1s"), "{cmd:?}: {}", r.stderr);
        assert!(r.stderr.contains("127.0.0.1"), "{}", r.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{cmd:?} took {:?}",
            started.elapsed()
        );
        assert!(m.write_attempts().is_empty());
    }
}

#[test]
fn a_connection_reset_mid_body_on_a_read_is_retried() {
    let m = Mesh::bookinfo();
    m.server
        .inject(Fault::reset_mid_body().method("GET").path("httproutes").once());
    m.run(&["shift", "reviews", "v1=50", "v3=50"]).assert_code(0);
    assert_eq!(
        m.default_backends("reviews"),
        pairs(&[("reviews-v1", 50), ("reviews-v3", 50)])
    );
    let puts: Vec<_> = m.stored_writes().into_iter().filter(|w| w.method == "PUT").collect();
    assert_eq!(puts.len(), 1, "exactly one write: {puts:?}");
}

#[test]
fn a_reset_on_a_write_is_not_replayed_blindly() {
    let m = Mesh::bookinfo();
    m.server.inject(Fault::reset().method("PUT").once());
    let r = m.run(&["shift", "reviews", "v3=100"]);
    r.assert_code(3);
    assert!(r.stderr.contains("127.0.0.1"), "{}", r.stderr);
    let puts: Vec<_> = m.server.requests().into_iter().filter(|q| q.method == "PUT").collect();
    assert_eq!(puts.len(), 1, "writes are never blindly retried: {puts:?}");
}

#[test]
fn a_conflict_storm_on_route_user_stops_after_bounded_retries() {
    let m = Mesh::bookinfo();
    m.server
        .inject(Fault::status(409, "the object has been modified").method("PUT"));
    let r = m.run(&["route-user", "reviews", "vijay", "v2"]);
    r.assert_code(1);
    assert!(r.stderr.contains("kept changing"), "{}", r.stderr);
    assert!(m.stored_writes().is_empty());
}

#[test]
fn recover_wait_survives_watches_that_end_early() {
    // Long enough that, even on a loaded machine, the pods are not Ready yet when the first watch breaks (so a
    // second watch is needed); short enough to keep the test quick.
    let opts = ServerOptions {
        ready_delay: Some(Duration::from_millis(3000)),
        ..ServerOptions::default()
    };
    let m = Mesh::with_options(bookinfo().stale_root_cert(), opts);
    m.server.inject(Fault::reset_mid_body().path("watch=true").times(3));
    let r = m.run(&["recover", "--yes", "--wait", "--timeout", "60s"]);
    r.assert_code(0);
    assert!(r.stdout.contains("healthy now"), "{}\n{}", r.stdout, r.stderr);
    let watches: Vec<_> = m.server.requests().into_iter().filter(|q| q.watch).collect();
    // Both injected resets hit a watch, and recover carried on (re-reading, re-watching) to the end.
    assert!(
        watches.len() >= 2,
        "the broken watches were followed up: {}",
        watches.len()
    );
    let patches = m.stored_writes().into_iter().filter(|w| w.method == "PATCH").count();
    assert_eq!(patches, 2, "no duplicate restarts");
}

#[test]
fn recover_honours_429_on_a_restart_patch() {
    let m = Mesh::with(bookinfo().stale_root_cert());
    m.server.inject(
        Fault::status(429, "too many requests")
            .method("PATCH")
            .retry_after(1)
            .once(),
    );
    let r = m.run(&["recover", "--yes"]);
    r.assert_code(0);
    assert_eq!(m.stored_writes().into_iter().filter(|w| w.method == "PATCH").count(), 2);
}

#[test]
fn an_expired_continue_token_restarts_the_list_without_duplicates() {
    // 1,200 load pods + Bookinfo: three pages of pods. The second page's token expires (410, as after etcd
    // compaction); the list starts over, and doctor reports exactly what it reports without the fault.
    let m = Mesh::with(bookinfo().pods(1200));
    let doctor = || {
        let r = m.run(&["doctor", "-A", "-o", "json"]);
        assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
        r.json()
    };
    let expected = doctor();
    let sidecars = expected["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "stale-sidecar-cert")
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(sidecars.starts_with("all 12"), "every pod is checked once: {sidecars}");
    m.server.clear_log();
    m.server.inject(
        Fault::status(410, "The provided continue parameter is too old")
            .path("/api/v1/pods?limit=500&continue=")
            .once(),
    );
    assert_eq!(doctor(), expected);
    let pod_lists: Vec<_> = m
        .server
        .requests()
        .into_iter()
        .filter(|q| q.path == "/api/v1/pods")
        .map(|q| (q.status, q.query.contains("continue=")))
        .collect();
    assert_eq!(
        pod_lists,
        [(200, false), (410, true), (200, false), (200, true), (200, true)],
        "first page, expired token, then the whole list again"
    );
}
