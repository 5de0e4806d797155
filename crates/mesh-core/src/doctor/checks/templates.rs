//! `mtls-plaintext-callers` on manifests (`doctor -f --offline`): no pods exist yet, so the callers are the
//! workload templates whose pods will get no sidecar, in a namespace a STRICT PeerAuthentication of the files
//! covers. Whether a pod gets a sidecar follows Istio's injection rules as doctor reads them live: the namespace
//! label (`istio-injection=enabled` or `istio.io/rev`), overridden by the pod's `sidecar.istio.io/inject`
//! (label, or annotation `"false"`).

use std::collections::{BTreeMap, BTreeSet};

use super::routing::{not_in_files, strict_targets};
use super::{name_list, plural};
use crate::doctor::finding::{Category, Finding, ResourceRef};
use crate::doctor::model::{Namespace, Snapshot, Workload};
use crate::doctor::raw::Kind;

const CAT: Category = Category::Routing;
const ID: &str = "mtls-plaintext-callers";

/// Whether a namespace puts its pods in ambient mode (ztunnel speaks mTLS for them, no sidecar needed).
fn ambient(labels: &BTreeMap<String, String>) -> bool {
    labels.get("istio.io/dataplane-mode").map(String::as_str) == Some("ambient")
}

pub(super) fn mtls_plaintext_templates(s: &Snapshot) -> Vec<Finding> {
    let pas = s.peer_authentications.as_deref().unwrap_or_default();
    let targets = strict_targets(pas);
    if targets.is_empty() {
        return vec![Finding::skipped(
            ID,
            CAT,
            "no STRICT PeerAuthentication in the files; the cluster's (mesh-wide in istio-system) are not known offline",
        )
        .with_hint("run without --offline to check the files against the cluster's PeerAuthentications")];
    }
    let namespaces: BTreeMap<&str, &Namespace> = s
        .namespaces
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|n| (n.name.as_str(), n))
        .collect();
    let mesh_wide = targets
        .iter()
        .any(|t| t.pa.namespace == "istio-system" && t.pa.selector.is_none());
    let mut out = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut checked = 0usize;
    let mut workloads: Vec<(&'static str, &Workload)> = Vec::new();
    for (kind, list) in [
        (Kind::Deployment, &s.deployments),
        (Kind::StatefulSet, &s.stateful_sets),
        (Kind::DaemonSet, &s.daemon_sets),
    ] {
        workloads.extend(
            list.as_deref()
                .unwrap_or_default()
                .iter()
                .map(|w| (kind.kind_name(), w)),
        );
    }
    for (kind, w) in workloads {
        // The STRICT policies that apply to this workload's pods.
        let applies: Vec<&super::routing::StrictTarget> = targets
            .iter()
            .filter(|t| {
                let ns_ok =
                    t.pa.namespace == w.namespace || (t.pa.namespace == "istio-system" && t.pa.selector.is_none());
                let sel_ok =
                    t.pa.selector
                        .as_ref()
                        .is_none_or(|sel| sel.iter().all(|(k, v)| w.template_labels.get(k) == Some(v)));
                ns_ok && sel_ok
            })
            .collect();
        // A workload in a namespace the policies cover is a caller of what they protect (the live check's
        // reading: pods of mesh namespaces call each other).
        let covered = !applies.is_empty()
            || targets.iter().any(|t| t.pa.namespace == w.namespace)
            || (mesh_wide
                && namespaces
                    .get(w.namespace.as_str())
                    .is_some_and(|n| n.injection_enabled()));
        if !covered {
            continue;
        }
        checked += 1;
        let ns = namespaces.get(w.namespace.as_str());
        if ambient(&w.template_labels) || ns.is_some_and(|n| ambient(&n.labels)) {
            continue;
        }
        let why = if w.template_opts_out() {
            Some("the pod template opts out of injection: sidecar.istio.io/inject \"false\"".to_string())
        } else if w.template_requests_injection() {
            None
        } else {
            match ns {
                Some(n) if n.injection_enabled() => None,
                Some(n) => Some(format!("namespace {} is not labelled for injection", n.name)),
                None => {
                    unknown.push(format!(
                        "namespace {} (of {} {})",
                        w.namespace,
                        kind.to_ascii_lowercase(),
                        w.name
                    ));
                    continue;
                }
            }
        };
        let Some(why) = why else { continue };
        let policies: Vec<String> = targets
            .iter()
            .map(|t| format!("{} (PeerAuthentication {}/{})", t.scope, t.pa.namespace, t.pa.name))
            .collect();
        let mut resources = vec![ResourceRef::new(kind, &w.namespace, &w.name)];
        resources.extend(
            targets
                .iter()
                .map(|t| ResourceRef::new("PeerAuthentication", &t.pa.namespace, &t.pa.name)),
        );
        out.push(
            Finding::error(
                ID,
                CAT,
                format!(
                    "{} {}/{}: its pods will run without a sidecar ({why}) and send plaintext, but STRICT mTLS {} accepts only mTLS: their requests fail with 503 connection termination",
                    kind.to_ascii_lowercase(),
                    w.namespace,
                    w.name,
                    name_list(&policies, 3)
                ),
            )
            .with_hint(format!(
                "label the namespace for injection (istio-injection: enabled) and drop the opt-out, or set the PeerAuthentication mode to PERMISSIVE for what {} calls",
                w.name
            ))
            .with_resources(resources),
        );
    }
    if out.is_empty() && unknown.is_empty() {
        let names: BTreeSet<String> = targets.iter().map(|t| t.scope.clone()).collect();
        let names: Vec<String> = names.into_iter().collect();
        out.push(Finding::ok(
            ID,
            CAT,
            format!(
                "STRICT mTLS {}; the pods of all {} it covers will get a sidecar",
                name_list(&names, 3),
                plural(checked, "workload")
            ),
        ));
    }
    out.extend(not_in_files(ID, "namespace", unknown));
    out
}
