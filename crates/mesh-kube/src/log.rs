//! Where `-v N` logs go. mesh-kube never prints: the binary hands it a [`Log`] with the verbosity and a sink
//! (its stderr writer), and every request line, retry and decision is offered to it at a kubectl level
//! (6: each request, 8: request bodies; never a token, a key or a Secret value).

use std::fmt;
use std::sync::Arc;

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// A verbosity and where lines at or below it go.
#[derive(Clone, Default)]
pub struct Log {
    level: u8,
    sink: Option<Sink>,
}

impl Log {
    /// Lines up to `level` go to `sink`.
    pub fn new(level: u8, sink: impl Fn(&str) + Send + Sync + 'static) -> Log {
        Log {
            level,
            sink: Some(Arc::new(sink)),
        }
    }

    /// No logs at all (tests, completion).
    pub fn silent() -> Log {
        Log::default()
    }

    /// The verbosity (`-v N`).
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Whether a line at `level` would be written.
    pub fn enabled(&self, level: u8) -> bool {
        self.sink.is_some() && self.level >= level
    }

    /// Write `line()` when `level` is enabled (the line is only built then).
    pub fn at(&self, level: u8, line: impl FnOnce() -> String) {
        if let Some(sink) = self.sink.as_ref().filter(|_| self.level >= level) {
            sink(&line());
        }
    }
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("level", &self.level)
            .field("sink", &self.sink.is_some())
            .finish()
    }
}
