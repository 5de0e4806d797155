//! Which namespaces a command looks at: one type for doctor, recover and status.
//!
//! `-n NS` (else the kubeconfig context's namespace) or `-A`. The binary checks the flags before connecting and
//! builds the scope once connected, when the context's namespace is known.

/// Which namespaces to look at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every namespace (one cluster-wide list per kind).
    #[default]
    All,
    /// Only these namespaces (doctor adds the ones it always needs, see `doctor::Kind::list_requests`).
    Namespaces(Vec<String>),
}

impl Scope {
    /// One namespace.
    pub fn namespace(ns: impl Into<String>) -> Scope {
        Scope::Namespaces(vec![ns.into()])
    }

    /// Whether `namespace` is inside this scope.
    pub fn contains(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespaces(list) => list.iter().any(|n| n == namespace),
        }
    }

    /// The namespace a single-namespace scope names; `None` for every namespace.
    pub fn single(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Namespaces(list) => list.first().map(String::as_str),
        }
    }
}
