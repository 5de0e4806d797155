//! The workspace's one-way architecture, kept by `cargo test` (README "How it is built"):
//!
//! - `mesh-core` is pure: its normal dependencies reach no async runtime, Kubernetes client, HTTP stack or
//!   command-line parser (`cargo tree -p mesh-core -e normal`), and its code names no socket, file or terminal;
//! - `mesh-kube` is the only crate that reaches the Kubernetes client;
//! - `mesh-sandbox` depends on no crate of ours, and the binary reaches it only through the `demo` feature;
//! - nothing prints outside the binary's `main.rs`, `output.rs` and `cmd/` (mesh-kube logs through a sink);
//! - errors cross crate boundaries typed: the binary's error wraps each crate's error with `#[from]` and keeps
//!   its `#[source]` chain, and no error is flattened into another one's message (`map_err(|e| …{e}…)` without
//!   keeping `e`, `io::Error::other`).
//!
//! Each rule is a plain scan or a `cargo tree` query, so a violation fails with the file and line, or the
//! dependency path, that breaks it.

use std::path::{Path, PathBuf};
use std::process::Command;

use kubectl_mesh::error::MeshError;
use mesh_kube::KubeError;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo tree` for one package and edge kind, offline and against the lockfile, as the package names it
/// reaches (one per line, no tree drawing).
fn tree(args: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root())
        .args(["tree", "--offline", "--locked", "--prefix", "none", "--format", "{p}"])
        .args(args)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Packages of `names` that are, or belong to, one of `families` (`kube` matches kube-client, kube-core, …).
fn reached<'a>(names: &'a [String], families: &[&str]) -> Vec<&'a str> {
    names
        .iter()
        .map(String::as_str)
        .filter(|n| {
            families
                .iter()
                .any(|f| n == f || n.starts_with(&format!("{f}-")) || n.starts_with(&format!("{f}_")))
        })
        .collect()
}

#[test]
fn mesh_core_reaches_no_runtime_client_http_stack_or_cli_parser() {
    let deps = tree(&["-p", "mesh-core", "-e", "normal"]);
    assert!(
        deps.iter().any(|d| d == "serde_json"),
        "cargo tree saw mesh-core's dependencies: {deps:?}"
    );
    let forbidden = reached(
        &deps,
        &[
            "tokio",
            "kube",
            "k8s-openapi",
            "hyper",
            "http",
            "reqwest",
            "clap",
            "mesh-kube",
            "mesh-sandbox",
        ],
    );
    assert!(
        forbidden.is_empty(),
        "mesh-core's normal dependencies reach {forbidden:?}"
    );
}

#[test]
fn only_mesh_kube_reaches_the_kubernetes_client() {
    let kube = |package: &str| {
        let deps = tree(&["-p", package, "-e", "normal"]);
        reached(&deps, &["kube", "k8s-openapi"]).is_empty()
    };
    assert!(
        !kube("mesh-kube"),
        "mesh-kube is the crate that talks to the API server"
    );
    assert!(kube("mesh-core"));
    assert!(
        kube("mesh-sandbox"),
        "the test API server must not share the client it is there to test"
    );
}

#[test]
fn the_sandbox_depends_on_no_crate_of_ours_and_ships_only_with_demo() {
    let ours = ["kubectl-mesh", "mesh-core", "mesh-kube"];
    let sandbox = tree(&["-p", "mesh-sandbox", "-e", "normal"]);
    let found = reached(&sandbox, &ours);
    assert!(found.is_empty(), "mesh-sandbox depends on {found:?}");
    for package in ["mesh-core", "mesh-kube"] {
        let deps = tree(&["-p", package, "-e", "normal"]);
        assert!(
            reached(&deps, &["mesh-sandbox"]).is_empty(),
            "{package} must not reach the sandbox"
        );
    }
    let with_demo = tree(&["-p", "kubectl-mesh", "-e", "normal"]);
    assert!(
        with_demo.iter().any(|d| d == "mesh-sandbox"),
        "the default build has `demo`"
    );
    let without = tree(&["-p", "kubectl-mesh", "-e", "normal", "--no-default-features"]);
    assert!(
        !without.iter().any(|d| d == "mesh-sandbox"),
        "--no-default-features still reaches the sandbox"
    );
}

/// Rust files under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The source of the product crates (the binary, mesh-core, mesh-kube, mesh-sandbox), without test-only code:
/// files that only tests compile and items under `#[cfg(test)]`. (path relative to the workspace, line number,
/// line) for every remaining line that is not a comment.
fn product_lines() -> Vec<(String, usize, String)> {
    // Compiled only for tests: route's CRD fixtures helper, the sandbox's fixtures locator (its `fixtures`
    // feature is a dev-dependency feature; `cargo build` of the plugin never turns it on).
    const TEST_ONLY: &[&str] = &[
        "crates/mesh-core/src/route/testutil.rs",
        "crates/mesh-sandbox/src/fixtures.rs",
    ];
    let mut out = Vec::new();
    for dir in [
        "src",
        "crates/mesh-core/src",
        "crates/mesh-kube/src",
        "crates/mesh-sandbox/src",
    ] {
        for file in rust_files(&root().join(dir)) {
            let rel = file.strip_prefix(root()).unwrap().display().to_string();
            if TEST_ONLY.contains(&rel.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let mut i = 0;
            while i < lines.len() {
                let line = lines[i].trim();
                if line.starts_with("#[cfg(test)]") {
                    // Skip the item: one `mod x;` line, or up to the brace that closes it.
                    let mut depth = 0i32;
                    let mut opened = false;
                    i += 1;
                    while i < lines.len() {
                        let l = lines[i];
                        depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                        opened |= l.contains('{');
                        i += 1;
                        if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                            break;
                        }
                    }
                    continue;
                }
                if !line.starts_with("//") {
                    out.push((rel.clone(), i + 1, lines[i].to_string()));
                }
                i += 1;
            }
        }
    }
    out
}

fn print_macro(line: &str) -> Option<&'static str> {
    ["eprintln!", "println!", "eprint!", "print!", "dbg!"]
        .into_iter()
        .find(|m| {
            line.match_indices(m).any(|(at, _)| {
                // `eprintln!` also contains `println!`; count a macro only where its name starts.
                let before = line[..at].chars().next_back();
                !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        })
}

#[test]
fn nothing_prints_outside_main_output_and_commands() {
    let allowed = |path: &str| path == "src/main.rs" || path == "src/output.rs" || path.starts_with("src/cmd/");
    let offenders: Vec<String> = product_lines()
        .into_iter()
        .filter(|(path, _, _)| !allowed(path))
        .filter_map(|(path, n, line)| print_macro(&line).map(|m| format!("{path}:{n}: {m} in `{}`", line.trim())))
        .collect();
    assert!(
        offenders.is_empty(),
        "print macros outside src/main.rs, src/output.rs and src/cmd/ (log through mesh_kube::Log or return \
         text instead):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn mesh_core_opens_no_socket_file_or_terminal() {
    let io = [
        "std::fs",
        "std::net",
        "std::process",
        "std::env",
        "stdout()",
        "stderr()",
        "stdin()",
        "IsTerminal",
        "tokio",
    ];
    let offenders: Vec<String> = product_lines()
        .into_iter()
        .filter(|(path, _, _)| path.starts_with("crates/mesh-core/"))
        .filter_map(|(path, n, line)| {
            io.iter()
                .find(|w| line.contains(*w))
                .map(|w| format!("{path}:{n}: {w} in `{}`", line.trim()))
        })
        .collect();
    assert!(offenders.is_empty(), "IO in mesh-core:\n{}", offenders.join("\n"));
}

/// The `map_err(|x| …)` closures of the product code, each as one line of text: the closure parameter and
/// everything up to the parenthesis that closes `map_err(`.
fn map_err_closures() -> Vec<(String, usize, String, String)> {
    let mut out = Vec::new();
    let mut by_file: Vec<(String, Vec<(usize, String)>)> = Vec::new();
    for (path, n, line) in product_lines() {
        match by_file.last_mut() {
            Some((p, lines)) if *p == path => lines.push((n, line)),
            _ => by_file.push((path, vec![(n, line)])),
        }
    }
    for (path, lines) in by_file {
        let text: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
        let line_of = |at: usize| {
            let nth = text[..at].matches('\n').count();
            lines[nth].0
        };
        for (at, _) in text.match_indices("map_err(|") {
            let rest = &text[at + "map_err(|".len()..];
            let Some(bar) = rest.find('|') else { continue };
            let param = rest[..bar].trim().to_string();
            let mut depth = 1;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let body = rest[bar + 1..end].split_whitespace().collect::<Vec<_>>().join(" ");
            out.push((path.clone(), line_of(at), param, body));
        }
    }
    out
}

/// Whether a `map_err` closure builds an error of ours from its parameter's words while dropping the parameter.
/// The sandbox's `ApiError` is exempt: it is an API server's `Status` answer, whose message is text on the wire.
fn flattens(param: &str, body: &str) -> bool {
    if param == "_" || param.is_empty() || body.starts_with("ApiError::") {
        return false;
    }
    let builds_error = body.contains("Error::") || body.contains("MeshError::") || body.contains("error(");
    let words = body.contains(&format!("{{{param}}}"))
        || body.contains(&format!("{{{param}:"))
        || body.contains(&format!("{param}.to_string()"));
    let keeps = body.contains(&format!("Box::new({param})"))
        || body.contains(&format!("source: {param}"))
        || body.contains(&format!("source: Some({param})"))
        || body.contains(&format!(", {param},"))
        || body.contains(&format!(", {param})"))
        || body.contains(&format!("({param})"));
    builds_error && words && !keeps
}

#[test]
fn errors_are_never_flattened_into_another_errors_message() {
    let mut offenders: Vec<String> = map_err_closures()
        .into_iter()
        .filter(|(_, _, param, body)| flattens(param, body))
        .map(|(path, n, param, body)| format!("{path}:{n}: map_err(|{param}| {body}"))
        .collect();
    // `io::Error::other` dresses any error as an IO error. The sandbox's server plumbing is exempt: io::Error is
    // the transport error of its accept loop and hyper service, not an error it hands to our crates.
    offenders.extend(
        product_lines()
            .into_iter()
            .filter(|(path, _, _)| !path.starts_with("crates/mesh-sandbox/"))
            .filter(|(_, _, line)| line.contains("io::Error::other("))
            .map(|(path, n, line)| format!("{path}:{n}: io::Error::other in `{}`", line.trim())),
    );
    assert!(
        offenders.is_empty(),
        "an error turned into another error's words without keeping it (wrap it with #[from] or keep it as \
         #[source]):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_flattening_scan_tells_kept_errors_from_dropped_ones() {
    assert!(flattens("e", r#"MeshError::usage(format!("bad route: {e}"))"#));
    assert!(flattens(
        "e",
        r#"KubeError::Api { code: 200, reason: "x".into(), message: e.to_string() }"#
    ));
    assert!(!flattens("e", r#"MeshError::io("writing to stdout", e)"#));
    assert!(!flattens(
        "e",
        r#"KubeError::Unreachable { server: s, reason: format!("broke: {e}"), source: Some(Box::new(e)) }"#
    ));
    assert!(
        !flattens("e", r#"format!("not an X.509 certificate: {e}")"#),
        "not an error of ours"
    );
    assert!(!flattens("_", r#"KubeError::Timeout { server: s, timeout: t }"#));
    assert!(!flattens(
        "e",
        r#"ApiError::bad_request(format!("error decoding YAML: {e}"))"#
    ));
}

fn wraps<Outer: From<Inner>, Inner>() {}

/// Every error of a crate of ours, and the third-party error under it, is still there when the binary reports.
#[test]
fn the_binarys_error_wraps_each_crates_error_typed() {
    wraps::<MeshError, KubeError>();
    wraps::<MeshError, mesh_core::route::PlanError>();
    wraps::<MeshError, mesh_core::route::UsageError>();
    wraps::<MeshError, mesh_core::render::RenderError>();

    fn chain<'a>(e: &'a (dyn std::error::Error + 'static)) -> Vec<&'a (dyn std::error::Error + 'static)> {
        let mut out = vec![e];
        while let Some(next) = out.last().unwrap().source() {
            out.push(next);
        }
        out
    }
    let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
    let e = MeshError::from(KubeError::Undecodable {
        path: "/api/v1/pods".into(),
        source: json,
    });
    assert!(
        chain(&e)
            .iter()
            .any(|c| c.downcast_ref::<serde_json::Error>().is_some()),
        "the JSON error is lost: {e}"
    );
    assert!(matches!(e, MeshError::Kube(KubeError::Undecodable { .. })));

    let e = MeshError::from(mesh_core::route::validate_dns_label("Bad_Name").unwrap_err());
    assert!(
        chain(&e)
            .iter()
            .any(|c| c.downcast_ref::<mesh_core::names::NameError>().is_some()),
        "the name error is lost: {e}"
    );
    assert_eq!(e.exit_code(), 2);
}
