//! Output decided once: format, colour and which streams are terminals.
//!
//! Results go to stdout, progress and logs to stderr. Colour follows `--color`, then NO_COLOR, then whether the
//! stream is a terminal (and TERM is not `dumb`). Commands write through [`Output`] so that a closed pipe
//! (`kubectl mesh status | head -1`) ends the program quietly instead of panicking.

use std::io::{IsTerminal, Write};

use crate::error::{MeshError, Result};
use mesh_core::opts::{ColorChoice, OutputFormat};
use mesh_core::render::{paint, Style};

/// Print an error once, as `error: …` and a `hint: …` line on stderr; the exit code it maps to.
pub fn report_error(e: &MeshError) -> u8 {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {e}");
    if let Some(hint) = e.hint() {
        let _ = writeln!(stderr, "hint: {hint}");
    }
    e.exit_code()
}

fn log_line(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "I kubectl-mesh: {line}");
}

#[derive(Debug, Clone)]
pub struct Output {
    pub format: OutputFormat,
    /// ANSI colour on stdout.
    pub color: bool,
    /// ANSI colour on stderr.
    pub color_stderr: bool,
    pub stdout_tty: bool,
    pub stderr_tty: bool,
    pub stdin_tty: bool,
    pub verbosity: u8,
}

impl Output {
    pub fn detect(format: OutputFormat, choice: ColorChoice, verbosity: u8) -> Self {
        let stdout_tty = std::io::stdout().is_terminal();
        let stderr_tty = std::io::stderr().is_terminal();
        let stdin_tty = std::io::stdin().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let decide = |tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color && !dumb,
        };
        Output {
            format,
            color: decide(stdout_tty),
            color_stderr: decide(stderr_tty),
            stdout_tty,
            stderr_tty,
            stdin_tty,
            verbosity,
        }
    }

    /// Plain, deterministic settings for tests and in-process use (demo).
    pub fn plain(format: OutputFormat) -> Self {
        Output {
            format,
            color: false,
            color_stderr: false,
            stdout_tty: false,
            stderr_tty: false,
            stdin_tty: false,
            verbosity: 0,
        }
    }

    /// An interactive prompt is allowed only when a person is at both ends.
    pub fn can_prompt(&self) -> bool {
        self.stdin_tty && self.stderr_tty
    }

    /// Progress bars only on a real terminal; otherwise kubectl-style lines.
    pub fn fancy_progress(&self) -> bool {
        self.stderr_tty && self.color_stderr
    }

    /// Write a result to stdout. A closed pipe becomes [`MeshError::Io`] with kind BrokenPipe, which main turns
    /// into exit 0.
    pub fn print(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|_| {
                if text.ends_with('\n') || text.is_empty() {
                    Ok(())
                } else {
                    out.write_all(b"\n")
                }
            })
            .and_then(|_| out.flush())
            .map_err(|e| MeshError::io("writing to stdout", e))
    }

    /// A progress or information line on stderr (never fails the command).
    pub fn info(&self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }

    /// A `-v` log line on stderr, kubectl-style (`I kubectl-mesh: …`), shown from `-v level`.
    pub fn log(&self, level: u8, line: &str) {
        if self.verbosity >= level {
            log_line(line);
        }
    }

    /// The same log, for mesh-kube's requests and retries.
    pub fn kube_log(&self) -> mesh_kube::Log {
        mesh_kube::Log::new(self.verbosity, log_line)
    }

    pub fn paint(&self, text: &str, style: Style) -> String {
        paint(self.color, text, style)
    }
}

/// Where progress of a long wait goes: an indicatif spinner on a terminal, kubectl-style lines on stderr otherwise
/// (indicatif hides itself when stderr is not a terminal, TERM=dumb or NO_COLOR, so we decide here).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    out: Output,
    last: String,
}

impl Progress {
    pub fn new(out: &Output, what: &str) -> Progress {
        let bar = out.fancy_progress().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar.set_message(format!("Waiting for {what}..."));
            bar
        });
        Progress {
            bar,
            out: out.clone(),
            last: String::new(),
        }
    }

    /// A new progress line (repeats are dropped).
    pub fn update(&mut self, line: &str) {
        if line == self.last {
            return;
        }
        self.last = line.to_string();
        match &self.bar {
            Some(bar) => bar.set_message(line.to_string()),
            None => self.out.info(line),
        }
    }

    pub fn finish(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(line.to_string()),
            None => self.out.info(line),
        }
    }

    /// Done, and the result is printed elsewhere: clear the spinner, print nothing.
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Progress of a progressive shift: an indicatif bar (`[#####-----] 2/4 reviews-v3 50% · soaking 30s`) on a
/// terminal, kubectl-style lines on stderr otherwise.
pub struct StepProgress {
    bar: Option<indicatif::ProgressBar>,
    out: Output,
}

impl StepProgress {
    pub fn new(out: &Output, steps: usize) -> StepProgress {
        let bar = out.fancy_progress().then(|| {
            let bar = indicatif::ProgressBar::new(steps as u64);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            if let Ok(style) = indicatif::ProgressStyle::with_template("[{bar:24}] step {pos}/{len} {msg}") {
                bar.set_style(style.progress_chars("#>-"));
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        StepProgress { bar, out: out.clone() }
    }

    /// Steps completed so far.
    pub fn set_step(&self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }

    /// What is going on now: the bar's message (nothing without a bar: the lines say what happened).
    pub fn status(&self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(line.to_string());
        }
    }

    /// A line worth keeping (above the bar on a terminal).
    pub fn event(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => self.out.info(line),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
