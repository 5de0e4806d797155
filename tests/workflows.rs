//! The GitHub workflows and the README must refer to things that exist: test targets, scripts, files.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &str) -> String {
    std::fs::read_to_string(root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn workflow_commands_name_real_targets() {
    for wf in ["ci.yml", "release.yml", "e2e.yml"] {
        let text = read(&format!(".github/workflows/{wf}"));
        // Every workflow is valid YAML with jobs.
        let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{wf}: {e}"));
        assert!(
            doc.get("jobs")
                .and_then(|j| j.as_object())
                .is_some_and(|j| !j.is_empty()),
            "{wf} has no jobs"
        );
        for (i, _) in text.match_indices("--test ") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                root().join(format!("tests/{name}.rs")).exists(),
                "{wf} runs --test {name}, which does not exist"
            );
        }
        for (i, _) in text.match_indices("bash ") {
            let script: String = text[i + 5..].chars().take_while(|c| !c.is_whitespace()).collect();
            if script.ends_with(".sh") || script.starts_with(".ci/") {
                assert!(
                    root().join(&script).exists(),
                    "{wf} runs {script}, which does not exist"
                );
            }
        }
        assert!(!text.contains("make "), "{wf}: there is no Makefile");
    }
    let release = read(".github/workflows/release.yml");
    assert!(release.contains("krew/.krew.yaml") && root().join("krew/.krew.yaml").exists());
    for platform in [
        "linux_amd64",
        "linux_arm64",
        "darwin_amd64",
        "darwin_arm64",
        "windows_amd64",
    ] {
        assert!(release.contains(platform), "release misses {platform}");
        assert!(
            read("krew/.krew.yaml").contains(platform),
            "krew template misses {platform}"
        );
    }
    assert!(release.contains("musl"), "Linux builds are static (musl)");
}

#[test]
fn ci_script_runs_the_readme_test_command() {
    let readme = read("README.md");
    let ci = read(".ci/run");
    let test_cmd = readme
        .lines()
        .find(|l| l.trim_start().starts_with("cargo test"))
        .expect("README.md names a test command")
        .trim();
    assert!(
        ci.contains(test_cmd)
            || ci.contains(&format!("{test_cmd} --locked"))
            || ci.lines().any(|l| l.trim().starts_with(test_cmd)),
        ".ci/run must run the README's test command {test_cmd:?}"
    );
    assert!(ci.contains("MESH_REQUIRE_SHARED=1"));
    assert!(ci.contains("cargo fmt") && ci.contains("clippy") && ci.contains("-D warnings"));
}

#[test]
fn readme_documents_every_doctor_check_and_exit_code() {
    let readme = read("README.md");
    for check in mesh_core::doctor::CHECKS {
        assert!(
            readme.contains(&format!("| `{}` |", check.id)),
            "README misses check id {}",
            check.id
        );
    }
    for code in ["| 0 |", "| 1 |", "| 2 |", "| 3 |"] {
        assert!(readme.contains(code), "README misses exit code row {code}");
    }
    for cmd in [
        "### shift",
        "### route-user",
        "### status",
        "### explain",
        "### doctor",
        "### recover",
    ] {
        assert!(readme.contains(cmd), "README misses {cmd}");
    }
}
