//! Text for people and documents for scripts: kubectl-style tables, ANSI colour, and `-o json|yaml`. Every
//! function returns a `String`; printing it is the command layer's job.

use crate::opts::OutputFormat;

/// A value could not be rendered as the document `-o` asked for.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("rendering JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("rendering YAML: {0}")]
    Yaml(#[from] serde_saphyr::SerializeError),
}

/// ANSI styles used in tables and messages.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    Green,
    Yellow,
    Red,
    Bold,
    Dim,
}

/// `text` in `style` when `enabled`, else unchanged.
pub fn paint(enabled: bool, text: &str, style: Style) -> String {
    if !enabled {
        return text.to_string();
    }
    let code = match style {
        Style::Green => "32",
        Style::Yellow => "33",
        Style::Red => "31",
        Style::Bold => "1",
        Style::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Serialize a value as JSON (pretty, trailing newline) or YAML for `-o json|yaml`.
pub fn to_format<T: serde::Serialize>(value: &T, format: OutputFormat) -> Result<String, RenderError> {
    match format {
        OutputFormat::Yaml => Ok(serde_saphyr::to_string(value)?),
        _ => Ok(serde_json::to_string_pretty(value)? + "\n"),
    }
}

/// A kubectl-style table: no borders, three spaces between columns, no trailing blanks.
pub fn table(header: Vec<&str>, rows: Vec<Vec<String>>) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_header(header);
    for r in rows {
        t.add_row(r);
    }
    let n = t.column_iter().count();
    for (i, c) in t.column_iter_mut().enumerate() {
        c.set_padding((0, if i + 1 == n { 0 } else { 3 }));
    }
    let mut out: String = t
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}
