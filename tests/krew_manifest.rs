//! The krew manifest passes krew's own validation rules (sigs.k8s.io/krew internal/index/validation), and the
//! release template renders into a manifest that passes them too, with checksums of the real archives.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

const OS_ARCH: &[(&str, &str)] = &[
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("linux", "arm"),
    ("linux", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("windows", "386"),
];

fn validate(name: &str, m: &Value) -> Result<(), String> {
    let s = |p: &str| m.pointer(p).and_then(Value::as_str).unwrap_or("");
    if s("/apiVersion") != "krew.googlecontainertools.github.com/v1alpha2" {
        return Err(format!("unsupported apiVersion {:?}", s("/apiVersion")));
    }
    if s("/kind") != "Plugin" {
        return Err("kind must be Plugin".into());
    }
    let safe = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let forbidden = ["CON", "PRN", "AUX", "NUL"]
        .iter()
        .any(|f| f.eq_ignore_ascii_case(name))
        || (name.len() == 4 && ["COM", "LPT"].iter().any(|p| name[..3].eq_ignore_ascii_case(p)));
    if !safe || forbidden {
        return Err(format!("plugin name {name:?} is not allowed"));
    }
    if s("/metadata/name") != name {
        return Err(format!(
            "plugin should be named {name:?}, not {:?}",
            s("/metadata/name")
        ));
    }
    let short = s("/spec/shortDescription");
    if short.is_empty() || short.contains(['\r', '\n']) {
        return Err("shortDescription must be one non-empty line".into());
    }
    let version = s("/spec/version");
    let v = version.strip_prefix('v').ok_or("version must start with v")?;
    let core = v.split(['-', '+']).next().unwrap_or("");
    if core.split('.').count() != 3
        || !core
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("version {version:?} is not semver"));
    }
    let platforms = m
        .pointer("/spec/platforms")
        .and_then(Value::as_array)
        .ok_or("no platforms")?;
    if platforms.is_empty() {
        return Err("should have a platform specified".into());
    }
    let mut matched: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (i, p) in platforms.iter().enumerate() {
        let ps = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
        if ps("uri").is_empty() || ps("bin").is_empty() {
            return Err(format!("platform {i}: uri and bin must be set"));
        }
        let sha = ps("sha256");
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(format!("platform {i}: sha256 {sha:?} must match ^[a-f0-9]{{64}}$"));
        }
        if let Some(files) = p.get("files") {
            let files = files.as_array().ok_or("files must be a list")?;
            if files.is_empty() {
                return Err(format!("platform {i}: files has to be unspecified or non-empty"));
            }
            for f in files {
                if f.get("from").and_then(Value::as_str).unwrap_or("").is_empty()
                    || f.get("to").and_then(Value::as_str).unwrap_or("").is_empty()
                {
                    return Err(format!("platform {i}: from and to must be set"));
                }
            }
        }
        let labels = p.pointer("/selector/matchLabels").and_then(Value::as_object);
        let labels = labels
            .filter(|l| !l.is_empty())
            .ok_or(format!("platform {i}: empty selector"))?;
        if let Some(k) = labels.keys().find(|k| *k != "os" && *k != "arch") {
            return Err(format!("platform {i}: selector key {k:?} not supported"));
        }
        for (os, arch) in OS_ARCH {
            let hit = labels.get("os").is_none_or(|v| v == os) && labels.get("arch").is_none_or(|v| v == arch);
            if hit {
                if let Some(prev) = matched.insert((os, arch), i) {
                    return Err(format!("platforms {prev} and {i} both match {os}/{arch}"));
                }
            }
        }
    }
    for (os, arch) in [
        ("linux", "amd64"),
        ("linux", "arm64"),
        ("darwin", "amd64"),
        ("darwin", "arm64"),
        ("windows", "amd64"),
    ] {
        if !matched.contains_key(&(os, arch)) {
            return Err(format!("no platform for {os}/{arch}"));
        }
    }
    Ok(())
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[test]
fn checked_in_manifest_passes_krew_validation() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("krew/mesh.yaml");
    let m = load(&path);
    validate("mesh", &m).unwrap();
    for p in m.pointer("/spec/platforms").and_then(Value::as_array).unwrap() {
        let files: Vec<&str> = p["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["from"].as_str().unwrap())
            .collect();
        assert!(files.contains(&"LICENSE"), "every archive ships the LICENSE");
    }
    assert_eq!(
        m.pointer("/spec/version").and_then(Value::as_str),
        Some(concat!("v", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn validation_rejects_what_krew_rejects() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("krew/mesh.yaml");
    let good = load(&path);
    let mut bad = good.clone();
    bad["spec"]["platforms"][0]["sha256"] = Value::from("ABC");
    assert!(validate("mesh", &bad).unwrap_err().contains("sha256"));
    let mut bad = good.clone();
    bad["spec"]["platforms"][1]["selector"]["matchLabels"]["arch"] = Value::from("amd64");
    assert!(validate("mesh", &bad).unwrap_err().contains("both match"));
    let mut bad = good.clone();
    bad["spec"]["shortDescription"] = Value::from("two\nlines");
    assert!(validate("mesh", &bad).is_err());
    assert!(validate("other", &good).unwrap_err().contains("should be named"));
    let mut bad = good;
    bad["spec"]["platforms"][0]["selector"]["matchLabels"]["distro"] = Value::from("debian");
    assert!(validate("mesh", &bad).unwrap_err().contains("not supported"));
}

#[test]
fn release_template_renders_a_valid_manifest_with_real_checksums() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dist = tempfile::tempdir().unwrap();
    let names = [
        "linux_amd64.tar.gz",
        "linux_arm64.tar.gz",
        "darwin_amd64.tar.gz",
        "darwin_arm64.tar.gz",
        "windows_amd64.zip",
    ];
    for n in names {
        std::fs::write(dist.path().join(format!("kubectl-mesh_v9.8.7_{n}")), n).unwrap();
    }
    let out = std::process::Command::new("bash")
        .arg(root.join("krew/render-manifest.sh"))
        .arg("v9.8.7")
        .arg(dist.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    validate("mesh", &m).unwrap();
    let first = &m["spec"]["platforms"][0];
    assert!(first["uri"]
        .as_str()
        .unwrap()
        .ends_with("/v9.8.7/kubectl-mesh_v9.8.7_linux_amd64.tar.gz"));
    // sha256 of the bytes "linux_amd64.tar.gz".
    let sum = std::process::Command::new("sha256sum")
        .arg(dist.path().join("kubectl-mesh_v9.8.7_linux_amd64.tar.gz"))
        .output()
        .unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout)
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(first["sha256"].as_str().unwrap(), sum);
}
