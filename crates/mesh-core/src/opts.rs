//! How a command presents and writes, as plain values: the clap flags (`--dry-run`, `-o`, `--color`) convert
//! into these once, so nothing below the command line knows clap.

/// `--color`: when to use ANSI colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// `-o/--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
}

impl OutputFormat {
    /// `-o json` or `-o yaml`: a document for scripts rather than a table for people.
    pub fn is_structured(self) -> bool {
        matches!(self, OutputFormat::Json | OutputFormat::Yaml)
    }
}

/// `--dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DryRun {
    /// Write for real.
    #[default]
    None,
    /// Write nothing; show what would be sent.
    Client,
    /// Send the writes with `dryRun=All`: the server validates them and stores nothing.
    Server,
}

impl DryRun {
    /// kubectl's suffix for dry runs: ` (dry run)`, ` (server dry run)`.
    pub fn suffix(self) -> &'static str {
        match self {
            DryRun::None => "",
            DryRun::Client => " (dry run)",
            DryRun::Server => " (server dry run)",
        }
    }
}
