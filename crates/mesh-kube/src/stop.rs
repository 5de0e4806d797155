//! A stop request (SIGINT, SIGTERM) shared by the binary, which catches the signal, and the writes here, which
//! check it right before every request that changes something: a write is never started after a stop, and a
//! write already sent is never abandoned half-way (the server may have applied it). Waits and sleeps race it.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// A cloneable stop flag carrying the signal number that set it.
#[derive(Clone, Default)]
pub struct Stop {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    signal: AtomicI32,
    notify: Notify,
}

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stop").field("signal", &self.signalled()).finish()
    }
}

impl Stop {
    /// A flag nobody has set.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Set the flag (the first signal wins) and wake every waiter.
    pub fn trigger(&self, signal: i32) {
        let _ = self
            .inner
            .signal
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// The signal that stopped us, if any.
    pub fn signalled(&self) -> Option<i32> {
        match self.inner.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    /// Resolves once the flag is set (at once if it already is). Cancel-safe.
    pub async fn wait(&self) -> i32 {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(s) = self.signalled() {
                return s;
            }
            notified.await;
        }
    }

    /// `Err(Interrupted)` when stopped: call right before sending a write.
    pub fn check(&self) -> crate::Result<()> {
        match self.signalled() {
            Some(signal) => Err(crate::KubeError::Interrupted { signal }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_wake_and_the_first_signal_wins() {
        let stop = Stop::new();
        assert!(stop.check().is_ok());
        let s2 = stop.clone();
        let waiter = tokio::spawn(async move { s2.wait().await });
        tokio::task::yield_now().await;
        stop.trigger(2);
        stop.trigger(15);
        assert_eq!(waiter.await.unwrap(), 2);
        assert_eq!(stop.signalled(), Some(2));
        assert_eq!(stop.wait().await, 2, "resolves at once when already set");
        assert!(matches!(stop.check(), Err(crate::KubeError::Interrupted { signal: 2 })));
    }
}
