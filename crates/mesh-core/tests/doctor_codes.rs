//! Finding codes are permanent: this file freezes which check has which code. Changing a row here is a
//! decision (a code never moves to another check; a removed check's code goes to `RETIRED_CODES`), not a
//! test fix.

use std::collections::BTreeSet;
use std::path::PathBuf;

use mesh_core::doctor::registry::{docs_url, find, is_code, RESERVED_CODES, RETIRED_CODES};
use mesh_core::doctor::{Category, Finding, CHECKS};

/// (code, check id): every code ever assigned, registered or reserved.
const FROZEN: &[(&str, &str)] = &[
    ("KM0010", "api-access"),
    ("KM1010", "gateway-api-crds"),
    ("KM1020", "gateway-api-crd-version"),
    ("KM1030", "istiod-ready"),
    ("KM1040", "gateway-not-programmed"),
    ("KM1050", "gateway-no-address"),
    ("KM1060", "traefik-present"),
    ("KM2010", "injection-label-conflict"),
    ("KM2020", "sidecar-missing"),
    ("KM2030", "stale-sidecar-cert"),
    ("KM2031", "stale-sidecar-cert-deep"),
    ("KM2040", "root-cert-mismatch"),
    ("KM2050", "proxy-version-skew"),
    ("KM2060", "pods-not-ready"),
    ("KM2510", "ztunnel-ready"),
    ("KM2520", "ambient-and-sidecar"),
    ("KM3010", "route-parent-invalid"),
    ("KM3020", "route-not-accepted"),
    ("KM3030", "route-backend-missing"),
    ("KM3031", "route-backend-port"),
    ("KM3040", "route-backend-unready"),
    ("KM3041", "backend-selector-unmatched"),
    ("KM3050", "route-weights-zero"),
    ("KM3060", "route-rule-shadowed"),
    ("KM3070", "mtls-plaintext-callers"),
    ("KM3080", "virtualservice-conflict"),
    ("KM3510", "gamma-parent-group"),
    ("KM3520", "gamma-parent-headless"),
    ("KM3530", "route-no-catch-all"),
    ("KM3610", "route-waypoint-missing"),
    ("KM3620", "waypoint-not-ready"),
    ("KM3630", "waypoint-scope"),
    ("KM3640", "ingress-bypasses-waypoint"),
    ("KM7010", "files-duplicate-object"),
    ("KM8010", "multicluster-root-mismatch"),
    ("KM8020", "multicluster-version-skew"),
];

/// Every (code, id) the registry knows: registered checks and reserved codes.
fn assigned() -> Vec<(&'static str, &'static str)> {
    let mut all: Vec<(&str, &str)> = CHECKS.iter().map(|c| (c.code, c.id)).collect();
    all.extend(RESERVED_CODES.iter().map(|(code, id, _)| (*code, *id)));
    all.sort();
    all
}

#[test]
fn the_code_table_is_frozen() {
    let mut frozen = FROZEN.to_vec();
    frozen.sort();
    assert_eq!(
        assigned(),
        frozen,
        "a check's code changed, or a check was added without a code here: codes are permanent (add new rows, retire removed ones)"
    );
}

#[test]
fn every_check_has_a_unique_well_formed_code_never_retired() {
    let mut codes = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for (code, id) in assigned() {
        assert!(is_code(code), "{code} is not KM + four digits");
        assert!(codes.insert(code), "{code} is used twice");
        assert!(ids.insert(id), "{id} has two codes");
        assert!(
            !RETIRED_CODES.iter().any(|(c, _)| *c == code),
            "{code} is retired and must not be reused"
        );
    }
    for (code, _) in RETIRED_CODES {
        assert!(is_code(code), "{code}");
    }
    // A reserved code is not also registered: when its check lands, the row moves.
    for (code, id, _) in RESERVED_CODES {
        assert!(
            !CHECKS.iter().any(|c| c.code == *code || c.id == *id),
            "{id} ({code}) is registered: remove it from RESERVED_CODES"
        );
    }
}

#[test]
fn codes_fall_in_the_range_of_their_section() {
    // KM0 kubernetes access, KM1 prerequisites, KM2 data plane, KM3 routing, KM7 manifests, KM8 multi-cluster; a later category change never
    // renumbers, so this holds for the checks as they were created. KM25xx (ambient mode) is the exception by
    // design: ztunnel-ready (KM2510) is reported with the prerequisites.
    for c in CHECKS.iter().filter(|c| !c.code.starts_with("KM25")) {
        let range = &c.code[2..3];
        let expected = match c.category {
            Category::KubernetesApi => "0",
            Category::Prerequisites => "1",
            Category::DataPlane => "2",
            Category::Routing => "3",
            Category::Manifests => "7",
            Category::Multicluster => "8",
        };
        assert_eq!(range, expected, "{} {}", c.code, c.id);
    }
}

#[test]
fn findings_carry_their_code_and_docs_link() {
    let f = Finding::error("stale-sidecar-cert", Category::DataPlane, "x");
    assert_eq!(f.code, "KM2030");
    assert_eq!(
        f.docs_url(),
        "https://github.com/kubectl-mesh/kubectl-mesh/blob/main/docs/checks.md#km2030"
    );
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(json["code"], "KM2030");
    assert_eq!(json["docs"], docs_url("KM2030"));
    // Lookup by id or code, codes case-insensitively.
    assert_eq!(find("km2030").unwrap().id, "stale-sidecar-cert");
    assert_eq!(find("stale-sidecar-cert").unwrap().code, "KM2030");
    assert!(find("KM9999").is_none());
}

fn checks_md() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/checks.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The `## KMxxxx` sections of docs/checks.md: (code, body). Other `##` sections end the one before.
fn sections(doc: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut in_code_section = false;
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            let heading = heading.trim();
            in_code_section = heading.starts_with("KM");
            if in_code_section {
                out.push((heading.to_string(), String::new()));
            }
        } else if let (true, Some((_, body))) = (in_code_section, out.last_mut()) {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

#[test]
fn docs_checks_md_has_a_section_per_code_with_symptom_cause_and_fix() {
    let doc = checks_md();
    let secs = sections(&doc);
    let headings: Vec<&str> = secs.iter().map(|(c, _)| c.as_str()).collect();
    for c in CHECKS {
        let (_, body) = secs
            .iter()
            .find(|(code, _)| code == c.code)
            .unwrap_or_else(|| panic!("docs/checks.md has no section ## {} ({})", c.code, c.id));
        // The heading is the code alone, so the anchor (#km2030) survives a rename of the check id.
        assert!(body.contains(&format!("`{}`", c.id)), "{}: names its check id", c.code);
        for part in ["**Symptom.**", "**Cause.**", "**Fix.**"] {
            assert!(body.contains(part), "{} lacks {part}", c.code);
        }
        assert!(
            doc.contains(&format!("[{}](#{})", c.code, c.code.to_ascii_lowercase())),
            "the index links {}",
            c.code
        );
    }
    for h in headings {
        assert!(is_code(h), "heading ## {h} is not a code");
        let known = CHECKS.iter().any(|c| c.code == h) || RESERVED_CODES.iter().any(|(c, _, _)| *c == h);
        assert!(known, "docs/checks.md has a section for unknown code {h}");
    }
    // Sections in code order, so readers can scan.
    let codes: Vec<&str> = secs.iter().map(|(c, _)| c.as_str()).collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(codes, sorted, "sections are in code order");
    let retired = if RETIRED_CODES.is_empty() {
        "Retired codes: none.".to_string()
    } else {
        format!(
            "Retired codes: {}.",
            RETIRED_CODES.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
        )
    };
    assert!(doc.contains(&retired), "docs/checks.md says: {retired}");
}
