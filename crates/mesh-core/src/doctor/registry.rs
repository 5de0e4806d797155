//! The check registry: one row per check ([`CheckInfo`]) in [`super::CHECKS`] — its stable id, its permanent
//! code (`KM` + four digits), its report category, what it checks, and how it runs. The table's order is the
//! report order and the run order; nothing else lists the checks.
//!
//! Codes are permanent: a code names one cause forever, even when the check id is renamed or its category
//! changes, and it is never given to another check. A code lives in exactly one of three places over its life:
//! [`RESERVED_CODES`] (assigned to a check whose implementation lands later), a row of [`super::CHECKS`] (the
//! check exists), [`RETIRED_CODES`] (the check was removed). `crates/mesh-core/tests/doctor_codes.rs` freezes
//! the assignment.
//!
//! Ranges (a code's range is chosen when it is created, never renumbered): `KM0` Kubernetes access, `KM1`
//! prerequisites, `KM2` data plane (`KM25xx` ambient), `KM3` routing (`KM35xx` GAMMA attachment, `KM36xx`
//! waypoints), `KM7` manifests (`doctor -f`), `KM8` multi-cluster. Steps of 10 leave room; a code ending in 1
//! deepens the check before it (`KM2031` is `KM2030` confirmed through the proxies).

use jiff::Timestamp;

use super::finding::{Category, Finding};
use super::model::Snapshot;

/// Where the checks document lives; each code has a section whose anchor is the lower-cased code.
pub const DOCS_URL: &str = "https://github.com/kubectl-mesh/kubectl-mesh/blob/main/docs/checks.md";

/// How a check runs.
#[derive(Clone, Copy)]
pub enum Run {
    /// A pure function of the snapshot.
    Pure(fn(&Snapshot) -> Vec<Finding>),
    /// A pure function of the snapshot and the current time (ages in messages).
    Timed(fn(&Snapshot, Timestamp) -> Vec<Finding>),
    /// Needs its own IO and a flag: `--deep` reads each sidecar's Envoy admin (see [`super::deep`]).
    Deep,
    /// About the files themselves: runs only with `doctor -f` (see [`crate::manifest`]).
    Files,
    /// Across clusters: runs only with several contexts (see [`super::cross`]).
    Cross,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Run::Pure(_) => "Pure",
            Run::Timed(_) => "Timed",
            Run::Deep => "Deep",
            Run::Files => "Files",
            Run::Cross => "Cross",
        })
    }
}

/// One check.
#[derive(Debug, Clone, Copy)]
pub struct CheckInfo {
    /// Permanent code, `KM` + four digits.
    pub code: &'static str,
    /// Stable id (scripts match on it).
    pub id: &'static str,
    pub category: Category,
    /// What it checks, as one line (`--list-checks`, README).
    pub description: &'static str,
    pub run: Run,
    /// Whether the check can run on manifests alone (`doctor -f --offline`).
    pub offline: Offline,
}

/// What a check needs, for `doctor -f --offline`: checks declare it, so the offline run needs no list of ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offline {
    /// Reads only what manifests hold (specs, labels): runs on files.
    Runs,
    /// Reads live state (status, pods, endpoints, certificates, what is installed): listed as skipped offline.
    NeedsCluster,
    /// Only about the files themselves (`doctor -f`).
    FilesOnly,
    /// Only across clusters (`doctor --context A --context B`).
    MultiClusterOnly,
}

impl Offline {
    pub fn as_str(self) -> &'static str {
        match self {
            Offline::Runs => "runs",
            Offline::NeedsCluster => "needs a cluster",
            Offline::FilesOnly => "files only",
            Offline::MultiClusterOnly => "multi-cluster only",
        }
    }
}

impl CheckInfo {
    /// The URL of its section in the checks document.
    pub fn docs_url(&self) -> String {
        docs_url(self.code)
    }

    /// Runs only with an input of its own (`--deep`, `-f`, several contexts), not in a plain `doctor`.
    pub fn opt_in(&self) -> bool {
        self.needs().is_some()
    }

    /// The input an opt-in check needs; `None` for the checks a plain `doctor` runs.
    pub fn needs(&self) -> Option<Input> {
        match self.run {
            Run::Pure(_) | Run::Timed(_) => None,
            Run::Deep => Some(Input::Deep),
            Run::Files => Some(Input::Files),
            Run::Cross => Some(Input::Clusters),
        }
    }
}

/// What an opt-in check needs besides one cluster's snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// `--deep`: each sidecar's Envoy admin.
    Deep,
    /// `-f`: manifests.
    Files,
    /// Several contexts.
    Clusters,
}

impl Input {
    /// The flag as the user types it.
    pub fn flag(self) -> &'static str {
        match self {
            Input::Deep => "--deep",
            Input::Files => "-f",
            Input::Clusters => "several --context",
        }
    }

    /// How to give it.
    pub fn hint(self) -> &'static str {
        match self {
            Input::Deep => "add --deep (it port-forwards to each sidecar's Envoy admin)",
            Input::Files => "it checks manifests: add -f PATH",
            Input::Clusters => "it compares clusters: name them with --context A --context B, or --all-contexts",
        }
    }
}

/// A code assigned to a check that is not in [`super::CHECKS`] yet: (code, check id, where it lands). When
/// the check lands, its row moves into the table with this code.
pub const RESERVED_CODES: &[(&str, &str, &str)] = &[];

/// Codes of removed checks: (code, the id it had). Never given to another check.
pub const RETIRED_CODES: &[(&str, &str)] = &[];

/// The registered check with this id or code (codes case-insensitive: `km2030` works).
pub fn find(id_or_code: &str) -> Option<&'static CheckInfo> {
    super::CHECKS
        .iter()
        .find(|c| c.id == id_or_code || c.code.eq_ignore_ascii_case(id_or_code))
}

/// The code of a registered check id; `""` for an id the table does not know (a debug build asserts).
pub fn code_of(id: &str) -> &'static str {
    match super::CHECKS.iter().find(|c| c.id == id) {
        Some(c) => c.code,
        None => {
            debug_assert!(false, "check id {id:?} is not in doctor::CHECKS");
            ""
        }
    }
}

/// The checks document's section for `code`.
pub fn docs_url(code: &str) -> String {
    format!("{DOCS_URL}#{}", code.to_ascii_lowercase())
}

/// Whether `s` has the shape of a code (`KM` + four digits).
pub fn is_code(s: &str) -> bool {
    s.len() == 6 && s.starts_with("KM") && s[2..].bytes().all(|b| b.is_ascii_digit())
}
