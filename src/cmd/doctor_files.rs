//! `kubectl mesh doctor -f PATH...`: doctor on manifests (see [`mesh_core::doctor::files`]).
//!
//! Files are found the way `kubectl apply -f` finds them (`kubernetes/cli-runtime pkg/resource/builder.go`): `-`
//! is stdin, a directory gives its `.json`, `.yaml` and `.yml` files in lexical order (subdirectories only with
//! `-R`), a file named explicitly is read whatever its extension.
//!
//! - `--offline`: nothing but the files; no cluster is contacted and no credential is loaded (the kubeconfig is
//!   read only for the context's namespace, and may be absent). Exit 1 when a check that ran finds an error.
//! - Otherwise the files are overlaid on the cluster (the same LISTs doctor makes, nothing per object); exit 1
//!   only when the files introduce an error. An unreachable cluster is exit 3, with the `--offline` hint.
//!
//! Unparseable files are exit 2, naming file, line and column.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::cmd::doctor::{check_ids, print_notes, render, DoctorArgs, Inputs};
use crate::cmd::Ctx;
use crate::error::{MeshError, Result};
use mesh_core::doctor::files::{diff, files_report, overlay, overlay_success, overlay_summary, run_offline};
use mesh_core::doctor::{render_table, run_checks, suppress, FailOn, Finding};
use mesh_core::manifest::{self, FileSet, NamespaceDefault};
use mesh_core::scope::Scope;
use mesh_kube::read::doctor::read_snapshot_keeping;

/// kubectl's `FileExtensions`.
const EXTENSIONS: [&str; 3] = ["json", "yaml", "yml"];

/// Manifests larger than this are refused (kubectl has no limit; a YAML bomb should not take the machine).
const MAX_BYTES: u64 = 64 << 20;

fn has_manifest_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e))
}

/// The files under directory `dir`, in lexical order (kubectl walks with Go's filepath.Walk).
fn walk(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    let read = std::fs::read_dir(dir).map_err(|e| MeshError::io(format!("reading directory {}", dir.display()), e))?;
    let mut entries: Vec<PathBuf> = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| MeshError::io(format!("reading directory {}", dir.display()), e))?;
        entries.push(entry.path());
    }
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if recursive {
                walk(&p, recursive, out)?;
            }
        } else if has_manifest_extension(&p) {
            out.push(p);
        }
    }
    Ok(())
}

fn read_text(name: &str, mut reader: impl std::io::Read) -> Result<String> {
    let mut bytes = Vec::new();
    (&mut reader)
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| MeshError::io(format!("reading {name}"), e))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(MeshError::usage_hint(
            format!("{name} is larger than {} MiB", MAX_BYTES >> 20),
            "split the manifests into smaller files",
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        MeshError::usage_hint(
            format!("{name} is not UTF-8 text (at byte {})", e.utf8_error().valid_up_to()),
            "manifests are YAML or JSON text",
        )
    })
}

/// `(display name, text)` of every manifest file the `-f` paths name.
pub fn read_inputs(
    paths: &[String],
    recursive: bool,
    stdin_tty: bool,
    info: impl Fn(&str),
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut stdin_used = false;
    for given in paths {
        if given == "-" {
            if stdin_used {
                return Err(MeshError::usage_hint(
                    "-f - can be given only once",
                    "pass stdin once; name the other manifests as files",
                ));
            }
            stdin_used = true;
            if stdin_tty {
                info("reading manifests from stdin (end with Ctrl-D)");
            }
            out.push(("<stdin>".to_string(), read_text("stdin", std::io::stdin().lock())?));
            continue;
        }
        let path = Path::new(given);
        if !path.exists() {
            // kubectl's words.
            return Err(MeshError::usage_hint(
                format!("the path {given:?} does not exist"),
                "pass existing files or directories to -f",
            ));
        }
        if path.is_dir() {
            let mut files = Vec::new();
            walk(path, recursive, &mut files)?;
            if files.is_empty() {
                return Err(MeshError::usage_hint(
                    format!(
                        "error reading {given}: recognized file extensions are [.json .yaml .yml]{}",
                        if recursive { "" } else { " (subdirectories need -R)" }
                    ),
                    "point -f at YAML or JSON files",
                ));
            }
            for f in files {
                let name = f.display().to_string();
                let file = std::fs::File::open(&f).map_err(|e| MeshError::io(format!("opening {name}"), e))?;
                let text = read_text(&name, file)?;
                out.push((name, text));
            }
        } else {
            let file = std::fs::File::open(path).map_err(|e| MeshError::io(format!("opening {given}"), e))?;
            out.push((given.clone(), read_text(given, file)?));
        }
    }
    Ok(out)
}

/// Keep the findings of the checks `--check` named (resolved to ids: codes work too).
fn keep_checks(findings: &mut Vec<Finding>, ids: &[&str]) {
    if !ids.is_empty() {
        findings.retain(|f| ids.contains(&f.id));
    }
}

fn summary_line(files: &FileSet) -> String {
    let objects = files.objects.len();
    let ignored: usize = files.files.iter().map(|f| f.ignored).sum();
    let mut s = format!(
        "files: {} from {}",
        plural(objects, "object"),
        plural(files.files.len(), "file")
    );
    if ignored > 0 {
        let kinds: Vec<String> = files.ignored_kinds.keys().cloned().collect();
        s.push_str(&format!(
            " ({} of kinds doctor does not read ignored{})",
            ignored,
            if kinds.is_empty() {
                String::new()
            } else {
                format!(": {}", kinds.join(", "))
            }
        ));
    }
    s
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[allow(clippy::too_many_arguments)]
fn print_report(
    ctx: &Ctx,
    args: &DoctorArgs,
    findings: &[Finding],
    notes: &[String],
    mode: &str,
    files: &FileSet,
    ok: bool,
    tail: &str,
) -> Result<()> {
    print_notes(ctx, notes);
    let mut doc = files_report(findings, mode, files, ok);
    if !notes.is_empty() {
        doc["notes"] = serde_json::json!(notes);
    }
    let text = render(ctx, args, findings, &doc, || {
        format!("{}\n{}\n", render_table(findings, ctx.out.color), tail)
    })?;
    ctx.out.print(&text)
}

pub async fn run(ctx: Ctx, args: DoctorArgs) -> Result<u8> {
    if args.all_contexts || ctx.contexts().len() > 1 {
        return Err(MeshError::usage_hint(
            "-f checks manifests against one cluster",
            "drop --all-contexts and give at most one --context",
        ));
    }
    if args.deep {
        return Err(MeshError::usage_hint(
            "--deep reads running sidecars; it does not apply to -f",
            "run kubectl mesh doctor --deep without -f",
        ));
    }
    let wanted = check_ids(
        &args.checks,
        Inputs {
            files: true,
            ..Inputs::default()
        },
    )?;
    let fail_on = FailOn::from(args.fail_on);
    let all = ctx.all_namespaces(args.all.all_namespaces)?;
    let opts = ctx.connect_options()?;
    let inputs = read_inputs(&args.filenames, args.recursive, ctx.out.stdin_tty, |m| ctx.out.info(m))?;
    // Syntax errors first: exit 2 before any cluster is contacted.
    let parsed = manifest::parse_all(&inputs)?;
    drop(inputs);
    let now = jiff::Timestamp::now();

    if args.offline {
        // The context's namespace from the kubeconfig file, when there is one: no cluster contacted.
        let default = match &opts.namespace {
            Some(ns) => NamespaceDefault {
                namespace: ns.clone(),
                explicit: true,
            },
            None => NamespaceDefault {
                namespace: mesh_kube::config::context_namespace(&opts).unwrap_or_else(|| "default".into()),
                explicit: false,
            },
        };
        let files = manifest::gather(parsed, &default)?;
        let mut findings = run_offline(&files, now);
        keep_checks(&mut findings, &wanted);
        let notes = suppress::apply(&mut findings, &files.snapshot(), &args.suppress.suppress);
        let ok = !fail_on.failed(&findings);
        let skipped = findings
            .iter()
            .filter(|f| f.message.ends_with(mesh_core::doctor::files::NEEDS_CLUSTER))
            .count();
        let tail = format!(
            "{}; checked offline: {} that read live state were skipped",
            summary_line(&files),
            plural(skipped, "check")
        );
        print_report(&ctx, &args, &findings, &notes, "offline", &files, ok, &tail)?;
        return Ok(if ok { 0 } else { 1 });
    }

    let offline_hint = "add --offline to check the files alone, without the cluster";
    let cluster = ctx.cluster().await.map_err(|e| e.with_hint(offline_hint))?;
    let default = NamespaceDefault {
        namespace: cluster.namespace.clone(),
        explicit: opts.namespace.is_some(),
    };
    let files = manifest::gather(parsed, &default)?;
    let scope = if all {
        Scope::All
    } else {
        let mut namespaces: BTreeSet<String> = files.namespaces();
        namespaces.insert(cluster.namespace.clone());
        Scope::Namespaces(namespaces.into_iter().collect())
    };
    let (mut snapshot, live_raw) = read_snapshot_keeping(&cluster, &scope, &files.kinds())
        .await
        .map_err(|e| MeshError::from(e).with_hint(offline_hint))?;
    let live = run_checks(&snapshot, now);
    overlay(&mut snapshot, &live_raw, &files);
    drop(live_raw);
    let mut after = files.duplicate_findings();
    after.extend(run_checks(&snapshot, now));
    files.index().annotate(&mut after);
    let mut findings = diff(live, after);
    keep_checks(&mut findings, &wanted);
    // Suppressions as they will be once the files are applied (an annotation the files add counts).
    let notes = suppress::apply(&mut findings, &snapshot, &args.suppress.suppress);
    drop(snapshot);
    let ok = overlay_success(&findings, fail_on);
    let tail = format!(
        "{}; overlaid on the cluster at {}: {}",
        summary_line(&files),
        cluster.server,
        overlay_summary(&findings)
    );
    print_report(&ctx, &args, &findings, &notes, "overlay", &files, ok, &tail)?;
    Ok(if ok { 0 } else { 1 })
}
