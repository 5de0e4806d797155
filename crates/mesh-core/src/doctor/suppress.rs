//! Silencing known findings: `--suppress CODE[=KIND/NS/NAME]` (repeatable) and the annotation
//! `mesh.kubectl.io/suppress: CODE,CODE` on a resource (Istio's precedent: `galley.istio.io/analyze-suppress`,
//! "a comma separated list of configuration analysis message codes to suppress … If the value is '*', then all
//! configuration analysis messages are suppressed", istio/api annotation/annotations.gen.go).
//!
//! Which resources count: the resources a finding names (the target of its fix only when it names none: a
//! restart's target is the owner of the pods the finding names).
//! A resource is *covered* for a code when
//! - a `--suppress CODE` without selector is given (covers everything), or a selector names the resource itself,
//!   its namespace (`Namespace/NAME` covers the namespace and every object in it), or — for a Pod — its
//!   controlling workload (`Deployment/NS/NAME` covers the Deployment's pods, through their ReplicaSet);
//! - or the annotation lists the code (or the check id, or `*`) on the resource itself, on the controlling
//!   workload of a Pod, or on the resource's Namespace.
//!
//! A finding is suppressed only when **every** resource it names is covered, so annotating one of two broken
//! Deployments never hides the other's finding; a finding naming no resource is suppressed only by a
//! selector-less `--suppress CODE`. Only errors and warnings are suppressed; a suppressed finding keeps its entry
//! with status `suppressed` (and what it was), never counts for the exit code, and `recover` skips its fix.
//!
//! Annotations come with the LISTs doctor already makes (the slim decoders keep this one key), so suppression
//! adds no request. Pure.

use std::collections::{BTreeMap, BTreeSet};

use super::finding::{Finding, Fix, ResourceRef, Status, Suppressed};
use super::model::{PodOwner, Snapshot};
use super::registry;

/// The annotation that silences findings about an object.
pub const ANNOTATION: &str = "mesh.kubectl.io/suppress";

/// Kinds a selector may name: (kind as findings name it, namespaced, names and short names kubectl accepts).
const KINDS: &[(&str, bool, &[&str])] = &[
    ("Pod", true, &["pod", "pods", "po"]),
    ("Service", true, &["service", "services", "svc"]),
    ("Namespace", false, &["namespace", "namespaces", "ns"]),
    ("Deployment", true, &["deployment", "deployments", "deploy"]),
    ("StatefulSet", true, &["statefulset", "statefulsets", "sts"]),
    ("DaemonSet", true, &["daemonset", "daemonsets", "ds"]),
    ("ConfigMap", true, &["configmap", "configmaps", "cm"]),
    ("HTTPRoute", true, &["httproute", "httproutes"]),
    ("Gateway", true, &["gateway", "gateways", "gtw"]),
    ("GatewayClass", false, &["gatewayclass", "gatewayclasses", "gc"]),
    (
        "PeerAuthentication",
        true,
        &["peerauthentication", "peerauthentications", "pa"],
    ),
    ("VirtualService", true, &["virtualservice", "virtualservices", "vs"]),
    (
        "MutatingWebhookConfiguration",
        false,
        &["mutatingwebhookconfiguration", "mutatingwebhookconfigurations"],
    ),
    (
        "CustomResourceDefinition",
        false,
        &["customresourcedefinition", "customresourcedefinitions", "crd", "crds"],
    ),
];

/// A name or namespace in a selector: exact, or `*` for any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Any,
    Exact(String),
}

impl Pattern {
    fn parse(s: &str) -> Pattern {
        if s == "*" {
            Pattern::Any
        } else {
            Pattern::Exact(s.to_string())
        }
    }

    fn matches(&self, s: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(e) => e == s,
        }
    }
}

/// The object part of `--suppress CODE=KIND/NS/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// As findings name the kind (`Deployment`).
    pub kind: &'static str,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<Pattern>,
    pub name: Pattern,
}

/// One `--suppress` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The check's code (an id given on the command line is turned into its code).
    pub code: &'static str,
    /// `None`: every finding of the code.
    pub target: Option<Target>,
    /// As given, for "suppressed by".
    pub text: String,
}

fn kind_named(s: &str) -> Option<(&'static str, bool)> {
    let lower = s.to_ascii_lowercase();
    KINDS
        .iter()
        .find(|(_, _, names)| names.contains(&lower.as_str()))
        .map(|(kind, namespaced, _)| (*kind, *namespaced))
}

/// Parse `CODE` or `CODE=KIND/NS/NAME` / `CODE=KIND/NAME` (cluster-scoped kinds); `CODE` may be a check id, NS
/// and NAME may be `*`. The error says what is wrong, for a usage error.
pub fn parse_selector(s: &str) -> Result<Selector, String> {
    let (code_part, target_part) = match s.split_once('=') {
        Some((c, t)) => (c.trim(), Some(t.trim())),
        None => (s.trim(), None),
    };
    let check = registry::find(code_part).ok_or_else(|| {
        if code_part.is_empty() {
            "a code or check id is missing before '='".to_string()
        } else {
            format!("unknown code or check id {code_part:?}")
        }
    })?;
    let target = match target_part {
        None => None,
        Some(t) => {
            let parts: Vec<&str> = t.split('/').collect();
            if parts.iter().any(|p| p.is_empty()) || !(2..=3).contains(&parts.len()) {
                return Err(format!(
                    "{t:?} is not KIND/NAMESPACE/NAME (or KIND/NAME for a cluster-scoped kind)"
                ));
            }
            let (kind, namespaced) = kind_named(parts[0]).ok_or_else(|| {
                let known: Vec<&str> = KINDS.iter().map(|(k, _, _)| *k).collect();
                format!("unknown kind {:?} (one of {})", parts[0], known.join(", "))
            })?;
            match (namespaced, parts.len()) {
                (true, 3) => Some(Target {
                    kind,
                    namespace: Some(Pattern::parse(parts[1])),
                    name: Pattern::parse(parts[2]),
                }),
                (false, 2) => Some(Target {
                    kind,
                    namespace: None,
                    name: Pattern::parse(parts[1]),
                }),
                (true, _) => {
                    return Err(format!(
                        "{kind} is namespaced: write {kind}/NAMESPACE/NAME (* for any), e.g. {kind}/istio-demo/{}",
                        parts[1]
                    ))
                }
                (false, _) => return Err(format!("{kind} is cluster-scoped: write {kind}/NAME")),
            }
        }
    };
    Ok(Selector {
        code: check.code,
        target,
        text: format!("--suppress {s}"),
    })
}

/// What one annotation value silences.
#[derive(Debug, Clone, Default)]
struct Codes {
    all: bool,
    codes: BTreeSet<&'static str>,
}

impl Codes {
    fn covers(&self, code: &str) -> bool {
        self.all || self.codes.contains(code)
    }
}

/// Key of an annotated object: (kind, namespace or "", name).
type Key = (String, String, String);

fn key(kind: &str, namespace: Option<&str>, name: &str) -> Key {
    (
        kind.to_ascii_lowercase(),
        namespace.unwrap_or_default().to_string(),
        name.to_string(),
    )
}

/// Everything that silences findings in one run: the `--suppress` selectors and the snapshot's annotations.
pub struct Suppressions<'a> {
    selectors: &'a [Selector],
    annotations: BTreeMap<Key, Codes>,
    snapshot: &'a Snapshot,
    /// Unknown codes in annotations, selectors that matched nothing.
    pub notes: Vec<String>,
}

impl<'a> Suppressions<'a> {
    /// Read the annotations of `snapshot` (an unknown code in one becomes a note, not a failure).
    pub fn new(snapshot: &'a Snapshot, selectors: &'a [Selector]) -> Self {
        let mut annotations: BTreeMap<Key, Codes> = BTreeMap::new();
        let mut notes = Vec::new();
        for a in &snapshot.suppress_annotations {
            let entry = annotations
                .entry(key(a.kind.kind_name(), a.namespace.as_deref(), &a.name))
                .or_default();
            for item in a.value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                if item == "*" {
                    entry.all = true;
                } else if let Some(check) = registry::find(item) {
                    entry.codes.insert(check.code);
                } else {
                    let what = match &a.namespace {
                        Some(ns) => format!("{} {ns}/{}", a.kind.kind_name().to_ascii_lowercase(), a.name),
                        None => format!("{} {}", a.kind.kind_name().to_ascii_lowercase(), a.name),
                    };
                    notes.push(format!(
                        "annotation {ANNOTATION} on {what} names unknown code {item:?}; it is ignored (kubectl mesh doctor --list-checks lists the codes)"
                    ));
                }
            }
        }
        Suppressions {
            selectors,
            annotations,
            snapshot,
            notes,
        }
    }

    fn annotated(&self, kind: &str, namespace: Option<&str>, name: &str, code: &str) -> bool {
        self.annotations
            .get(&key(kind, namespace, name))
            .is_some_and(|c| c.covers(code))
    }

    /// The controlling workload of a pod in the snapshot: (kind, name).
    fn owner_of_pod(&self, r: &ResourceRef) -> Option<(&'static str, String)> {
        if r.kind != "Pod" {
            return None;
        }
        let pod = self.snapshot.pod(r.namespace.as_deref()?, &r.name)?;
        match self.snapshot.owner_of(pod) {
            PodOwner::Workload { kind, name } => Some((kind.as_str(), name)),
            _ => None,
        }
    }

    /// What covers `r` for `code`, as sources ("--suppress …", "annotation on …"); empty when nothing does.
    fn sources(&self, r: &ResourceRef, code: &str) -> Vec<String> {
        let mut out = Vec::new();
        let ns = r.namespace.as_deref();
        let owner = self.owner_of_pod(r);
        for s in self.selectors.iter().filter(|s| s.code == code) {
            let Some(t) = &s.target else {
                out.push(s.text.clone());
                continue;
            };
            let direct = t.kind.eq_ignore_ascii_case(&r.kind)
                && t.name.matches(&r.name)
                && match (&t.namespace, ns) {
                    (Some(p), Some(ns)) => p.matches(ns),
                    (None, None) => true,
                    _ => false,
                };
            let by_namespace = t.kind == "Namespace" && ns.is_some_and(|ns| t.name.matches(ns));
            let by_owner = owner.as_ref().is_some_and(|(kind, name)| {
                t.kind == *kind
                    && t.name.matches(name)
                    && t.namespace.as_ref().zip(ns).is_some_and(|(p, ns)| p.matches(ns))
            });
            if direct || by_namespace || by_owner {
                out.push(s.text.clone());
            }
        }
        if self.annotated(&r.kind, ns, &r.name, code) {
            out.push(format!("annotation on {r}"));
        }
        if let (Some((kind, name)), Some(ns)) = (&owner, ns) {
            if self.annotated(kind, Some(ns), name, code) {
                out.push(format!("annotation on {} {ns}/{name}", kind.to_ascii_lowercase()));
            }
        }
        if let Some(ns) = ns {
            if self.annotated("Namespace", None, ns, code) {
                out.push(format!("annotation on namespace {ns}"));
            }
        }
        out
    }

    /// Mark every error or warning whose resources are all covered as suppressed; returns how many.
    pub fn apply(&mut self, findings: &mut [Finding]) -> usize {
        let mut count = 0;
        let mut used: BTreeSet<&str> = BTreeSet::new();
        for f in findings.iter_mut() {
            if !f.status.is_problem() || f.code.is_empty() {
                continue;
            }
            // The objects it names; the target of its fix only when it names none (a restart's target is the
            // owner of the pods it names, which those pods' coverage already decides).
            let mut resources: Vec<ResourceRef> = f.resources.clone();
            if resources.is_empty() {
                match &f.fix {
                    Some(Fix::RestartOwner {
                        kind, namespace, name, ..
                    }) => resources.push(ResourceRef::new(kind.as_str(), namespace, name)),
                    Some(Fix::EvictPod { namespace, name, .. }) => {
                        resources.push(ResourceRef::new("Pod", namespace, name))
                    }
                    None => {}
                }
            }
            let mut distinct = BTreeSet::new();
            resources.retain(|r| distinct.insert(r.clone()));
            let by: Option<Vec<String>> = if resources.is_empty() {
                let whole: Vec<String> = self
                    .selectors
                    .iter()
                    .filter(|s| s.code == f.code && s.target.is_none())
                    .map(|s| s.text.clone())
                    .collect();
                (!whole.is_empty()).then_some(whole)
            } else {
                let mut all = Vec::new();
                let mut covered = true;
                for r in &resources {
                    let sources = self.sources(r, f.code);
                    if sources.is_empty() {
                        covered = false;
                        break;
                    }
                    all.extend(sources);
                }
                covered.then_some(all)
            };
            if let Some(mut by) = by {
                let mut seen = BTreeSet::new();
                by.retain(|s| seen.insert(s.clone()));
                for s in self.selectors.iter().filter(|s| by.contains(&s.text)) {
                    used.insert(s.text.as_str());
                }
                f.suppressed = Some(Suppressed { status: f.status, by });
                f.status = Status::Suppressed;
                count += 1;
            }
        }
        // A selector whose check ran but which silenced nothing is most likely a typo: say so.
        let ran: BTreeSet<&str> = findings.iter().map(|f| f.code).collect();
        for s in self.selectors {
            if ran.contains(s.code) && !used.contains(s.text.as_str()) {
                self.notes
                    .push(format!("{} matched no error or warning of {}", s.text, s.code));
            }
        }
        count
    }
}

/// Suppress what `selectors` and the annotations in `snapshot` cover; returns the notes (unknown codes in
/// annotations, selectors that silenced nothing).
pub fn apply(findings: &mut [Finding], snapshot: &Snapshot, selectors: &[Selector]) -> Vec<String> {
    let mut s = Suppressions::new(snapshot, selectors);
    s.apply(findings);
    s.notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_like_the_design_says() {
        let s = parse_selector("KM2030").unwrap();
        assert_eq!((s.code, s.target), ("KM2030", None));
        let s = parse_selector("stale-sidecar-cert").unwrap();
        assert_eq!(s.code, "KM2030");
        assert_eq!(s.text, "--suppress stale-sidecar-cert");
        let s = parse_selector("km2030=Pod/istio-demo/*").unwrap();
        assert_eq!(
            s.target,
            Some(Target {
                kind: "Pod",
                namespace: Some(Pattern::Exact("istio-demo".into())),
                name: Pattern::Any
            })
        );
        let s = parse_selector("KM1040=gateway/ns/gw").unwrap();
        assert_eq!(s.target.unwrap().kind, "Gateway");
        let s = parse_selector("KM2010=Namespace/x").unwrap();
        assert_eq!(
            s.target,
            Some(Target {
                kind: "Namespace",
                namespace: None,
                name: Pattern::Exact("x".into())
            })
        );
        let s = parse_selector("KM2030=deploy/istio-demo/reviews-v2").unwrap();
        assert_eq!(s.target.unwrap().kind, "Deployment");
        for bad in [
            "KM9999",
            "nope",
            "=Pod/a/b",
            "KM2030=",
            "KM2030=Pod/a",
            "KM2030=Namespace/a/b",
            "KM2030=Widget/a/b",
            "KM2030=Pod//b",
            "KM2030=Pod/a/b/c",
        ] {
            assert!(parse_selector(bad).is_err(), "{bad} should not parse");
        }
    }
}
