//! Checks across clusters (`doctor --context A --context B`, `--all-contexts`): the facts each cluster's
//! snapshot gives ([`ClusterFacts`]), compared pair by pair.
//!
//! - `multicluster-root-mismatch`: Istio's multicluster setup "requires that you establish trust between all
//!   clusters in the mesh … use a common root to generate intermediate certificates for each cluster"
//!   (istio.io, "Before you begin" of the multicluster install). Clusters whose `istio-ca-root-cert` in
//!   istio-system share no certificate cannot verify each other's workloads: cross-cluster mTLS fails with
//!   CERTIFICATE_VERIFY_FAILED.
//! - `multicluster-version-skew`: istiod versions more than one minor apart.

use std::collections::BTreeSet;

use super::certs::{parse_pem_bundle, CertBundle};
use super::finding::{Category, Finding, ResourceRef};
use super::model::Snapshot;

pub const ROOT_MISMATCH_ID: &str = "multicluster-root-mismatch";
pub const VERSION_SKEW_ID: &str = "multicluster-version-skew";

const CAT: Category = Category::Multicluster;
const ISTIO_NS: &str = "istio-system";
const ROOT_CM: &str = "istio-ca-root-cert";

/// What the cross-cluster checks need from one cluster (taken from its snapshot, which can then be dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterFacts {
    /// The kubeconfig context.
    pub context: String,
    /// `root-cert.pem` of `istio-system/istio-ca-root-cert`, when present.
    pub root_pem: Option<String>,
    /// Image tags of istiod's discovery container (one per revision).
    pub istiod_versions: BTreeSet<String>,
}

impl ClusterFacts {
    pub fn from_snapshot(context: &str, s: &Snapshot) -> ClusterFacts {
        let root_pem = s.root_certs.as_ref().ok().and_then(|cms| {
            cms.iter()
                .find(|c| c.namespace == ISTIO_NS)
                .and_then(|c| c.root_cert_pem.clone())
        });
        ClusterFacts {
            context: context.to_string(),
            root_pem,
            istiod_versions: super::checks::istiod_versions(s).unwrap_or_default(),
        }
    }
}

fn root_ref(context: &str) -> ResourceRef {
    ResourceRef::new("ConfigMap", ISTIO_NS, ROOT_CM).in_cluster(context)
}

fn describe(bundle: &CertBundle) -> String {
    let certs: Vec<String> = bundle
        .certs
        .iter()
        .map(|c| {
            format!(
                "{}, NotBefore {}",
                if c.subject.is_empty() { "no subject" } else { &c.subject },
                c.not_before
            )
        })
        .collect();
    certs.join("; ")
}

/// Istio's own words for the fix ("Plug in CA certificates", istio.io).
const SHARED_ROOT_HINT: &str = "give every cluster an intermediate CA signed by one common root (istio.io \"Plug in CA certificates\"): kubectl --context CTX -n istio-system create secret generic cacerts --from-file=ca-cert.pem --from-file=ca-key.pem --from-file=root-cert.pem --from-file=cert-chain.pem; then restart istiod and the workloads (kubectl mesh recover)";

/// Run both cross-cluster checks over the clusters that could be read.
pub fn cross_checks(clusters: &[ClusterFacts]) -> Vec<Finding> {
    let mut out = root_mismatch(clusters);
    out.extend(version_skew(clusters));
    out
}

fn root_mismatch(clusters: &[ClusterFacts]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut bundles: Vec<(&str, CertBundle)> = Vec::new();
    for c in clusters {
        match c.root_pem.as_deref().map(parse_pem_bundle) {
            Some(b) if !b.certs.is_empty() => bundles.push((&c.context, b)),
            Some(b) => out.push(
                Finding::skipped(
                    ROOT_MISMATCH_ID,
                    CAT,
                    format!(
                        "{}: ConfigMap istio-system/{ROOT_CM} holds no readable certificate ({}): not compared",
                        c.context,
                        b.errors.join("; ")
                    ),
                )
                .with_resources(vec![root_ref(&c.context)]),
            ),
            None => out.push(Finding::skipped(
                ROOT_MISMATCH_ID,
                CAT,
                format!(
                    "{}: no ConfigMap istio-system/{ROOT_CM} (is Istio installed?): not compared",
                    c.context
                ),
            )),
        }
    }
    if bundles.len() < 2 {
        out.push(Finding::skipped(
            ROOT_MISMATCH_ID,
            CAT,
            "fewer than two clusters with an Istio root certificate to compare",
        ));
        return out;
    }
    let mut problems = 0;
    for (i, (a, ab)) in bundles.iter().enumerate() {
        for (b, bb) in &bundles[i + 1..] {
            let (sa, sb) = (ab.der_set(), bb.der_set());
            if sa == sb {
                continue;
            }
            problems += 1;
            let shared = sa.iter().filter(|d| sb.contains(d)).count();
            let resources = vec![root_ref(a), root_ref(b)];
            if shared == 0 {
                out.push(
                    Finding::error(
                        ROOT_MISMATCH_ID,
                        CAT,
                        format!(
                            "{a} and {b} share no Istio root certificate: cross-cluster mTLS fails with CERTIFICATE_VERIFY_FAILED ({a}: {}; {b}: {})",
                            describe(ab),
                            describe(bb)
                        ),
                    )
                    .with_hint(SHARED_ROOT_HINT)
                    .with_resources(resources),
                );
            } else {
                out.push(
                    Finding::warning(
                        ROOT_MISMATCH_ID,
                        CAT,
                        format!(
                            "{a} and {b} trust different root bundles ({shared} of {} roots shared): a root rotation in progress? Workloads signed by a root the other cluster lacks fail cross-cluster",
                            sa.len().max(sb.len())
                        ),
                    )
                    .with_hint("finish the rotation: put the same roots in every cluster's cacerts secret, then restart istiod and the workloads")
                    .with_resources(resources),
                );
            }
        }
    }
    if problems == 0 {
        let names: Vec<&str> = bundles.iter().map(|(c, _)| *c).collect();
        out.push(
            Finding::ok(
                ROOT_MISMATCH_ID,
                CAT,
                format!("{} trust the same Istio root certificate", names.join(", ")),
            )
            .with_resources(names.iter().map(|c| root_ref(c)).collect()),
        );
    }
    out
}

/// `1.26.2`, `1.26.2-distroless`, `1.27.0-beta.1` → (major, minor); `latest`, digests, other tags → None.
pub fn parse_version(tag: &str) -> Option<(u64, u64)> {
    let tag = tag
        .strip_suffix("-distroless")
        .or_else(|| tag.strip_suffix("-debug"))
        .unwrap_or(tag);
    let core = tag.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// An istiod image tag and its (major, minor).
type Version = (String, (u64, u64));

fn version_skew(clusters: &[ClusterFacts]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut known: Vec<(&str, Vec<Version>)> = Vec::new();
    for c in clusters {
        let parsed: Vec<Version> = c
            .istiod_versions
            .iter()
            .filter_map(|v| parse_version(v).map(|p| (v.clone(), p)))
            .collect();
        if parsed.is_empty() {
            out.push(Finding::skipped(
                VERSION_SKEW_ID,
                CAT,
                format!(
                    "{}: istiod version unknown ({}): not compared",
                    c.context,
                    if c.istiod_versions.is_empty() {
                        "no tagged istiod Deployment in istio-system".to_string()
                    } else {
                        format!(
                            "tag {}",
                            c.istiod_versions.iter().cloned().collect::<Vec<_>>().join(", ")
                        )
                    }
                ),
            ));
        } else {
            known.push((&c.context, parsed));
        }
    }
    if known.len() < 2 {
        out.push(Finding::skipped(
            VERSION_SKEW_ID,
            CAT,
            "fewer than two clusters with a known istiod version to compare",
        ));
        return out;
    }
    let mut problems = 0;
    for (i, (a, av)) in known.iter().enumerate() {
        for (b, bv) in &known[i + 1..] {
            let worst = av
                .iter()
                .flat_map(|x| bv.iter().map(move |y| (x, y)))
                .filter(|((_, (ma, na)), (_, (mb, nb)))| ma != mb || na.abs_diff(*nb) > 1)
                .max_by_key(|((_, (ma, na)), (_, (mb, nb)))| (ma.abs_diff(*mb), na.abs_diff(*nb)));
            if let Some(((va, _), (vb, _))) = worst {
                problems += 1;
                out.push(
                    Finding::warning(
                        VERSION_SKEW_ID,
                        CAT,
                        format!("{a} runs istiod {va}, {b} runs {vb}: more than one minor version apart"),
                    )
                    .with_hint("upgrade the older control plane one minor version at a time until they are at most one minor apart")
                    .with_resources(vec![
                        ResourceRef::new("Deployment", "istio-system", "istiod").in_cluster(a),
                        ResourceRef::new("Deployment", "istio-system", "istiod").in_cluster(b),
                    ]),
                );
            }
        }
    }
    if problems == 0 {
        let versions: Vec<String> = known
            .iter()
            .map(|(c, v)| {
                format!(
                    "{c} {}",
                    v.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join("/")
                )
            })
            .collect();
        out.push(Finding::ok(
            VERSION_SKEW_ID,
            CAT,
            format!("istiod versions are at most one minor apart ({})", versions.join(", ")),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(ctx: &str, pem: Option<&str>, versions: &[&str]) -> ClusterFacts {
        ClusterFacts {
            context: ctx.into(),
            root_pem: pem.map(str::to_string),
            istiod_versions: versions.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn versions_parse_with_variants_and_ignore_other_tags() {
        assert_eq!(parse_version("1.26.2"), Some((1, 26)));
        assert_eq!(parse_version("1.26.2-distroless"), Some((1, 26)));
        assert_eq!(parse_version("1.27.0-beta.1"), Some((1, 27)));
        assert_eq!(parse_version("latest"), None);
        assert_eq!(parse_version("sha256"), None);
    }

    #[test]
    fn skew_beyond_one_minor_is_a_warning() {
        let f = version_skew(&[facts("east", None, &["1.26.2"]), facts("west", None, &["1.24.3"])]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, crate::doctor::Status::Warning);
        assert!(
            f[0].message.contains("east runs istiod 1.26.2, west runs 1.24.3"),
            "{}",
            f[0].message
        );
        for other in ["1.25.0", "1.26.2-distroless", "1.27.1"] {
            let f = version_skew(&[facts("east", None, &["1.26.2"]), facts("west", None, &[other])]);
            assert_eq!(f[0].status, crate::doctor::Status::Ok, "{other}: {f:?}");
        }
        let f = version_skew(&[facts("east", None, &["1.26.2"]), facts("west", None, &["latest"])]);
        assert!(f.iter().all(|f| f.status == crate::doctor::Status::Skipped), "{f:?}");
    }

    #[test]
    fn roots_are_compared_as_sets() {
        use mesh_sandbox::scenario::{ROOT_CERT_PEM as A, ROTATED_ROOT_CERT_PEM as B};
        let both = format!("{A}\n{B}");
        let status = |x: &str, y: &str| {
            let f = root_mismatch(&[facts("east", Some(x), &[]), facts("west", Some(y), &[])]);
            assert_eq!(f.len(), 1, "{f:?}");
            (f[0].status, f[0].message.clone(), f[0].resources.clone())
        };
        assert_eq!(status(A, A).0, crate::doctor::Status::Ok);
        assert_eq!(
            status(&both, &format!("{B}\n{A}")).0,
            crate::doctor::Status::Ok,
            "order does not matter"
        );
        let (st, msg, res) = status(A, B);
        assert_eq!(st, crate::doctor::Status::Error);
        assert!(msg.contains("east and west share no Istio root certificate"), "{msg}");
        assert!(msg.contains("CERTIFICATE_VERIFY_FAILED"), "{msg}");
        let clusters: Vec<Option<&str>> = res.iter().map(|r| r.cluster.as_deref()).collect();
        assert_eq!(clusters, vec![Some("east"), Some("west")]);
        assert_eq!(status(A, &both).0, crate::doctor::Status::Warning);
    }

    #[test]
    fn clusters_without_a_root_are_skipped() {
        let f = root_mismatch(&[facts("east", None, &[]), facts("west", None, &[])]);
        assert!(f.iter().all(|f| f.status == crate::doctor::Status::Skipped), "{f:?}");
    }
}
