//! `kubectl mesh doctor --error TEXT` (`-` reads stdin): recognise the pasted failure text
//! ([`mesh_core::doctor::symptom`]), then read only the namespaces it names (the same LISTs as doctor, nothing
//! per object), run only the checks its pattern calls for, keep the findings about the Services it names, and
//! list the causes found before what was ruled out. A text matching no known pattern is a usage error (exit 2)
//! listing the patterns, before anything is sent.

use std::io::{IsTerminal, Read};

use crate::cmd::doctor::{deepen, print_notes, render, DoctorArgs};
use crate::cmd::{scope, Ctx};
use crate::error::{MeshError, Result};
use mesh_core::doctor::symptom::{self, scope as focus};
use mesh_core::doctor::{deep, run_some, suppress, FailOn};
use mesh_core::scope::Scope;
use mesh_kube::read::doctor::read_snapshot;

/// The most stdin may hold.
const MAX_TEXT: u64 = 4 << 20;

/// The text itself, or stdin's for `-`.
fn read_text(ctx: &Ctx, arg: &str) -> Result<String> {
    if arg != "-" {
        return Ok(arg.to_string());
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        ctx.out.info("reading the error text from stdin (end with Ctrl-D)");
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .take(MAX_TEXT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| MeshError::io("reading the error text from stdin", e))?;
    if bytes.len() as u64 > MAX_TEXT {
        return Err(MeshError::usage_hint(
            "the error text on stdin is larger than 4 MiB",
            "paste the failing response or the few log lines around it",
        ));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub async fn run(ctx: Ctx, args: &DoctorArgs, arg: &str) -> Result<u8> {
    let text = read_text(&ctx, arg)?;
    if text.trim().is_empty() {
        return Err(MeshError::usage_hint(
            "the error text is empty",
            "pass the failure text: kubectl mesh doctor --error \"$(curl -s http://reviews:9080/)\", or - to read it from stdin",
        ));
    }
    let recognised = symptom::recognise(&text).map_err(|u| {
        MeshError::usage_hint(
            format!(
                "no known failure pattern in the text ({} line{} read)",
                u.lines,
                if u.lines == 1 { "" } else { "s" }
            ),
            format!(
                "doctor --error recognises {}; run kubectl mesh doctor for a full check",
                symptom::known_patterns()
            ),
        )
    })?;
    let fail_on = FailOn::from(args.fail_on);
    let all = ctx.all_namespaces(args.all.all_namespaces)?;
    let cluster = ctx.cluster().await?;
    let default_ns = cluster.namespace.clone();
    // The namespaces the text names (and -n when given: the caller's, typically); else doctor's usual scope.
    let read_scope = if all || recognised.targets.is_empty() {
        scope(all, &cluster)
    } else {
        let mut namespaces = focus::namespaces(&recognised.targets, &default_ns);
        if let Some(ns) = &ctx.global.namespace {
            if !namespaces.contains(ns) {
                namespaces.push(ns.clone());
            }
        }
        Scope::Namespaces(namespaces)
    };
    cluster.log(1, || {
        format!("--error: {} → reading {read_scope:?}", recognised.pattern.id)
    });
    let checks = focus::called_checks(recognised.pattern, args.deep);
    let snapshot = read_snapshot(&cluster, &read_scope).await?;
    let mut findings = run_some(&snapshot, jiff::Timestamp::now(), &checks);
    if args.deep && checks.contains(&deep::ID) {
        findings = deepen(&cluster, &read_scope, &snapshot, findings).await;
    }
    let (targets, mut notes) = focus::resolve(&recognised.targets, &default_ns, all, &snapshot);
    let (mut findings, hidden) = focus::relevant(findings, &targets, &snapshot);
    let suppress_notes = suppress::apply(&mut findings, &snapshot, &args.suppress.suppress);
    drop(snapshot);
    focus::order(&mut findings);
    notes.splice(0..0, recognised.notes.iter().cloned());
    let report = focus::SymptomReport {
        recognised,
        checks,
        targets,
        notes,
        hidden,
        deep: args.deep,
    };
    print_notes(&ctx, &suppress_notes);
    let mut doc = serde_json::json!({
        "success": !fail_on.failed(&findings),
        "symptom": report.json(),
        "checks": findings,
    });
    if !suppress_notes.is_empty() {
        doc["notes"] = serde_json::json!(suppress_notes);
    }
    let text = render(&ctx, args, &findings, &doc, || {
        report.render_text(&findings, ctx.out.color)
    })?;
    ctx.out.print(&text)?;
    Ok(if fail_on.failed(&findings) { 1 } else { 0 })
}
