//! `kubectl mesh recover`'s plan: which workloads to restart and which bare pods to evict, from
//! doctor's findings. Pure (no IO) so "recover never touches healthy pods" is testable.
//!
//! Each owner appears once however many of its pods are affected and however many checks
//! flagged them. Pods are resolved pod → ReplicaSet → Deployment through the snapshot's
//! controller ownerReferences; what recover cannot restart safely is listed as skipped with
//! the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::doctor::{Finding, Fix, OwnerKind, PodOwner, Snapshot, Status};

/// What one action acts on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// `kubectl rollout restart` of a workload.
    Restart {
        kind: OwnerKind,
        namespace: String,
        name: String,
    },
    /// Eviction (policy/v1) of a pod.
    Evict { namespace: String, name: String },
}

impl Target {
    pub fn namespace(&self) -> &str {
        match self {
            Target::Restart { namespace, .. } | Target::Evict { namespace, .. } => namespace,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Target::Restart { name, .. } | Target::Evict { name, .. } => name,
        }
    }

    /// `Deployment`, `StatefulSet`, `DaemonSet` or `Pod`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Restart { kind, .. } => kind.as_str(),
            Target::Evict { .. } => "Pod",
        }
    }

    fn sort_key(&self) -> (&str, &str, &'static str) {
        (self.namespace(), self.name(), self.kind())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.kind().to_ascii_lowercase(),
            self.namespace(),
            self.name()
        )
    }
}

/// One restart or eviction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub target: Target,
    /// Affected pods (sorted, unique).
    pub pods: Vec<String>,
    /// Check ids that asked for it (sorted, unique).
    pub reasons: Vec<String>,
    /// What the executor should expect (e.g. a PodDisruptionBudget that allows no disruption now).
    pub note: Option<String>,
}

/// The whole plan, in deterministic order (namespace, name, kind).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoverPlan {
    pub actions: Vec<Action>,
    /// Targets recover will not touch, with why.
    pub skipped: Vec<(Target, String)>,
}

impl RecoverPlan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// A permission the plan needs (for a SelfSubjectAccessReview preflight).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    pub namespace: String,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut res = self.resource.to_string();
        if let Some(sub) = self.subresource {
            res = format!("{res}/{sub}");
        }
        if !self.group.is_empty() {
            res = format!("{res}.{}", self.group);
        }
        write!(f, "{} {} in {}", self.verb, res, self.namespace)
    }
}

/// Reason given for paused Deployments.
pub const PAUSED_REASON: &str = "paused (kubectl rollout restart refuses paused deployments)";

/// Reason given for pods in ambient mode.
pub const AMBIENT_REASON: &str = "ambient pod: ztunnel carries its traffic; restarting it adds no sidecar";

/// Reason given for the ztunnel DaemonSet.
pub const ZTUNNEL_REASON: &str =
    "ztunnel carries the traffic of every ambient pod on its node; restart it yourself when that is acceptable";

/// Whether a DaemonSet is ztunnel (named so, or labelled so by its chart).
fn is_ztunnel(snapshot: &Snapshot, namespace: &str, name: &str) -> bool {
    name == "ztunnel"
        || snapshot.daemon_sets.as_ref().is_ok_and(|dss| {
            dss.iter().any(|d| {
                d.namespace == namespace
                    && d.name == name
                    && d.labels.get("app.kubernetes.io/name").map(String::as_str) == Some("ztunnel")
            })
        })
}

#[derive(Default)]
struct Acc {
    pods: BTreeSet<String>,
    reasons: BTreeSet<String>,
}

/// Turn findings into a plan: keep findings with a fix, resolve each pod's owner in the
/// snapshot (falling back to the fix's own target when the pod is not in the snapshot), merge
/// per owner, and skip what recover must not touch.
pub fn plan_recover(findings: &[Finding], snapshot: &Snapshot) -> RecoverPlan {
    let mut acts: BTreeMap<Target, Acc> = BTreeMap::new();
    let mut skipped: BTreeMap<Target, String> = BTreeMap::new();

    let mut add = |target: Target, pod: Option<&str>, reason: &str| {
        let acc = acts.entry(target).or_default();
        if let Some(p) = pod {
            acc.pods.insert(p.to_string());
        }
        acc.reasons.insert(reason.to_string());
    };

    // Targets whose only reason is a suppressed finding: listed as skipped, never acted on.
    let mut suppressed: BTreeMap<Target, String> = BTreeMap::new();
    for finding in findings {
        let Some(fix) = &finding.fix else { continue };
        if finding.status == Status::Suppressed {
            let target = match fix {
                Fix::RestartOwner {
                    kind, namespace, name, ..
                } => Target::Restart {
                    kind: *kind,
                    namespace: namespace.clone(),
                    name: name.clone(),
                },
                Fix::EvictPod { namespace, name, .. } => Target::Evict {
                    namespace: namespace.clone(),
                    name: name.clone(),
                },
            };
            let by = finding.suppressed.as_ref().map(|s| s.by.join("; ")).unwrap_or_default();
            suppressed
                .entry(target)
                .or_insert_with(|| format!("{} ({}) suppressed by {by}", finding.id, finding.code));
            continue;
        }
        let (namespace, pods, fallback): (&str, Vec<&str>, Target) = match fix {
            Fix::RestartOwner {
                kind,
                namespace,
                name,
                pods,
                ..
            } => (
                namespace,
                pods.iter().map(String::as_str).collect(),
                Target::Restart {
                    kind: *kind,
                    namespace: namespace.clone(),
                    name: name.clone(),
                },
            ),
            Fix::EvictPod { namespace, name, .. } => (
                namespace,
                vec![name.as_str()],
                Target::Evict {
                    namespace: namespace.clone(),
                    name: name.clone(),
                },
            ),
        };
        if pods.is_empty() {
            add(fallback, None, finding.id);
            continue;
        }
        for pod_name in pods {
            let Some(pod) = snapshot.pod(namespace, pod_name) else {
                add(fallback.clone(), Some(pod_name), finding.id);
                continue;
            };
            // Recover's fixes give pods a (fresh) sidecar: an ambient pod gets none, and needs none.
            if pod.mode.is_ambient() {
                skipped.insert(
                    Target::Evict {
                        namespace: namespace.to_string(),
                        name: pod_name.to_string(),
                    },
                    AMBIENT_REASON.to_string(),
                );
                continue;
            }
            match snapshot.owner_of(pod) {
                PodOwner::Workload { kind, name } => add(
                    Target::Restart {
                        kind,
                        namespace: namespace.to_string(),
                        name,
                    },
                    Some(pod_name),
                    finding.id,
                ),
                PodOwner::Bare => add(
                    Target::Evict {
                        namespace: namespace.to_string(),
                        name: pod_name.to_string(),
                    },
                    Some(pod_name),
                    finding.id,
                ),
                PodOwner::Other { kind, name } => {
                    skipped.insert(
                        Target::Evict {
                            namespace: namespace.to_string(),
                            name: pod_name.to_string(),
                        },
                        format!(
                            "owned by {kind} {name} (recover restarts only Deployments, StatefulSets, DaemonSets and bare pods)"
                        ),
                    );
                }
            }
        }
    }

    for (target, why) in suppressed {
        if !acts.contains_key(&target) {
            skipped.entry(target).or_insert(why);
        }
    }
    let mut actions = Vec::new();
    for (target, acc) in acts {
        let mut note = None;
        if let Target::Evict { namespace, name } = &target {
            match eviction_blocked(snapshot, namespace, name) {
                // The API will refuse whatever we do: say so instead of trying.
                Some(EvictionBlock::Never(reason)) => {
                    skipped.insert(target, reason);
                    continue;
                }
                // Budgets change as pods become ready: the executor retries the 429 until --timeout.
                Some(EvictionBlock::Now(reason)) => note = Some(reason),
                None => {}
            }
        }
        if let Target::Restart {
            kind: OwnerKind::DaemonSet,
            namespace,
            name,
        } = &target
        {
            if is_ztunnel(snapshot, namespace, name) {
                let reason = format!("{ZTUNNEL_REASON}: kubectl -n {namespace} rollout restart daemonset/{name}");
                skipped.insert(target, reason);
                continue;
            }
        }
        if let Target::Restart {
            kind: OwnerKind::Deployment,
            namespace,
            name,
        } = &target
        {
            if snapshot.deployment(namespace, name).is_some_and(|d| d.paused) {
                skipped.insert(target, PAUSED_REASON.to_string());
                continue;
            }
        }
        actions.push(Action {
            target,
            pods: acc.pods.into_iter().collect(),
            reasons: acc.reasons.into_iter().collect(),
            note,
        });
    }
    actions.sort_by(|a, b| a.target.sort_key().cmp(&b.target.sort_key()));
    let mut skipped: Vec<(Target, String)> = skipped.into_iter().collect();
    skipped.sort_by(|a, b| a.0.sort_key().cmp(&b.0.sort_key()));
    RecoverPlan { actions, skipped }
}

/// Why evicting this pod would fail now, if the snapshot can tell, by the eviction API's rules
/// (kube-apiserver `pkg/registry/core/pod/storage/eviction.go`): pending, finished and terminating pods are
/// deleted without looking at budgets; more than one budget is a 500; an unready pod goes without using the
/// budget when the budget is satisfied (or its policy is `AlwaysAllow`); a budget whose status the disruption
/// controller has not written yet, or that allows no disruption, is a 429 that may clear.
enum EvictionBlock {
    /// A single budget allows no disruption at the moment.
    Now(String),
    /// Several budgets select the pod: the API server always refuses.
    Never(String),
}

fn eviction_blocked(snapshot: &Snapshot, namespace: &str, name: &str) -> Option<EvictionBlock> {
    let pod = snapshot.pod(namespace, name)?;
    if matches!(pod.phase.as_str(), "Pending" | "Succeeded" | "Failed") || pod.terminating {
        return None;
    }
    let pdbs = snapshot.pdbs.as_ref().ok()?;
    let selecting: Vec<_> = pdbs.iter().filter(|b| b.selects(pod)).collect();
    match selecting.as_slice() {
        [] => None,
        [one]
            if !pod.ready
                && (one.always_allow_unhealthy
                    || (one.current_healthy >= one.desired_healthy && one.desired_healthy > 0)) =>
        {
            None
        }
        [one] if !one.observed => Some(EvictionBlock::Now(format!(
            "PodDisruptionBudget {}/{} is still being processed by the disruption controller; eviction is retried until --timeout",
            one.namespace, one.name
        ))),
        [one] if one.disruptions_allowed > 0 => None,
        [one] => Some(EvictionBlock::Now(format!(
            "PodDisruptionBudget {}/{} allows no disruption now; eviction is retried until --timeout",
            one.namespace, one.name
        ))),
        many => {
            let names: Vec<&str> = many.iter().map(|b| b.name.as_str()).collect();
            Some(EvictionBlock::Never(format!(
                "more than one PodDisruptionBudget selects it ({}): the API server refuses the eviction",
                names.join(", ")
            )))
        }
    }
}

/// Columns OWNER, KIND, NAMESPACE, PODS, REASON, kubectl-style (no borders), then skipped
/// targets with their reason.
pub fn render_plan_table(plan: &RecoverPlan) -> String {
    let mut out = String::new();
    if plan.actions.is_empty() {
        out.push_str("nothing to recover\n");
    } else {
        let rows = plan
            .actions
            .iter()
            .map(|a| {
                let mut reason = a.reasons.join(",");
                if let Some(note) = &a.note {
                    reason = format!("{reason} ({note})");
                }
                vec![
                    a.target.name().to_string(),
                    a.target.kind().to_string(),
                    a.target.namespace().to_string(),
                    a.pods.join(","),
                    reason,
                ]
            })
            .collect();
        out.push_str(&crate::render::table(
            vec!["OWNER", "KIND", "NAMESPACE", "PODS", "REASON"],
            rows,
        ));
    }
    for (target, reason) in &plan.skipped {
        out.push_str(&format!("skipped {target}: {reason}\n"));
    }
    out
}

/// What happened to one planned action, or to a target recover leaves alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionStatus {
    Done,
    Failed,
    Skipped,
    /// `--dry-run=client`: nothing was sent.
    Planned,
}

impl ActionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Done => "done",
            ActionStatus::Failed => "failed",
            ActionStatus::Skipped => "skipped",
            ActionStatus::Planned => "planned",
        }
    }
}

/// The result of one action (or skipped target), as `recover` reports it: in its table and, field for field,
/// in `-o json|yaml` (`{"kind","namespace","name","pods","reasons","result","detail"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResult {
    pub target: Target,
    pub pods: Vec<String>,
    pub reasons: Vec<String>,
    pub status: ActionStatus,
    pub detail: String,
}

impl ActionResult {
    /// The result of acting on (or planning) `action`.
    pub fn of(action: &Action, status: ActionStatus, detail: impl Into<String>) -> Self {
        ActionResult {
            target: action.target.clone(),
            pods: action.pods.clone(),
            reasons: action.reasons.clone(),
            status,
            detail: detail.into(),
        }
    }

    /// A target the plan leaves alone, with why.
    pub fn skipped(target: &Target, why: impl Into<String>) -> Self {
        ActionResult {
            target: target.clone(),
            pods: Vec::new(),
            reasons: Vec::new(),
            status: ActionStatus::Skipped,
            detail: why.into(),
        }
    }

    /// kubectl's word for a finished action: `evicted`, `restarted`; otherwise the status.
    pub fn verb(&self) -> &'static str {
        match (self.status, &self.target) {
            (ActionStatus::Done, Target::Evict { .. }) => "evicted",
            (ActionStatus::Done, Target::Restart { .. }) => "restarted",
            (status, _) => status.as_str(),
        }
    }
}

impl serde::Serialize for ActionResult {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("ActionResult", 7)?;
        s.serialize_field("kind", self.target.kind())?;
        s.serialize_field("namespace", self.target.namespace())?;
        s.serialize_field("name", self.target.name())?;
        s.serialize_field("pods", &self.pods)?;
        s.serialize_field("reasons", &self.reasons)?;
        s.serialize_field("result", &self.status)?;
        s.serialize_field("detail", &self.detail)?;
        s.end()
    }
}

/// Columns OWNER, KIND, NAMESPACE, RESULT, DETAIL.
pub fn render_results(results: &[ActionResult]) -> String {
    let rows = results
        .iter()
        .map(|r| {
            vec![
                r.target.name().to_string(),
                r.target.kind().to_string(),
                r.target.namespace().to_string(),
                r.status.as_str().to_string(),
                r.detail.clone(),
            ]
        })
        .collect();
    crate::render::table(vec!["OWNER", "KIND", "NAMESPACE", "RESULT", "DETAIL"], rows)
}

/// Permissions the plan needs: `patch` on each restarted workload kind (apps) and `create`
/// `pods/eviction` for evictions, per namespace; sorted and unique.
pub fn required_permissions(plan: &RecoverPlan) -> Vec<Permission> {
    let set: BTreeSet<Permission> = plan
        .actions
        .iter()
        .map(|a| match &a.target {
            Target::Restart { kind, namespace, .. } => Permission {
                verb: "patch",
                group: "apps",
                resource: kind.plural(),
                subresource: None,
                namespace: namespace.clone(),
            },
            Target::Evict { namespace, .. } => Permission {
                verb: "create",
                group: "",
                resource: "pods",
                subresource: Some("eviction"),
                namespace: namespace.clone(),
            },
        })
        .collect();
    set.into_iter().collect()
}
