//! `kubectl mesh doctor --deep`: confirm (or clear) stale sidecar certificates from the proxies themselves.
//!
//! The `stale-sidecar-cert` check infers staleness from start times: an istio-proxy that started before the
//! current Istio root's NotBefore cannot have loaded it at start (istio/istio#36723). That is a suspicion, not a
//! proof — istiod may have pushed the new root since. `--deep` asks each sidecar's Envoy admin (`/certs` on
//! 127.0.0.1:15000, reached through the API server's pod port-forward) which CA certificates it trusts, and
//! compares their serial numbers with the current root's:
//! - the current root's serial is among the proxy's `ca_cert` serials → confirmed fresh;
//! - it is not → confirmed stale (`CERTIFICATE_VERIFY_FAILED` against peers with new certificates);
//! - the admin could not be read → a warning for that pod, never a silent ok;
//! - port-forward is not allowed in a namespace → skipped, naming the permission.
//!
//! The evidence gets its own check id, [`ID`], so `--check stale-sidecar-cert` keeps meaning the same thing for
//! scripts and a missing `pods/portforward` permission reads as "this deeper check was skipped" rather than as
//! a skipped start-time check. It also reconciles `stale-sidecar-cert`: a suspicion the proxy refutes stops
//! being an error (and loses its restart fix), one it confirms says so.
//!
//! Pure: the IO layer (`cluster::portforward`) turns a [`DeepPlan`] into [`DeepEvidence`]; [`apply`] turns the
//! evidence into findings.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::certs::{parse_pem_bundle, CertBundle};
use super::checks::{group_by_owner, name_list, plural, pod_refs};
use super::finding::{Category, Finding, Fix, Status};
use super::model::{Pod, Snapshot};
use super::raw::Scope;

/// Check id of the deep evidence.
pub const ID: &str = "stale-sidecar-cert-deep";
/// Id of the start-time check it confirms or clears.
pub const START_TIME_ID: &str = "stale-sidecar-cert";
/// Envoy's admin port in Istio sidecars (listening on 127.0.0.1 inside the pod).
pub const ADMIN_PORT: u16 = 15000;
/// The admin path that lists the certificates Envoy has loaded.
pub const CERTS_PATH: &str = "/certs";

const CAT: Category = Category::DataPlane;

/// One sidecar to read, with the root it must trust to be fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeepTarget {
    pub namespace: String,
    pub pod: String,
    /// Normalized serial (see [`normalize_serial`]) of the namespace's current Istio root.
    pub root_serial: String,
}

/// Which sidecars `--deep` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeepPlan {
    pub targets: Vec<DeepTarget>,
    /// Why nothing can be read at all (the deep check is then one skipped finding).
    pub skipped: Option<String>,
}

impl DeepPlan {
    /// Namespaces whose sidecars are read (each needs its own permission check).
    pub fn namespaces(&self) -> BTreeSet<&str> {
        self.targets.iter().map(|t| t.namespace.as_str()).collect()
    }
}

/// What the IO layer got from one sidecar's admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRead {
    /// An HTTP answer from Envoy.
    Answer { status: u16, body: Vec<u8> },
    /// The API server refused the port-forward (403).
    Forbidden(String),
    /// No answer: port-forward failed, the admin did not listen, a timeout.
    Unreachable(String),
}

/// Everything the IO layer learned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeepEvidence {
    /// Namespace → the `pods/portforward` verbs a SelfSubjectAccessReview denied (its sidecars were not read).
    pub denied: BTreeMap<String, Vec<String>>,
    /// (namespace, pod) → what reading its admin gave.
    pub reads: BTreeMap<(String, String), AdminRead>,
}

/// What a proxy's admin says about the roots it trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It trusts the current root.
    Fresh,
    /// It does not; these are the (normalized) CA serials it trusts.
    Stale { trusted: Vec<String> },
    /// It could not be told (unreachable admin, unreadable answer).
    Unknown(String),
    /// Port-forward is not allowed: the permission sentence ("needs create pods/portforward in ns").
    Denied(String),
}

/// A serial number in one spelling: hex digits, lowercase, no separators, no leading zeros. Envoy prints
/// BoringSSL's `BN_bn2hex` (lowercase, no leading zero bytes); `openssl x509 -serial` prints uppercase,
/// others use colons. `None` if it is not hex.
pub fn normalize_serial(serial: &str) -> Option<String> {
    let mut s = serial.trim();
    if let Some(rest) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        s = rest;
    }
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let trimmed = hex.trim_start_matches('0');
    Some(if trimmed.is_empty() {
        "0".to_string()
    } else {
        trimmed.to_string()
    })
}

/// The normalized serial of a DER certificate.
pub fn serial_of_der(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let hex: String = cert.raw_serial().iter().map(|b| format!("{b:02x}")).collect();
    normalize_serial(&hex)
}

/// The CA certificates an Envoy reports on `/certs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvoyCerts {
    /// Normalized serials of every `ca_cert` entry, sorted, deduplicated.
    pub ca_serials: Vec<String>,
}

#[derive(Deserialize)]
struct CertsDoc {
    certificates: Option<Vec<CertEntry>>,
}

#[derive(Deserialize)]
struct CertEntry {
    #[serde(default)]
    ca_cert: Option<Vec<CertDetails>>,
}

#[derive(Deserialize)]
struct CertDetails {
    #[serde(default)]
    serial_number: Option<String>,
}

/// Parse Envoy's `/certs` JSON (`admin.v3.Certificates`):
/// `{"certificates":[{"ca_cert":[{"path","serial_number","subject_alt_names","days_until_expiration",
/// "valid_from","expiration_time"}],"cert_chain":[…]}]}`. Every context's `ca_cert` counts.
pub fn parse_envoy_certs(body: &[u8]) -> Result<EnvoyCerts, String> {
    let doc: CertsDoc =
        serde_json::from_slice(body).map_err(|e| format!("the answer to {CERTS_PATH} is not Envoy's JSON: {e}"))?;
    let entries = doc
        .certificates
        .ok_or_else(|| format!("the answer to {CERTS_PATH} has no \"certificates\" list"))?;
    let mut serials = BTreeSet::new();
    for entry in entries {
        for ca in entry.ca_cert.unwrap_or_default() {
            let Some(raw) = ca.serial_number else { continue };
            let serial = normalize_serial(&raw).ok_or_else(|| format!("CA serial number {raw:?} is not hex"))?;
            serials.insert(serial);
        }
    }
    Ok(EnvoyCerts {
        ca_serials: serials.into_iter().collect(),
    })
}

/// Parse each namespace's istio-ca-root-cert once.
fn bundles(s: &Snapshot) -> BTreeMap<&str, CertBundle> {
    s.root_certs
        .as_ref()
        .map(|cms| {
            cms.iter()
                .filter_map(|cm| Some((cm.namespace.as_str(), parse_pem_bundle(cm.root_cert_pem.as_deref()?))))
                .collect()
        })
        .unwrap_or_default()
}

/// Sidecars worth reading: a running istio-proxy in a running pod inside `scope`.
fn readable(pod: &Pod, scope: &Scope) -> bool {
    scope.contains(&pod.namespace)
        && pod.phase == "Running"
        && pod.sidecar.as_ref().is_some_and(|sc| sc.started_at.is_some())
}

/// Which sidecars to read, each with its namespace's current root serial (falling back to istio-system's, as
/// the start-time check does).
pub fn plan(s: &Snapshot, scope: &Scope) -> DeepPlan {
    let pods = match &s.pods {
        Ok(pods) => pods,
        Err(u) => {
            return DeepPlan {
                targets: Vec::new(),
                skipped: Some(super::checks::unavailable_reason(super::raw::Kind::Pod, u)),
            }
        }
    };
    if let Err(u) = &s.root_certs {
        return DeepPlan {
            targets: Vec::new(),
            skipped: Some(super::checks::unavailable_reason(super::raw::Kind::ConfigMap, u)),
        };
    }
    let bundles = bundles(s);
    let serial = |ns: &str| {
        bundles
            .get(ns)
            .and_then(CertBundle::current)
            .or_else(|| bundles.get("istio-system").and_then(CertBundle::current))
            .and_then(|root| serial_of_der(&root.der))
    };
    let mut targets = Vec::new();
    let mut rootless = 0usize;
    for pod in pods.iter().filter(|p| readable(p, scope)) {
        match serial(&pod.namespace) {
            Some(root_serial) => targets.push(DeepTarget {
                namespace: pod.namespace.clone(),
                pod: pod.name.clone(),
                root_serial,
            }),
            None => rootless += 1,
        }
    }
    targets.sort_by(|a, b| (&a.namespace, &a.pod).cmp(&(&b.namespace, &b.pod)));
    let skipped = (targets.is_empty() && rootless > 0).then(|| {
        format!(
            "the current Istio root certificate is unknown (no readable istio-ca-root-cert) for {}",
            plural(rootless, "sidecar")
        )
    });
    DeepPlan { targets, skipped }
}

/// "needs create pods/portforward in istio-demo", "needs get and create pods/portforward in istio-demo".
pub fn permission_sentence(verbs: &[String], namespace: &str) -> String {
    let verbs = if verbs.is_empty() {
        "get and create".to_string()
    } else {
        verbs.join(" and ")
    };
    format!("needs {verbs} pods/portforward in {namespace}")
}

/// What each target's read means.
pub fn verdicts(plan: &DeepPlan, evidence: &DeepEvidence) -> BTreeMap<(String, String), Verdict> {
    let mut out = BTreeMap::new();
    for t in &plan.targets {
        let key = (t.namespace.clone(), t.pod.clone());
        let verdict = if let Some(verbs) = evidence.denied.get(&t.namespace) {
            Verdict::Denied(permission_sentence(verbs, &t.namespace))
        } else {
            match evidence.reads.get(&key) {
                None => Verdict::Unknown("not read".to_string()),
                Some(AdminRead::Forbidden(message)) => Verdict::Denied(format!(
                    "{} (the API server answered 403: {})",
                    permission_sentence(&[], &t.namespace),
                    short(message)
                )),
                Some(AdminRead::Unreachable(reason)) => Verdict::Unknown(short(reason)),
                Some(AdminRead::Answer { status, .. }) if *status != 200 => {
                    Verdict::Unknown(format!("Envoy admin answered HTTP {status} to GET {CERTS_PATH}"))
                }
                Some(AdminRead::Answer { body, .. }) => match parse_envoy_certs(body) {
                    Err(e) => Verdict::Unknown(e),
                    Ok(certs) if certs.ca_serials.is_empty() => {
                        Verdict::Unknown("Envoy lists no CA certificate (no TLS context loaded)".to_string())
                    }
                    Ok(certs) if certs.ca_serials.contains(&t.root_serial) => Verdict::Fresh,
                    Ok(certs) => Verdict::Stale {
                        trusted: certs.ca_serials,
                    },
                },
            }
        };
        out.insert(key, verdict);
    }
    out
}

/// Keep messages one line and short.
fn short(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(159).collect::<String>())
    } else {
        line
    }
}

/// "1 sidecar trusts" / "3 sidecars trust".
fn agree(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn serial_list(serials: &BTreeSet<&str>) -> String {
    serials.iter().copied().collect::<Vec<_>>().join(", ")
}

/// The deep check's findings, in report order: confirmed stale (errors, one per owner with a restart fix),
/// unreadable admins (a warning), namespaces without permission (skipped), confirmed fresh (ok).
pub fn deep_findings(s: &Snapshot, plan: &DeepPlan, verdicts: &BTreeMap<(String, String), Verdict>) -> Vec<Finding> {
    if let Some(reason) = &plan.skipped {
        return vec![Finding::skipped(ID, CAT, reason.clone())];
    }
    if plan.targets.is_empty() {
        return vec![Finding::ok(ID, CAT, "no running istio-proxy sidecar to read")];
    }
    let root_of: BTreeMap<(&str, &str), &str> = plan
        .targets
        .iter()
        .map(|t| ((t.namespace.as_str(), t.pod.as_str()), t.root_serial.as_str()))
        .collect();
    let pod_of = |(ns, name): &(String, String)| s.pod(ns, name);
    let mut stale: Vec<&Pod> = Vec::new();
    let mut fresh: Vec<&Pod> = Vec::new();
    let mut unknown: Vec<(&Pod, &str)> = Vec::new();
    let mut denied: BTreeMap<&str, &str> = BTreeMap::new();
    for (key, verdict) in verdicts {
        let Some(pod) = pod_of(key) else { continue };
        match verdict {
            Verdict::Fresh => fresh.push(pod),
            Verdict::Stale { .. } => stale.push(pod),
            Verdict::Unknown(why) => unknown.push((pod, why)),
            Verdict::Denied(sentence) => {
                denied.entry(key.0.as_str()).or_insert(sentence);
            }
        }
    }
    let mut out = Vec::new();
    for (key, pods) in group_by_owner(s, stale) {
        let current: BTreeSet<&str> = pods
            .iter()
            .filter_map(|p| root_of.get(&(p.namespace.as_str(), p.name.as_str())).copied())
            .collect();
        let trusted: BTreeSet<&str> = pods
            .iter()
            .filter_map(|p| match verdicts.get(&(p.namespace.clone(), p.name.clone())) {
                Some(Verdict::Stale { trusted }) => Some(trusted.iter().map(String::as_str)),
                _ => None,
            })
            .flatten()
            .collect();
        let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
        out.push(
            Finding::error(
                ID,
                CAT,
                format!(
                    "{}: {} only CA serial {}, not the current Istio root (serial {}), per the Envoy admin {CERTS_PATH}: {}",
                    key.describe(),
                    agree(pods.len(), "sidecar trusts", "sidecars trust"),
                    serial_list(&trusted),
                    serial_list(&current),
                    name_list(&names, 5)
                ),
            )
            .with_hint(format!(
                "confirmed stale: requests to peers with new certificates fail with CERTIFICATE_VERIFY_FAILED; restart them: kubectl mesh recover (or {})",
                key.manual_command()
            ))
            .with_resources(pod_refs(&pods))
            .with_fix(key.fix(&pods, "Envoy does not trust the current root certificate (read from /certs)")),
        );
    }
    if !unknown.is_empty() {
        unknown.sort_by(|a, b| (&a.0.namespace, &a.0.name).cmp(&(&b.0.namespace, &b.0.name)));
        let names: Vec<String> = unknown
            .iter()
            .map(|(p, why)| format!("{}/{} ({why})", p.namespace, p.name))
            .collect();
        let pods: Vec<&Pod> = unknown.iter().map(|(p, _)| *p).collect();
        out.push(
            Finding::warning(
                ID,
                CAT,
                format!(
                    "could not read the Envoy admin {CERTS_PATH} of {}: {}",
                    plural(pods.len(), "sidecar"),
                    name_list(&names, 5)
                ),
            )
            .with_hint(format!(
                "their certificates stay unconfirmed; try by hand: kubectl -n NAMESPACE port-forward pod/NAME {ADMIN_PORT} and curl localhost:{ADMIN_PORT}{CERTS_PATH}"
            ))
            .with_resources(pod_refs(&pods)),
        );
    }
    for sentence in denied.values() {
        out.push(
            Finding::skipped(ID, CAT, sentence.to_string())
                .with_hint("grant it (deploy/rbac/doctor-deep-clusterrole.yaml) or run doctor without --deep"),
        );
    }
    if !fresh.is_empty() {
        fresh.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        let current: BTreeSet<&str> = fresh
            .iter()
            .filter_map(|p| root_of.get(&(p.namespace.as_str(), p.name.as_str())).copied())
            .collect();
        out.push(
            Finding::ok(
                ID,
                CAT,
                format!(
                    "{} the current Istio root (serial {}), per the Envoy admin {CERTS_PATH}",
                    agree(fresh.len(), "sidecar trusts", "sidecars trust"),
                    serial_list(&current)
                ),
            )
            .with_resources(pod_refs(&fresh)),
        );
    }
    out
}

/// Confirm or clear the start-time suspicions of `stale-sidecar-cert` with the proxies' own answers.
fn reconcile(finding: Finding, verdicts: &BTreeMap<(String, String), Verdict>) -> Finding {
    if finding.id != START_TIME_ID || finding.status != Status::Error || finding.resources.is_empty() {
        return finding;
    }
    let verdict = |r: &super::finding::ResourceRef| {
        let ns = r.namespace.clone().unwrap_or_default();
        verdicts.get(&(ns, r.name.clone()))
    };
    let fresh: Vec<&str> = finding
        .resources
        .iter()
        .filter(|r| matches!(verdict(r), Some(Verdict::Fresh)))
        .map(|r| r.name.as_str())
        .collect();
    let all_stale = finding
        .resources
        .iter()
        .all(|r| matches!(verdict(r), Some(Verdict::Stale { .. })));
    if all_stale {
        let mut f = finding;
        f.message.push_str(" (confirmed by --deep)");
        return f;
    }
    if fresh.is_empty() {
        return finding;
    }
    if fresh.len() == finding.resources.len() {
        let mut f = finding;
        f.status = Status::Ok;
        f.message.push_str(&format!(
            " — but --deep read their Envoy admin {CERTS_PATH}: they trust the current root, no restart needed"
        ));
        f.hint = None;
        f.fix = None;
        return f;
    }
    let fresh_set: BTreeSet<String> = fresh.iter().map(|n| n.to_string()).collect();
    let mut f = finding;
    f.message.push_str(&format!(
        "; --deep: {} of them trust the current root ({})",
        fresh_set.len(),
        name_list(&fresh_set.iter().collect::<Vec<_>>(), 5)
    ));
    f.resources.retain(|r| !fresh_set.contains(&r.name));
    if let Some(Fix::RestartOwner { pods, .. }) = &mut f.fix {
        pods.retain(|p| !fresh_set.contains(p));
    }
    f
}

/// Add the deep check's findings right after `stale-sidecar-cert`'s and reconcile those with the evidence.
pub fn apply(s: &Snapshot, findings: Vec<Finding>, plan: &DeepPlan, evidence: &DeepEvidence) -> Vec<Finding> {
    let verdicts = verdicts(plan, evidence);
    let deep = deep_findings(s, plan, &verdicts);
    let at = findings
        .iter()
        .rposition(|f| f.id == START_TIME_ID)
        .map(|i| i + 1)
        .unwrap_or(findings.len());
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len() + deep.len());
    let mut rest = findings.into_iter();
    out.extend(rest.by_ref().take(at).map(|f| reconcile(f, &verdicts)));
    out.extend(deep);
    out.extend(rest);
    out
}
