//! Doctor stays fast on big clusters: decoding and checking 10,000 pods takes well under a second.

mod doctor_common;

use std::time::{Duration, Instant};

use doctor_common::*;
use mesh_core::doctor::{run_checks, Snapshot, Status};
use mesh_core::recover::plan::plan_recover;

#[test]
fn ten_thousand_pods_are_checked_well_under_a_second() {
    let mut c = healthy();
    let root = new_root();
    for n in 0..100 {
        let ns = format!("team-{n:03}");
        c.push(namespace(&ns, &[("istio-injection", "enabled")]));
        c.push(root_cert_cm(&ns, &root));
        for d in 0..10 {
            let dep = format!("svc-{d}");
            c.push(deployment(&ns, &dep, "example/app:1"));
            c.push(replica_set(&ns, &format!("{dep}-5d8f9c"), &dep));
            c.push(service(&ns, &dep, &[9080]));
            c.push(endpoint_slice(&ns, &dep, 10, 0));
            c.push(mesh_route(&ns, &dep, &dep, &[(&dep, 1)]));
            for p in 0..10 {
                // Every 7th sidecar predates the current root.
                let started = if (n * 100 + d * 10 + p) % 7 == 0 {
                    "2026-11-01T00:00:00Z"
                } else {
                    "2026-11-20T00:00:00Z"
                };
                c.push(with_sidecar(deploy_pod(&ns, &dep, &format!("p{p}")), started, "1.26.2"));
            }
        }
    }
    let raw = c.raw();
    let start = Instant::now();
    let snap = Snapshot::from_raw(&raw);
    let decoded = start.elapsed();
    let findings = run_checks(&snap, now());
    let checked = start.elapsed();
    let plan = plan_recover(&findings, &snap);
    let took = start.elapsed();
    eprintln!(
        "decode {decoded:?}, checks {:?}, plan {:?}",
        checked - decoded,
        took - checked
    );
    assert!(snap.pods.as_ref().unwrap().len() > 10_000);
    let stale_pods: usize = findings
        .iter()
        .filter(|f| f.id == "stale-sidecar-cert" && f.status == Status::Error)
        .map(|f| f.resources.len())
        .sum();
    assert_eq!(stale_pods, (0..10_000).filter(|i| i % 7 == 0).count());
    assert_eq!(plan.actions.len(), 1000, "every deployment has a stale pod");
    eprintln!("10k pods: decode + checks + plan in {took:?}");
    let limit = if cfg!(debug_assertions) {
        Duration::from_secs(3)
    } else {
        Duration::from_millis(500)
    };
    assert!(took < limit, "took {took:?}");
}
