//! `gateway-api-crd-version`: Gateway API CRDs istiod ignores, and CRDs k3s' packaged Traefik owns.
//!
//! istiod does not watch a Gateway API CRD below the bundle version it needs: `minimumVersionFilter`
//! (istio/istio `pkg/kube/kclient/crdwatcher.go:165-200` at 1.30.3) ignores a CRD of its table without the
//! `gateway.networking.k8s.io/bundle-version` annotation, with an unparsable one, or one below the minimum
//! (prereleases rounded up: `v1.5.0-rc1` counts as `v1.5.0`); "resources of this kind will not be processed".
//! Istio's analyzer IST0176 `GatewayAPICRDVersionBelowMinimum` reports the last case.
//!
//! k3s deploys the Gateway API CRDs with its Traefik (Helm release `kube-system/traefik-crd`, chart 34.x and
//! newer): k3s re-deploys that chart when it starts or upgrades, and Helm refuses to let another release take
//! the CRDs over (k3s-io/k3s#11932).

use std::collections::BTreeSet;

use super::data_plane::{istiod_versions, strip_image_variant};
use super::{name_list, need};
use crate::doctor::finding::{Category, Finding, ResourceRef};
use crate::doctor::model::{Crd, Snapshot};
use crate::doctor::raw::Kind;

const ID: &str = "gateway-api-crd-version";
const CAT: Category = Category::Prerequisites;
const GROUP: &str = "gateway.networking.k8s.io";
const BUNDLE: &str = "gateway.networking.k8s.io/bundle-version";

/// A release version: (major, minor, patch).
pub(crate) type Version = (u64, u64, u64);

const LATEST: u64 = u64::MAX;

/// The minimum bundle version of each CRD (by plural) one istiod release filters.
pub(crate) type Minimums = &'static [(&'static str, Version)];

/// A row of [`MINIMUMS`]: istiod releases from, to (both included), and their minimums.
pub(crate) type Row = (Version, Version, Minimums);

/// The minimum bundle version of each CRD istiod filters, per istiod release range (both ends included).
///
/// Read from every istio/istio tag 1.20.0–1.30.3 and branch `release-1.31` (= master at 86c9f01, 2026-08-22):
/// `pkg/config/schema/gatewayapi/minimumversions.go` `MinimumCRDVersions` from 1.30.3, before that
/// `pkg/kube/kclient/crdwatcher.go` `minimumCRDVersions`, with
/// `for t in $(git tag | sort -V) release-1.31; do git show $t:FILE | grep 'gateway.networking.k8s.io": *semver'; done`.
/// Releases before 1.22.0 filter nothing. Patch releases changed the table (1.27.9, 1.28.6/7, 1.29.2/3): re-run it
/// when adding rows. A release above the table gets its last row.
pub(crate) const MINIMUMS: &[Row] = &[
    ((1, 22, 0), (1, 27, 8), &[("grpcroutes", (1, 1, 0))]),
    (
        (1, 27, 9),
        (1, 27, LATEST),
        &[("grpcroutes", (1, 1, 0)), ("tlsroutes", (1, 4, 0))],
    ),
    (
        (1, 28, 0),
        (1, 28, 5),
        &[("grpcroutes", (1, 1, 0)), ("backendtlspolicies", (1, 4, 0))],
    ),
    (
        (1, 28, 6),
        (1, 28, 6),
        &[
            ("grpcroutes", (1, 1, 0)),
            ("backendtlspolicies", (1, 4, 0)),
            ("tlsroutes", (1, 4, 0)),
        ],
    ),
    (
        (1, 28, 7),
        (1, 28, LATEST),
        &[
            ("grpcroutes", (1, 1, 0)),
            ("backendtlspolicies", (1, 4, 0)),
            ("tlsroutes", (1, 4, 1)),
        ],
    ),
    (
        (1, 29, 0),
        (1, 29, 1),
        &[("grpcroutes", (1, 1, 0)), ("backendtlspolicies", (1, 4, 0))],
    ),
    (
        (1, 29, 2),
        (1, 29, 2),
        &[
            ("grpcroutes", (1, 1, 0)),
            ("backendtlspolicies", (1, 4, 0)),
            ("tlsroutes", (1, 4, 0)),
        ],
    ),
    (
        (1, 29, 3),
        (1, 29, LATEST),
        &[
            ("grpcroutes", (1, 1, 0)),
            ("backendtlspolicies", (1, 4, 0)),
            ("tlsroutes", (1, 4, 1)),
        ],
    ),
    (
        (1, 30, 0),
        (1, 30, LATEST),
        &[
            ("grpcroutes", (1, 1, 0)),
            ("backendtlspolicies", (1, 4, 0)),
            ("tlsroutes", (1, 5, 0)),
        ],
    ),
    (
        (1, 31, 0),
        (LATEST, LATEST, LATEST),
        &[
            ("grpcroutes", (1, 1, 0)),
            ("backendtlspolicies", (1, 4, 0)),
            ("tlsroutes", (1, 5, 0)),
            ("tcproutes", (1, 6, 0)),
        ],
    ),
];

/// Istio's minimums for an istiod release (`None` for a release before 1.22, which filters nothing).
pub(crate) fn minimums(istiod: Version) -> Option<Minimums> {
    MINIMUMS
        .iter()
        .find(|(from, to, _)| *from <= istiod && istiod <= *to)
        .map(|(_, _, m)| *m)
}

/// Parse a version as Masterminds' semver `NewVersion` does (Istio's parser): an optional `v`, one to three
/// numbers, then an optional `-prerelease` and `+metadata`, which are dropped (Istio rounds prereleases up).
pub(crate) fn parse_version(text: &str) -> Option<Version> {
    let t = text.strip_prefix('v').unwrap_or(text);
    let t = t.split_once('+').map_or(t, |(v, _)| v);
    let (core, pre) = t.split_once('-').map_or((t, None), |(v, p)| (v, Some(p)));
    if pre.is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')) {
        return None;
    }
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let n = |i: usize| parts.get(i).map_or(Some(0), |p| p.parse::<u64>().ok());
    Some((n(0)?, n(1)?, n(2)?))
}

fn show((a, b, c): Version) -> String {
    format!("v{a}.{b}.{c}")
}

fn istiod_show((a, b, c): Version) -> String {
    format!("{a}.{b}.{c}")
}

/// Why an istiod ignores a CRD.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ignored {
    NoAnnotation,
    Invalid(String),
    Below(String),
}

pub(super) fn gateway_api_crd_version(s: &Snapshot) -> Vec<Finding> {
    let crds = need!(&s.crds, Kind::CustomResourceDefinition, ID, CAT);
    let gateway_crds: Vec<&Crd> = crds.iter().filter(|c| c.group == GROUP).collect();
    if gateway_crds.is_empty() {
        return vec![Finding::ok(
            ID,
            CAT,
            "no Gateway API CRDs installed (gateway-api-crds says what is missing)",
        )];
    }
    let tags = istiod_versions(s).unwrap_or_default();
    let mut known: BTreeSet<Version> = BTreeSet::new();
    let mut unknown: Vec<String> = Vec::new();
    for tag in &tags {
        match parse_version(strip_image_variant(tag).0) {
            Some(v) => {
                known.insert(v);
            }
            None => unknown.push(tag.clone()),
        }
    }
    let mut out = Vec::new();
    let mut in_table: BTreeSet<&str> = BTreeSet::new();

    // (a), (b): per CRD of the istiods' tables, the istiods that ignore it.
    for crd in &gateway_crds {
        let mut ignoring: Vec<(Version, Version, Ignored)> = Vec::new();
        for istiod in &known {
            let Some(min) = minimums(*istiod).and_then(|m| m.iter().find(|(p, _)| *p == crd.plural)) else {
                continue;
            };
            in_table.insert(crd.plural.as_str());
            let why = match crd.bundle_version.as_deref() {
                None => Some(Ignored::NoAnnotation),
                Some(b) => match parse_version(b) {
                    None => Some(Ignored::Invalid(b.to_string())),
                    Some(v) if v < min.1 => Some(Ignored::Below(b.to_string())),
                    Some(_) => None,
                },
            };
            if let Some(why) = why {
                ignoring.push((*istiod, min.1, why));
            }
        }
        let Some((_, _, why)) = ignoring.first() else { continue };
        let who: Vec<String> = ignoring.iter().map(|(v, _, _)| istiod_show(*v)).collect();
        let needed = ignoring.iter().map(|(_, m, _)| *m).max().unwrap_or((1, 0, 0));
        let verb = if who.len() == 1 { "ignores" } else { "ignore" };
        let cause = match why {
            Ignored::NoAnnotation => format!("it has no {BUNDLE} annotation (istiod needs {} or newer)", show(needed)),
            Ignored::Invalid(b) => format!(
                "its bundle-version {b:?} is not a version (istiod needs {})",
                show(needed)
            ),
            Ignored::Below(b) => format!("bundle {b} is older than the {} it requires", show(needed)),
        };
        let install = if crd.channel.as_deref() == Some("experimental") {
            "experimental-install.yaml"
        } else {
            "standard-install.yaml"
        };
        out.push(
            Finding::warning(
                ID,
                CAT,
                format!(
                    "istiod {} {verb} CRD {}: {cause}; {} are not processed",
                    who.join(" and "),
                    crd.name,
                    crd.plural
                ),
            )
            .with_hint(format!(
                "install the Gateway API release istiod needs: kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/{}/{install}",
                show(needed)
            ))
            .with_resources(vec![ResourceRef::cluster("CustomResourceDefinition", &crd.name)]),
        );
    }

    // Other CRDs without the annotation: their version is unknown.
    let unannotated: Vec<&&Crd> = gateway_crds
        .iter()
        .filter(|c| c.bundle_version.is_none() && !in_table.contains(c.plural.as_str()))
        .collect();
    if !unannotated.is_empty() {
        let names: Vec<&str> = unannotated.iter().map(|c| c.name.as_str()).collect();
        out.push(
            Finding::warning(
                ID,
                CAT,
                format!(
                    "{} {} no {BUNDLE} annotation: {} Gateway API version is unknown (not installed from a Gateway API release), and istiod ignores such a CRD when it has a minimum for it",
                    if names.len() == 1 { "CRD".to_string() } else { format!("{} CRDs", names.len()) },
                    if names.len() == 1 { format!("{} has", names[0]) } else { format!("({}) have", name_list(&names, 5)) },
                    if names.len() == 1 { "its" } else { "their" }
                ),
            )
            .with_hint("install the CRDs from a Gateway API release: kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.5.0/standard-install.yaml")
            .with_resources(
                unannotated
                    .iter()
                    .map(|c| ResourceRef::cluster("CustomResourceDefinition", &c.name))
                    .collect(),
            ),
        );
    }

    // (c) k3s' packaged Traefik owns them.
    let traefik: Vec<&&Crd> = gateway_crds
        .iter()
        .filter(|c| {
            c.helm_release
                .as_ref()
                .is_some_and(|(name, ns)| name == "traefik-crd" && ns == "kube-system")
        })
        .collect();
    if !traefik.is_empty() {
        let plurals: Vec<&str> = traefik.iter().map(|c| c.plural.as_str()).collect();
        let bundles: BTreeSet<&str> = traefik.iter().filter_map(|c| c.bundle_version.as_deref()).collect();
        let bundle = if bundles.is_empty() {
            String::new()
        } else {
            format!(", bundle {}", bundles.into_iter().collect::<Vec<_>>().join(", "))
        };
        out.push(
            Finding::warning(
                ID,
                CAT,
                format!(
                    "{} Gateway API {} ({}) belong to k3s's packaged Traefik (Helm release kube-system/traefik-crd{bundle}): k3s re-deploys that chart when it starts or upgrades, and other installers cannot take the CRDs over",
                    traefik.len(),
                    if traefik.len() == 1 { "CRD" } else { "CRDs" },
                    name_list(&plurals, 6)
                ),
            )
            .with_hint("create the k3s/k3d cluster without Traefik (k3d: --k3s-arg '--disable=traefik@server:*'), then install the Gateway API CRDs yourself")
            .with_resources(
                traefik
                    .iter()
                    .map(|c| ResourceRef::cluster("CustomResourceDefinition", &c.name))
                    .collect(),
            ),
        );
    }

    if out.is_empty() {
        let mins: Vec<String> = known
            .iter()
            .filter_map(|v| minimums(*v))
            .flat_map(|m| m.iter())
            .filter(|(p, _)| gateway_crds.iter().any(|c| c.plural == *p))
            .map(|(p, m)| format!("{p} ≥ {}", show(*m)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let versions: Vec<String> = known.iter().map(|v| istiod_show(*v)).collect();
        let message = match (versions.is_empty(), unknown.is_empty()) {
            (true, true) => format!(
                "{} Gateway API CRDs carry a bundle version; istiod's version is unknown, so its minimums were not checked",
                gateway_crds.len()
            ),
            (true, false) => format!(
                "istiod's version {} is not a release, so its minimum Gateway API versions were not checked",
                unknown.join(", ")
            ),
            _ if mins.is_empty() => {
                let absent: BTreeSet<&str> = known
                    .iter()
                    .filter_map(|v| minimums(*v))
                    .flat_map(|m| m.iter().map(|(p, _)| *p))
                    .collect();
                if absent.is_empty() {
                    format!(
                        "istiod {} sets no minimum Gateway API version (before 1.22)",
                        versions.join(", ")
                    )
                } else {
                    format!(
                        "istiod {} watches every Gateway API CRD installed (its minimums are for {}, not installed)",
                        versions.join(", "),
                        absent.into_iter().collect::<Vec<_>>().join(", ")
                    )
                }
            }
            _ => format!(
                "Gateway API CRDs meet istiod {}'s minimums ({})",
                versions.join(", "),
                mins.join(", ")
            ),
        };
        out.push(Finding::ok(ID, CAT, message));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_rows_are_ordered_and_contiguous() {
        for (from, to, mins) in MINIMUMS {
            assert!(from <= to, "{from:?} {to:?}");
            assert!(!mins.is_empty());
        }
        for pair in MINIMUMS.windows(2) {
            let (_, to, _) = pair[0];
            let (from, _, _) = pair[1];
            assert!(to < from, "rows overlap: {to:?} {from:?}");
            // The next row starts right after (the next patch, or the next minor's .0).
            let next_patch = (to.0, to.1, to.2.saturating_add(1));
            let next_minor = (to.0, to.1 + 1, 0);
            assert!(from == next_patch || from == next_minor, "gap after {to:?}: {from:?}");
        }
    }

    #[test]
    fn minimums_per_release() {
        assert_eq!(minimums((1, 21, 6)), None);
        assert_eq!(minimums((1, 26, 2)), Some(&[("grpcroutes", (1, 1, 0))][..]));
        let m = minimums((1, 28, 7)).unwrap();
        assert!(m.contains(&("tlsroutes", (1, 4, 1))));
        let m = minimums((1, 30, 3)).unwrap();
        assert!(m.contains(&("tlsroutes", (1, 5, 0))));
        assert!(!m.iter().any(|(p, _)| *p == "tcproutes"));
        // Releases past the table get its last row.
        let m = minimums((1, 32, 0)).unwrap();
        assert!(m.contains(&("tcproutes", (1, 6, 0))));
    }

    #[test]
    fn versions_parse_as_istio_parses_them() {
        assert_eq!(parse_version("v1.5.0"), Some((1, 5, 0)));
        assert_eq!(parse_version("v1.5.0-rc1"), Some((1, 5, 0)));
        assert_eq!(parse_version("1.4"), Some((1, 4, 0)));
        assert_eq!(parse_version("v1.2.1+build.7"), Some((1, 2, 1)));
        assert_eq!(parse_version("1.31.0-beta.1"), Some((1, 31, 0)));
        for bad in ["", "v", "x", "v1.x", "1.2.3.4", "v1.2.3-", "latest"] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
    }
}
