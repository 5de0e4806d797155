//! Text and JSON renderings of findings. Both return `String` so they can be snapshot-tested;
//! the cmd layer prints them and maps [`success`] to the exit code (0 ok, 1 any error).

use std::fmt::Write as _;

use super::finding::{Category, Change, Finding, Status};
use crate::render::{paint, Style};

/// Resources shown under one finding before "… and N more".
const MAX_RESOURCES: usize = 10;

fn mark(status: Status) -> (&'static str, Style) {
    match status {
        Status::Ok => ("√", Style::Green),
        Status::Warning => ("‼", Style::Yellow),
        Status::Error => ("×", Style::Red),
        Status::Skipped => ("○", Style::Dim),
    }
}

/// No finding is an error (warnings and skipped checks do not fail doctor).
pub fn success(findings: &[Finding]) -> bool {
    !findings.iter().any(|f| f.status == Status::Error)
}

fn count(n: usize, word: &str) -> String {
    if n == 1 || word == "skipped" {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `linkerd check`-style report: a section per category, one line per finding, resources and
/// hints indented under it, and a summary line.
pub fn render_table(findings: &[Finding], color: bool) -> String {
    let mut out = String::new();
    let mut categories: Vec<Category> = findings.iter().map(|f| f.category).collect();
    categories.sort();
    categories.dedup();
    for (i, cat) in categories.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let name = cat.as_str();
        let _ = writeln!(out, "{}", paint(color, name, Style::Bold));
        let _ = writeln!(out, "{}", "-".repeat(name.chars().count()));
        for f in findings.iter().filter(|f| f.category == *cat) {
            let (m, code) = match f.change {
                Some(Change::Fixed) => ("√", Style::Green),
                _ => mark(f.status),
            };
            let tag = match f.change {
                Some(Change::Introduced) => "introduced: ",
                Some(Change::Fixed) => "fixed: ",
                _ => "",
            };
            let _ = writeln!(out, "{} {tag}{}", paint(color, m, code), f.message);
            for r in f.resources.iter().take(MAX_RESOURCES) {
                let _ = writeln!(out, "    {r}");
            }
            if f.resources.len() > MAX_RESOURCES {
                let _ = writeln!(out, "    … and {} more", f.resources.len() - MAX_RESOURCES);
            }
            if let Some(hint) = &f.hint {
                let _ = writeln!(out, "    hint: {hint}");
            }
        }
    }
    // A finding the files fix (doctor -f) is no longer a problem.
    let now = || findings.iter().filter(|f| f.change != Some(Change::Fixed));
    let errors = now().filter(|f| f.status == Status::Error).count();
    let warnings = now().filter(|f| f.status == Status::Warning).count();
    let skipped = now().filter(|f| f.status == Status::Skipped).count();
    let overall = if errors > 0 {
        Status::Error
    } else if warnings > 0 {
        Status::Warning
    } else {
        Status::Ok
    };
    let (m, code) = mark(overall);
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(count(errors, "error"));
    }
    if warnings > 0 {
        parts.push(count(warnings, "warning"));
    }
    if skipped > 0 {
        parts.push(count(skipped, "skipped"));
    }
    if !out.is_empty() {
        out.push('\n');
    }
    let _ = write!(out, "Status check results are {}", paint(color, m, code));
    if !parts.is_empty() {
        let _ = write!(out, " ({})", parts.join(", "));
    }
    out.push('\n');
    out
}

/// The `-o json|yaml` document: `{"success": bool, "checks": [finding…]}`.
pub fn report(findings: &[Finding]) -> serde_json::Value {
    serde_json::json!({
        "success": success(findings),
        "checks": findings,
    })
}

/// [`report`] as pretty-printed JSON.
pub fn render_json(findings: &[Finding]) -> String {
    let mut text = serde_json::to_string_pretty(&report(findings))
        .unwrap_or_else(|e| format!("{{\"success\": false, \"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// `doctor --list-checks`: one line per documented check (ID, CATEGORY, DESCRIPTION).
pub fn render_check_list() -> String {
    let checks = super::CHECKS;
    let id_w = checks.iter().map(|c| c.id.len()).max().unwrap_or(2).max(2);
    let cat_w = checks
        .iter()
        .map(|c| c.category.as_str().len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = format!("{:id_w$}   {:cat_w$}   DESCRIPTION\n", "ID", "CATEGORY");
    for c in checks {
        let _ = writeln!(
            out,
            "{:id_w$}   {:cat_w$}   {}",
            c.id,
            c.category.as_str(),
            c.description
        );
    }
    out
}
