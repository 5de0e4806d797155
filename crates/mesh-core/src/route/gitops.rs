//! Routes a GitOps tool keeps in sync with a Git repository: a change made with kubectl-mesh would be reverted at
//! the next sync (Argo CD's self-heal retries within seconds; Flux's server-side apply "detects and corrects
//! drift"), so writes are refused unless `--force`, and `--emit-patch` prints the change to commit instead.
//!
//! The markers, from the tools' sources:
//! - Argo CD: the annotation `argocd.argoproj.io/tracking-id` = `<application>:<group>/<kind>:<namespace>/<name>`
//!   (argo-cd `util/argo/resource_tracking.go`; the default tracking method since v3.0). Argo CD ignores an
//!   annotation that does not name the object it is on ("If the tracking annotation does not reference the
//!   resource it is applied to, the resource will neither affect the application's sync status nor be marked for
//!   pruning"), so only a self-referencing one counts. The label `app.kubernetes.io/instance` is not proof: Helm
//!   charts set it too (Argo CD's own docs say so).
//! - Flux: kustomize-controller labels what it applies with `kustomize.toolkit.fluxcd.io/name|namespace`,
//!   helm-controller with `helm.toolkit.fluxcd.io/name|namespace` (fluxcd/pkg `ssa.SetOwnerLabels`); an object
//!   marked `kustomize.toolkit.fluxcd.io/reconcile: disabled` is no longer applied by kustomize-controller.

use serde_json::Value;

use super::{route_name, RouteKind};

const ARGO_TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
const FLUX_KUSTOMIZE_NAME: &str = "kustomize.toolkit.fluxcd.io/name";
const FLUX_KUSTOMIZE_NAMESPACE: &str = "kustomize.toolkit.fluxcd.io/namespace";
const FLUX_KUSTOMIZE_RECONCILE: &str = "kustomize.toolkit.fluxcd.io/reconcile";
const FLUX_HELM_NAME: &str = "helm.toolkit.fluxcd.io/name";
const FLUX_HELM_NAMESPACE: &str = "helm.toolkit.fluxcd.io/namespace";

/// A GitOps tool that manages a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitOps {
    /// Argo CD application (`namespace_name` for applications outside Argo CD's namespace).
    ArgoCd { app: String },
    /// A Flux Kustomization.
    FluxKustomization { namespace: Option<String>, name: String },
    /// A Flux HelmRelease.
    FluxHelmRelease { namespace: Option<String>, name: String },
}

impl GitOps {
    /// `Argo CD`, `Flux`.
    pub fn tool(&self) -> String {
        match self {
            GitOps::ArgoCd { .. } => "Argo CD".into(),
            GitOps::FluxKustomization { .. } | GitOps::FluxHelmRelease { .. } => "Flux".into(),
        }
    }

    /// Who, and how we know: `Argo CD (application "bookinfo", annotation argocd.argoproj.io/tracking-id)`.
    pub fn describe(&self) -> String {
        let qualified = |ns: &Option<String>, name: &str| match ns {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_string(),
        };
        match self {
            GitOps::ArgoCd { app } => format!("Argo CD (application {app:?}, annotation {ARGO_TRACKING_ID})"),
            GitOps::FluxKustomization { namespace, name } => format!(
                "Flux (Kustomization {}, label {FLUX_KUSTOMIZE_NAME})",
                qualified(namespace, name)
            ),
            GitOps::FluxHelmRelease { namespace, name } => format!(
                "Flux (HelmRelease {}, label {FLUX_HELM_NAME})",
                qualified(namespace, name)
            ),
        }
    }
}

fn meta_str<'a>(route: &'a Value, field: &str, key: &str) -> Option<&'a str> {
    route
        .pointer(&format!("/metadata/{field}"))
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
}

/// Parse an Argo CD tracking id: `(application, group, kind, namespace, name)`.
fn parse_tracking_id(value: &str) -> Option<(&str, &str, &str, &str, &str)> {
    let mut parts = value.splitn(3, ':');
    let (app, gk, nn) = (parts.next()?, parts.next()?, parts.next()?);
    let (group, kind) = gk.split_once('/')?;
    let (ns, name) = nn.split_once('/')?;
    if app.is_empty() || kind.contains('/') || name.contains('/') {
        return None;
    }
    Some((app, group, kind, ns, name))
}

/// The GitOps tools managing `route` (Argo CD first), from their markers.
pub fn gitops_managers(route: &Value, kind: RouteKind) -> Vec<GitOps> {
    let mut out = Vec::new();
    let ns = route
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some((app, group, k, tns, tname)) =
        meta_str(route, "annotations", ARGO_TRACKING_ID).and_then(parse_tracking_id)
    {
        if group == "gateway.networking.k8s.io" && k == kind.kind() && tns == ns && tname == route_name(route) {
            out.push(GitOps::ArgoCd { app: app.to_string() });
        }
    }
    let label = |key: &str| meta_str(route, "labels", key);
    let disabled = [
        label(FLUX_KUSTOMIZE_RECONCILE),
        meta_str(route, "annotations", FLUX_KUSTOMIZE_RECONCILE),
    ]
    .into_iter()
    .flatten()
    .any(|v| v.eq_ignore_ascii_case("disabled"));
    if let Some(name) = label(FLUX_KUSTOMIZE_NAME).filter(|_| !disabled) {
        out.push(GitOps::FluxKustomization {
            namespace: label(FLUX_KUSTOMIZE_NAMESPACE).map(str::to_string),
            name: name.to_string(),
        });
    }
    if let Some(name) = label(FLUX_HELM_NAME) {
        out.push(GitOps::FluxHelmRelease {
            namespace: label(FLUX_HELM_NAMESPACE).map(str::to_string),
            name: name.to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(annotations: Value, labels: Value) -> Value {
        json!({"kind": "HTTPRoute", "metadata": {"name": "reviews", "namespace": "istio-demo",
            "annotations": annotations, "labels": labels}})
    }

    #[test]
    fn argo_cd_counts_only_a_tracking_id_naming_this_route() {
        let r = route(
            json!({ARGO_TRACKING_ID: "bookinfo:gateway.networking.k8s.io/HTTPRoute:istio-demo/reviews"}),
            json!({}),
        );
        assert_eq!(
            gitops_managers(&r, RouteKind::Http),
            vec![GitOps::ArgoCd { app: "bookinfo".into() }]
        );
        assert!(gitops_managers(&r, RouteKind::Http)[0]
            .describe()
            .contains("application \"bookinfo\""));
        // Copied from another object: Argo CD ignores it.
        for copied in [
            "bookinfo:gateway.networking.k8s.io/HTTPRoute:istio-demo/ratings",
            "bookinfo:gateway.networking.k8s.io/GRPCRoute:istio-demo/reviews",
            "bookinfo:/Service:istio-demo/reviews",
            "not a tracking id",
            "bookinfo:gateway.networking.k8s.io:istio-demo/reviews",
        ] {
            let r = route(json!({ARGO_TRACKING_ID: copied}), json!({}));
            assert!(gitops_managers(&r, RouteKind::Http).is_empty(), "{copied}");
        }
        // An app in another namespace is named ns_app by Argo CD.
        let r = route(
            json!({ARGO_TRACKING_ID: "team_bookinfo:gateway.networking.k8s.io/HTTPRoute:istio-demo/reviews"}),
            json!({}),
        );
        assert_eq!(
            gitops_managers(&r, RouteKind::Http),
            vec![GitOps::ArgoCd {
                app: "team_bookinfo".into()
            }]
        );
    }

    #[test]
    fn the_instance_label_alone_is_not_proof() {
        let r = route(json!({}), json!({"app.kubernetes.io/instance": "bookinfo"}));
        assert!(gitops_managers(&r, RouteKind::Http).is_empty());
    }

    #[test]
    fn flux_labels_unless_reconcile_is_disabled() {
        let r = route(
            json!({}),
            json!({FLUX_KUSTOMIZE_NAME: "apps", FLUX_KUSTOMIZE_NAMESPACE: "flux-system"}),
        );
        let got = gitops_managers(&r, RouteKind::Http);
        assert_eq!(
            got,
            vec![GitOps::FluxKustomization {
                namespace: Some("flux-system".into()),
                name: "apps".into()
            }]
        );
        assert_eq!(got[0].tool(), "Flux");
        let r = route(
            json!({FLUX_KUSTOMIZE_RECONCILE: "disabled"}),
            json!({FLUX_KUSTOMIZE_NAME: "apps"}),
        );
        assert!(gitops_managers(&r, RouteKind::Http).is_empty());
        let r = route(
            json!({}),
            json!({FLUX_HELM_NAME: "bookinfo", FLUX_HELM_NAMESPACE: "apps"}),
        );
        assert!(gitops_managers(&r, RouteKind::Http)[0]
            .describe()
            .contains("HelmRelease apps/bookinfo"));
    }
}
