//! Data-plane checks: sidecars that are missing, stale, mismatched or skewed.
//!
//! The two failures users meet most (see the k3d guide's troubleshooting section):
//! - `CERTIFICATE_VERIFY_FAILED`: istio-proxy started before istiod's current root certificate
//!   existed, so it does not trust peers' new certificates (istio/istio#36723, istio/istio#44932).
//!   Restarting exactly those pods fixes it.
//! - `503 … connection termination`: a pod without a sidecar talks plaintext to a STRICT mTLS
//!   workload, or a pod came up before its namespace was labelled for injection.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;

use super::{age, group_by_owner, image_tag, name_list, need, plural, pod_refs};
use crate::doctor::certs::{parse_ca_bundle, parse_pem_bundle, CertBundle};
use crate::doctor::finding::{Category, Finding, ResourceRef};
use crate::doctor::model::{Namespace, Pod, Snapshot};
use crate::doctor::raw::Kind;

const CAT: Category = Category::DataPlane;

/// The injection labels of a namespace as Istio's injection analyzer lists them (`injection.go:73-88`):
/// `istio-injection=V` when present; `istio.io/rev` and `istio.io/dataplane-mode` when present and
/// `istio-injection` is absent or `enabled` (a namespace with injection disabled conflicts with nothing).
fn injection_labels(n: &Namespace) -> Vec<(&'static str, &str)> {
    let injection = n.labels.get("istio-injection").map(String::as_str);
    let mut out = Vec::new();
    if let Some(v) = injection {
        out.push(("istio-injection", v));
    }
    for key in ["istio.io/rev", crate::ambient::DATAPLANE_MODE] {
        if let Some(v) = n.labels.get(key) {
            if injection.is_none_or(|i| i == "enabled") {
                out.push((key, v.as_str()));
            }
        }
    }
    out
}

pub(super) fn injection_label_conflict(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "injection-label-conflict";
    let namespaces = need!(&s.namespaces, Kind::Namespace, ID, CAT);
    let mut out = Vec::new();
    // istio-system is skipped, as Istio's analyzer does.
    for n in namespaces.iter().filter(|n| n.name != "istio-system") {
        let labels = injection_labels(n);
        if labels.len() < 2 {
            continue;
        }
        let get = |key: &str| labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let (injection, rev, mode) = (
            get("istio-injection"),
            get("istio.io/rev"),
            get(crate::ambient::DATAPLANE_MODE),
        );
        let shown: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut why = Vec::new();
        let mut hints = Vec::new();
        if let (Some(_), Some(rev)) = (injection, rev) {
            why.push(format!("istio-injection wins and revision {rev} is ignored"));
            hints.push(format!(
                "keep one: kubectl label namespace {} istio-injection- (to use revision {rev})",
                n.name
            ));
        }
        match mode {
            Some("ambient") => {
                why.push(
                    "new pods get sidecars, and Istio then leaves them out of ambient mode; pods without a sidecar are in ambient mode"
                        .to_string(),
                );
                let sidecar_label = if injection.is_some() {
                    "istio-injection"
                } else {
                    "istio.io/rev"
                };
                hints.push(format!(
                    "pick one mode: kubectl label namespace {0} {sidecar_label}- (ambient) or kubectl label namespace {0} {1}- (sidecars)",
                    n.name,
                    crate::ambient::DATAPLANE_MODE
                ));
            }
            Some(other) => {
                why.push(format!(
                    "{}={other} has no effect on a namespace that injects sidecars",
                    crate::ambient::DATAPLANE_MODE
                ));
                hints.push(format!(
                    "remove it: kubectl label namespace {} {}-",
                    n.name,
                    crate::ambient::DATAPLANE_MODE
                ));
            }
            None => {}
        }
        out.push(
            Finding::warning(
                ID,
                CAT,
                format!(
                    "namespace {} has more than one kind of injection label ({}): {}",
                    n.name,
                    shown.join(", "),
                    why.join("; ")
                ),
            )
            .with_hint(hints.join("; "))
            .with_resources(vec![ResourceRef::cluster("Namespace", &n.name)]),
        );
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            CAT,
            "no namespace mixes injection labels (istio-injection, istio.io/rev, istio.io/dataplane-mode)",
        ));
    }
    out
}

/// Pods that should have a sidecar (when in an injected namespace or labelled for injection):
/// not opted out, running or pending, not on the host network.
fn expects_sidecar(pod: &Pod) -> bool {
    !pod.injection_opted_out() && !pod.completed() && !pod.host_network
}

pub(super) fn sidecar_missing(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "sidecar-missing";
    let namespaces = need!(&s.namespaces, Kind::Namespace, ID, CAT);
    let pods = need!(&s.pods, Kind::Pod, ID, CAT);
    let mesh: HashMap<&str, &Namespace> = namespaces
        .iter()
        .filter(|n| n.injection_enabled())
        .map(|n| (n.name.as_str(), n))
        .collect();
    let mut checked = 0usize;
    let mut ambient = 0usize;
    let missing = pods.iter().filter(|p| {
        // The pod label `sidecar.istio.io/inject: "true"` asks for injection in any namespace.
        let wanted = mesh.contains_key(p.namespace.as_str()) || p.injection_requested();
        let relevant = wanted && expects_sidecar(p);
        // ztunnel carries an ambient pod's traffic: it needs no sidecar.
        if relevant && p.mode.is_ambient() {
            ambient += 1;
            return false;
        }
        checked += usize::from(relevant);
        relevant && p.sidecar.is_none()
    });
    let groups = group_by_owner(s, missing);
    if groups.is_empty() {
        let skipped = if ambient > 0 {
            format!(
                "; {} skipped (ztunnel carries their mTLS)",
                plural(ambient, "ambient pod")
            )
        } else {
            String::new()
        };
        return vec![Finding::ok(
            ID,
            CAT,
            format!(
                "all {} in {} have an istio-proxy sidecar{skipped}",
                plural(checked, "pod"),
                plural(mesh.len(), "injected namespace")
            ),
        )];
    }
    groups
        .iter()
        .map(|(key, pods)| {
            let ns = mesh.get(key.namespace.as_str());
            let label = ns.and_then(|n| n.injection_label());
            let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
            let mut message = format!(
                "{}: {} without istio-proxy sidecar ({})",
                key.describe(),
                plural(pods.len(), "pod"),
                name_list(&names, 5)
            );
            if let Some((label_key, Some(set))) = label {
                let early = pods
                    .iter()
                    .filter(|p| p.created.is_some_and(|c| c < set.time))
                    .count();
                if early > 0 {
                    message.push_str(&format!(
                        "; {} created before label {label_key} was set on namespace {} ({}, by {})",
                        if early == pods.len() { "all were".to_string() } else { format!("{early} were") },
                        key.namespace,
                        set.time,
                        set.manager
                    ));
                }
            }
            Finding::error(ID, CAT, message)
                .with_hint(format!(
                    "restart so the injector adds the sidecar: kubectl mesh recover (or {}); if it was created after the label, check that istiod's injector webhook is reachable",
                    key.manual_command()
                ))
                .with_resources(pod_refs(pods))
                .with_fix(key.fix(pods, "pod has no istio-proxy sidecar in an injected namespace"))
        })
        .collect()
}

/// Parse each namespace's istio-ca-root-cert once.
fn bundles(s: &Snapshot) -> Option<BTreeMap<&str, CertBundle>> {
    let cms = s.root_certs.as_ref().ok()?;
    Some(
        cms.iter()
            .map(|cm| {
                let bundle = match &cm.root_cert_pem {
                    Some(pem) => parse_pem_bundle(pem),
                    None => CertBundle {
                        certs: Vec::new(),
                        errors: vec!["no root-cert.pem key".to_string()],
                    },
                };
                (cm.namespace.as_str(), bundle)
            })
            .collect(),
    )
}

pub(super) fn stale_sidecar_cert(s: &Snapshot, now: Timestamp) -> Vec<Finding> {
    const ID: &str = "stale-sidecar-cert";
    let pods = need!(&s.pods, Kind::Pod, ID, CAT);
    need!(&s.root_certs, Kind::ConfigMap, ID, CAT);
    let bundles = bundles(s).unwrap_or_default();
    let mut out = Vec::new();
    for (ns, bundle) in &bundles {
        if !bundle.errors.is_empty() {
            out.push(
                Finding::warning(
                    ID,
                    CAT,
                    format!(
                        "ConfigMap {ns}/istio-ca-root-cert: {} ({} certificate(s) readable)",
                        bundle.errors.join("; "),
                        bundle.certs.len()
                    ),
                )
                .with_hint(
                    "istiod writes this ConfigMap; check istiod's logs: kubectl -n istio-system logs deploy/istiod",
                )
                .with_resources(vec![ResourceRef::new("ConfigMap", ns, "istio-ca-root-cert")]),
            );
        }
    }
    let fallback = bundles.get("istio-system").and_then(CertBundle::current);
    let mut checked = 0usize;
    let mut stale: Vec<&Pod> = Vec::new();
    for pod in pods {
        let (Some(sidecar), false) = (&pod.sidecar, pod.completed()) else {
            continue;
        };
        let Some(started) = sidecar.started_at else {
            continue;
        };
        let root = bundles
            .get(pod.namespace.as_str())
            .and_then(CertBundle::current)
            .or(fallback);
        let Some(root) = root else { continue };
        checked += 1;
        if started < root.not_before {
            stale.push(pod);
        }
    }
    let groups = group_by_owner(s, stale);
    if groups.is_empty() {
        if out.is_empty() {
            out.push(Finding::ok(
                ID,
                CAT,
                format!(
                    "all {} started after their namespace's current Istio root certificate",
                    plural(checked, "sidecar")
                ),
            ));
        }
        return out;
    }
    for (key, pods) in &groups {
        let root = bundles
            .get(key.namespace.as_str())
            .and_then(CertBundle::current)
            .or(fallback);
        let Some(root) = root else { continue };
        let names: Vec<String> = pods
            .iter()
            .map(|p| match p.sidecar.as_ref().and_then(|sc| sc.started_at) {
                Some(t) => format!("{} (proxy started {t})", p.name),
                None => p.name.clone(),
            })
            .collect();
        out.push(
            Finding::error(
                ID,
                CAT,
                format!(
                    "{}: {} started before the current Istio root certificate (NotBefore {}, {} ago): {}",
                    key.describe(),
                    plural(pods.len(), "sidecar"),
                    root.not_before,
                    age(root.not_before, now),
                    name_list(&names, 5)
                ),
            )
            .with_hint(format!(
                "these proxies do not trust the new root: requests fail with CERTIFICATE_VERIFY_FAILED; restart them: kubectl mesh recover (or {})",
                key.manual_command()
            ))
            .with_resources(pod_refs(pods))
            .with_fix(key.fix(pods, "istio-proxy started before the current root certificate")),
        );
    }
    out
}

pub(super) fn root_cert_mismatch(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "root-cert-mismatch";
    need!(&s.root_certs, Kind::ConfigMap, ID, CAT);
    let bundles = bundles(s).unwrap_or_default();
    let Some(system) = bundles.get("istio-system") else {
        return vec![Finding::skipped(
            ID,
            CAT,
            "no istio-ca-root-cert ConfigMap in istio-system to compare with",
        )];
    };
    let system_set = system.der_set();
    let mut out = Vec::new();
    for (ns, bundle) in &bundles {
        if *ns == "istio-system" || bundle.certs.is_empty() {
            continue;
        }
        if bundle.der_set() != system_set {
            let nb = |b: &CertBundle| {
                b.current()
                    .map(|c| c.not_before.to_string())
                    .unwrap_or_else(|| "none".to_string())
            };
            out.push(
                Finding::error(
                    ID,
                    CAT,
                    format!(
                        "ConfigMap {ns}/istio-ca-root-cert differs from istio-system's (newest root NotBefore {} here, {} in istio-system)",
                        nb(bundle),
                        nb(system)
                    ),
                )
                .with_hint(format!(
                    "istiod rewrites it; if it stays different delete it so istiod recreates it: kubectl -n {ns} delete configmap istio-ca-root-cert, then kubectl mesh recover"
                ))
                .with_resources(vec![ResourceRef::new("ConfigMap", ns, "istio-ca-root-cert")]),
            );
        }
    }
    if let Ok(mwcs) = &s.mutating_webhooks {
        for mwc in mwcs.iter().filter(|m| m.name.starts_with("istio-sidecar-injector")) {
            for hook in &mwc.webhooks {
                let Some(b64) = hook.ca_bundle.as_deref().filter(|b| !b.is_empty()) else {
                    continue;
                };
                let ca = parse_ca_bundle(b64);
                let shared = ca.certs.iter().any(|c| system_set.contains(&c.der.as_slice()));
                if !shared {
                    out.push(
                        Finding::warning(
                            ID,
                            CAT,
                            format!(
                                "MutatingWebhookConfiguration {} webhook {}: caBundle does not contain istio-system's root certificate{}",
                                mwc.name,
                                hook.name,
                                if ca.errors.is_empty() { String::new() } else { format!(" ({})", ca.errors.join("; ")) }
                            ),
                        )
                        .with_hint("istiod patches the injector caBundle at start; restart istiod: kubectl -n istio-system rollout restart deployment/istiod")
                        .with_resources(vec![ResourceRef::cluster("MutatingWebhookConfiguration", &mwc.name)]),
                    );
                }
            }
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            CAT,
            format!(
                "istio-ca-root-cert matches istio-system's in all {}",
                plural(bundles.len(), "namespace")
            ),
        ));
    }
    out
}

/// The image variants Istio's injector appends to the proxy tag (`pkg/kube/inject/inject.go:94-98`
/// `KnownImageTypes`; it builds `<tag>-<variant>`, `inject.go:383-407`).
const IMAGE_VARIANTS: [&str; 2] = ["distroless", "debug"];

/// A tag without its image variant: `1.26.2-distroless` → (`1.26.2`, Some(`distroless`)).
pub(super) fn strip_image_variant(tag: &str) -> (&str, Option<&'static str>) {
    for v in IMAGE_VARIANTS {
        if let Some(base) = tag.strip_suffix(v).and_then(|b| b.strip_suffix('-')) {
            if !base.is_empty() {
                return (base, Some(v));
            }
        }
    }
    (tag, None)
}

/// Versions of istiod (image tags of the istiod Deployments in istio-system).
pub(crate) fn istiod_versions(s: &Snapshot) -> Option<BTreeSet<String>> {
    let deps = s.deployments.as_ref().ok()?;
    let versions: BTreeSet<String> = deps
        .iter()
        .filter(|d| d.namespace == "istio-system" && is_istiod(&d.name, &d.labels))
        .filter_map(|d| {
            d.images
                .iter()
                .find(|(n, _)| n == "discovery")
                .or(d.images.first())
                .and_then(|(_, img)| image_tag(img))
                .map(str::to_string)
        })
        .collect();
    Some(versions)
}

pub(super) fn is_istiod(name: &str, labels: &BTreeMap<String, String>) -> bool {
    name == "istiod" || name.starts_with("istiod-") || labels.get("app").map(String::as_str) == Some("istiod")
}

/// Sidecar proxy versions against istiod's. Versions, not images, are compared: an image variant Istio's
/// injector builds (`proxyv2:1.3.1-distroless` for istiod 1.3.1) is the same version, as in Istio's IST0158
/// (`injection-image.go:139`); a different registry is not skew either. Pods whose proxy image was chosen by
/// hand (`sidecar.istio.io/proxyImage`) are skipped, as Istio's analyzer skips them. Unlike IST0158, sidecars
/// outside injected namespaces are judged too: an old proxy is old wherever it runs.
pub(super) fn proxy_version_skew(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "proxy-version-skew";
    let pods = need!(&s.pods, Kind::Pod, ID, CAT);
    need!(&s.deployments, Kind::Deployment, ID, CAT);
    let tags = istiod_versions(s).unwrap_or_default();
    if tags.is_empty() {
        return vec![Finding::skipped(
            ID,
            CAT,
            "istiod version unknown (no tagged istiod Deployment in istio-system)",
        )];
    }
    let versions: BTreeSet<&str> = tags.iter().map(|t| strip_image_variant(t).0).collect();
    // Proxy version → (pods, variants seen).
    let mut by_version: BTreeMap<&str, (Vec<&Pod>, BTreeSet<&str>)> = BTreeMap::new();
    let mut checked = 0;
    for pod in pods.iter().filter(|p| !p.completed() && !p.custom_proxy_image) {
        let Some(tag) = pod.sidecar.as_ref().and_then(|sc| image_tag(&sc.image)) else {
            continue;
        };
        checked += 1;
        let (version, variant) = strip_image_variant(tag);
        if !versions.contains(version) {
            let entry = by_version.entry(version).or_default();
            entry.0.push(pod);
            entry.1.extend(variant);
        }
    }
    let istiod = versions.iter().copied().collect::<Vec<_>>().join(", ");
    if by_version.is_empty() {
        return vec![Finding::ok(
            ID,
            CAT,
            format!("all {} run istiod's version {istiod}", plural(checked, "sidecar")),
        )];
    }
    by_version
        .into_iter()
        .map(|(version, (pods, variants))| {
            let owners: Vec<String> = group_by_owner(s, pods.iter().copied())
                .keys()
                .map(|k| k.describe())
                .collect();
            let variants = if variants.is_empty() {
                String::new()
            } else {
                format!(" ({})", variants.into_iter().collect::<Vec<_>>().join(", "))
            };
            Finding::warning(
                ID,
                CAT,
                format!(
                    "{} run proxy {version}{variants} while istiod runs {istiod}: {}",
                    plural(pods.len(), "sidecar"),
                    name_list(&owners, 5)
                ),
            )
            .with_hint("after upgrading istiod, restart workloads so they get the new proxy: kubectl -n NAMESPACE rollout restart deployment/NAME")
            .with_resources(pod_refs(&pods))
        })
        .collect()
}

pub(super) fn pods_not_ready(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "pods-not-ready";
    let namespaces = need!(&s.namespaces, Kind::Namespace, ID, CAT);
    let pods = need!(&s.pods, Kind::Pod, ID, CAT);
    // Mesh namespaces: injected, or in ambient mode.
    let mesh: BTreeSet<&str> = namespaces
        .iter()
        .filter(|n| n.injection_enabled() || crate::ambient::namespace_in_ambient(&n.labels))
        .map(|n| n.name.as_str())
        .collect();
    let mut not_ready: Vec<&Pod> = pods
        .iter()
        .filter(|p| mesh.contains(p.namespace.as_str()) && !p.completed() && !p.ready)
        .collect();
    if not_ready.is_empty() {
        return vec![Finding::ok(
            ID,
            CAT,
            "all pods in injected and ambient namespaces are ready",
        )];
    }
    not_ready.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let names: Vec<String> = not_ready
        .iter()
        .map(|p| {
            let why = match &p.sidecar {
                Some(sc) if !sc.ready => ", istio-proxy not ready",
                _ => "",
            };
            format!(
                "{}/{} ({}{why})",
                p.namespace,
                p.name,
                if p.phase.is_empty() { "Unknown" } else { &p.phase }
            )
        })
        .collect();
    vec![Finding::warning(
        ID,
        CAT,
        format!("{} not ready: {}", plural(not_ready.len(), "pod"), name_list(&names, 5)),
    )
    .with_hint("see why: kubectl -n NAMESPACE describe pod NAME")
    .with_resources(pod_refs(&not_ready))]
}
