//! The finding model shared by `doctor` (what is wrong) and `recover` (what to restart).
//!
//! Its JSON shape is part of the CLI contract (`kubectl mesh doctor -o json`), so field names
//! and order are fixed here and pinned by snapshot tests.

use std::fmt;

use serde::Serialize;

/// Sections of the doctor report, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    KubernetesApi,
    Prerequisites,
    DataPlane,
    Routing,
    /// `doctor -f`: problems of the files themselves.
    Manifests,
    /// Checks across clusters (`doctor --context A --context B`).
    Multicluster,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::KubernetesApi => "kubernetes-api",
            Category::Prerequisites => "prerequisites",
            Category::DataPlane => "data-plane",
            Category::Routing => "routing",
            Category::Manifests => "manifests",
            Category::Multicluster => "multicluster",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Outcome of one finding. `Error` makes doctor exit non-zero (and `Warning` with `--fail-on warning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Error,
    Skipped,
    /// An error or warning the user silenced (`--suppress`, annotation `mesh.kubectl.io/suppress`): it keeps its
    /// entry, never counts for the exit code, and `recover` does not act on it. What it was is in
    /// [`Finding::suppressed`].
    Suppressed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Error => "error",
            Status::Skipped => "skipped",
            Status::Suppressed => "suppressed",
        }
    }

    /// An error or a warning: something to look at.
    pub fn is_problem(self) -> bool {
        matches!(self, Status::Error | Status::Warning)
    }
}

/// What a suppressed finding was, and what silenced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    /// `error` or `warning`.
    pub status: Status,
    /// Each source that covered one of its resources: `--suppress KM2030=Deployment/istio-demo/reviews-v2`,
    /// `annotation on namespace istio-demo`.
    pub by: Vec<String>,
}

/// An object a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ResourceRef {
    pub kind: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
    /// `doctor -f`: the file the object comes from, and the line it starts on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Cross-cluster findings: the kubeconfig context of the cluster the object is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

impl ResourceRef {
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        ResourceRef {
            kind: kind.to_string(),
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
            file: None,
            line: None,
            cluster: None,
        }
    }

    pub fn cluster(kind: &str, name: &str) -> Self {
        ResourceRef {
            kind: kind.to_string(),
            namespace: None,
            name: name.to_string(),
            file: None,
            line: None,
            cluster: None,
        }
    }

    /// The same object, in the cluster of kubeconfig context `context`.
    pub fn in_cluster(mut self, context: &str) -> Self {
        self.cluster = Some(context.to_string());
        self
    }

    /// (kind, namespace, name): what the object is, wherever it was read from.
    pub fn key(&self) -> (&str, Option<&str>, &str) {
        (&self.kind, self.namespace.as_deref(), &self.name)
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind.to_ascii_lowercase();
        if let Some(c) = &self.cluster {
            write!(f, "{c}: ")?;
        }
        match &self.namespace {
            Some(ns) => write!(f, "{kind} {ns}/{}", self.name)?,
            None => write!(f, "{kind} {}", self.name)?,
        }
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, " ({file}:{line})"),
            (Some(file), None) => write!(f, " ({file})"),
            _ => Ok(()),
        }
    }
}

/// Workloads `recover` can restart (`kubectl rollout restart` semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum OwnerKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl OwnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Deployment => "Deployment",
            OwnerKind::StatefulSet => "StatefulSet",
            OwnerKind::DaemonSet => "DaemonSet",
        }
    }

    /// Its entry in the one resource table ([`crate::resource`]).
    pub fn res(self) -> &'static crate::resource::Res {
        match self {
            OwnerKind::Deployment => &crate::resource::DEPLOYMENTS,
            OwnerKind::StatefulSet => &crate::resource::STATEFULSETS,
            OwnerKind::DaemonSet => &crate::resource::DAEMONSETS,
        }
    }

    /// Resource plural in `apps/v1`.
    pub fn plural(self) -> &'static str {
        self.res().plural
    }
}

impl fmt::Display for OwnerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `recover` would do about a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Fix {
    /// Roll the owner so new pods get a fresh sidecar.
    RestartOwner {
        kind: OwnerKind,
        namespace: String,
        name: String,
        pods: Vec<String>,
        reason: String,
    },
    /// Evict a pod nothing would recreate differently (bare pod, or owner unknown).
    EvictPod {
        namespace: String,
        name: String,
        reason: String,
    },
}

/// One line of the doctor report. JSON: `{"id","code","category","status","message","hint","docs",
/// "resources","fix"?,"suppressed"?,"change"?}` (see the `Serialize` impl).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable check id (see [`crate::doctor::CHECKS`]).
    pub id: &'static str,
    /// Its check's permanent code (`KM2030`), from the registry.
    pub code: &'static str,
    pub category: Category,
    pub status: Status,
    pub message: String,
    pub hint: Option<String>,
    pub resources: Vec<ResourceRef>,
    pub fix: Option<Fix>,
    /// Set when [`Status::Suppressed`].
    pub suppressed: Option<Suppressed>,
    /// `doctor -f` against a cluster: what applying the files changes about this finding.
    pub change: Option<Change>,
}

impl Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Finding", 11)?;
        st.serialize_field("id", self.id)?;
        st.serialize_field("code", self.code)?;
        st.serialize_field("category", &self.category)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("message", &self.message)?;
        st.serialize_field("hint", &self.hint)?;
        st.serialize_field("docs", &self.docs_url())?;
        st.serialize_field("resources", &self.resources)?;
        if let Some(fix) = &self.fix {
            st.serialize_field("fix", fix)?;
        }
        if let Some(sup) = &self.suppressed {
            st.serialize_field("suppressed", sup)?;
        }
        if let Some(change) = &self.change {
            st.serialize_field("change", change)?;
        }
        st.end()
    }
}

/// What applying the files does to a finding (`doctor -f` on a live cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// A problem the files bring.
    Introduced,
    /// A live problem the files remove.
    Fixed,
    /// As live.
    Unchanged,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Introduced => "introduced",
            Change::Fixed => "fixed",
            Change::Unchanged => "unchanged",
        }
    }
}

impl Finding {
    pub fn new(id: &'static str, category: Category, status: Status, message: impl Into<String>) -> Self {
        Finding {
            id,
            code: super::registry::code_of(id),
            category,
            status,
            message: message.into(),
            hint: None,
            resources: Vec::new(),
            fix: None,
            suppressed: None,
            change: None,
        }
    }

    /// The section of docs/checks.md about its code.
    pub fn docs_url(&self) -> String {
        super::registry::docs_url(self.code)
    }

    pub fn ok(id: &'static str, category: Category, message: impl Into<String>) -> Self {
        Self::new(id, category, Status::Ok, message)
    }

    pub fn warning(id: &'static str, category: Category, message: impl Into<String>) -> Self {
        Self::new(id, category, Status::Warning, message)
    }

    pub fn error(id: &'static str, category: Category, message: impl Into<String>) -> Self {
        Self::new(id, category, Status::Error, message)
    }

    pub fn skipped(id: &'static str, category: Category, message: impl Into<String>) -> Self {
        Self::new(id, category, Status::Skipped, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_resources(mut self, resources: Vec<ResourceRef>) -> Self {
        self.resources = resources;
        self
    }

    pub fn with_fix(mut self, fix: Fix) -> Self {
        self.fix = Some(fix);
        self
    }
}
