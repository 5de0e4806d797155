//! Text, short and JSON renderings of findings. All return `String` so they can be snapshot-tested; the cmd
//! layer prints them and maps [`FailOn::failed`] to the exit code (0 ok, 1 an unsuppressed error, or warning
//! with `--fail-on warning`).

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
        Status::Suppressed => ("-", Style::Dim),
    }
}

/// `--fail-on`: what makes doctor exit 1. Skipped and suppressed findings never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailOn {
    /// An error (the default).
    #[default]
    Error,
    /// An error or a warning.
    Warning,
}

impl FailOn {
    /// Whether `status` fails the run.
    pub fn fails(self, status: Status) -> bool {
        match self {
            FailOn::Error => status == Status::Error,
            FailOn::Warning => status.is_problem(),
        }
    }

    /// Whether any finding fails the run.
    pub fn failed(self, findings: &[Finding]) -> bool {
        findings.iter().any(|f| self.fails(f.status))
    }
}

/// No finding is an error (warnings, skipped and suppressed findings do not fail doctor by default).
pub fn success(findings: &[Finding]) -> bool {
    !FailOn::Error.failed(findings)
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
            write_finding(&mut out, f, color);
        }
    }
    out.push_str(&summary(findings, color, !out.is_empty()));
    out
}

/// One finding: mark, code, message, then its resources, hint and (for problems) the docs link, indented.
pub(crate) fn write_finding(out: &mut String, f: &Finding, color: bool) {
    let (m, style) = match f.change {
        Some(Change::Fixed) => ("√", Style::Green),
        _ => mark(f.status),
    };
    let tag = match f.change {
        Some(Change::Introduced) => "introduced: ",
        Some(Change::Fixed) => "fixed: ",
        _ => "",
    };
    let code = if f.code.is_empty() {
        String::new()
    } else {
        format!("{} ", f.code)
    };
    let suppressed = if f.status == Status::Suppressed {
        "(suppressed) "
    } else {
        ""
    };
    let _ = writeln!(out, "{} {code}{suppressed}{tag}{}", paint(color, m, style), f.message);
    for r in f.resources.iter().take(MAX_RESOURCES) {
        let _ = writeln!(out, "    {r}");
    }
    if f.resources.len() > MAX_RESOURCES {
        let _ = writeln!(out, "    … and {} more", f.resources.len() - MAX_RESOURCES);
    }
    if let Some(hint) = &f.hint {
        let _ = writeln!(out, "    hint: {hint}");
    }
    if let Some(sup) = &f.suppressed {
        let _ = writeln!(out, "    {} suppressed by {}", sup.status.as_str(), sup.by.join("; "));
    }
    if f.status.is_problem() && f.change != Some(Change::Fixed) && !f.code.is_empty() {
        let _ = writeln!(out, "    docs: {}", f.docs_url());
    }
}

/// "Status check results are × (2 errors, 1 warning, 3 skipped, 1 suppressed)".
pub(crate) fn summary(findings: &[Finding], color: bool, blank_line: bool) -> String {
    let mut out = String::new();
    // A finding the files fix (doctor -f) is no longer a problem.
    let now = || findings.iter().filter(|f| f.change != Some(Change::Fixed));
    let errors = now().filter(|f| f.status == Status::Error).count();
    let warnings = now().filter(|f| f.status == Status::Warning).count();
    let skipped = now().filter(|f| f.status == Status::Skipped).count();
    let suppressed = now().filter(|f| f.status == Status::Suppressed).count();
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
    if suppressed > 0 {
        parts.push(format!("{suppressed} suppressed"));
    }
    if blank_line {
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
    report_fail_on(findings, FailOn::Error)
}

/// [`report`] with `success` decided by `--fail-on`.
pub fn report_fail_on(findings: &[Finding], fail_on: FailOn) -> serde_json::Value {
    serde_json::json!({
        "success": !fail_on.failed(findings),
        "checks": findings,
    })
}

/// `-o short`: one line per error or warning, `STATUS CODE ID: MESSAGE`, nothing else (no output when clean).
pub fn render_short(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings.iter().filter(|f| f.status.is_problem()) {
        let _ = writeln!(out, "{} {} {}: {}", f.status.as_str(), f.code, f.id, f.message);
    }
    out
}

/// [`report`] as pretty-printed JSON.
pub fn render_json(findings: &[Finding]) -> String {
    let mut text = serde_json::to_string_pretty(&report(findings))
        .unwrap_or_else(|e| format!("{{\"success\": false, \"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// `doctor --list-checks`: one line per check (CODE, ID, CATEGORY, DESCRIPTION), in report order.
pub fn render_check_list() -> String {
    let checks = super::CHECKS;
    let id_w = checks.iter().map(|c| c.id.len()).max().unwrap_or(2).max(2);
    let cat_w = checks
        .iter()
        .map(|c| c.category.as_str().len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = format!("CODE     {:id_w$}   {:cat_w$}   DESCRIPTION\n", "ID", "CATEGORY");
    for c in checks {
        let _ = writeln!(
            out,
            "{:6}   {:id_w$}   {:cat_w$}   {}",
            c.code,
            c.id,
            c.category.as_str(),
            c.description
        );
    }
    out
}
