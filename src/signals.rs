//! SIGINT and SIGTERM for the commands that write and wait (`shift`/`route-user`/`undo` with `--wait`, `shift
//! --step`): instead of dying wherever the signal lands — possibly between a write and the check of it — the
//! signal sets a [`Stop`] flag. Writes check it right before they are sent, waits and sleeps race it, so the
//! command ends between writes, says where the route stands and exits 130 (SIGINT) or 143 (SIGTERM). The handlers
//! stay installed until the process ends, so a second Ctrl-C does not kill a write in flight either.

use mesh_kube::Stop;

/// Catch SIGINT and SIGTERM into a fresh [`Stop`]. Must run inside the tokio runtime.
pub fn install() -> std::io::Result<Stop> {
    let stop = Stop::new();
    listen(stop.clone())?;
    Ok(stop)
}

#[cfg(unix)]
fn listen(stop: Stop) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = int.recv() => stop.trigger(2),
                Some(()) = term.recv() => stop.trigger(15),
                else => break,
            }
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn listen(stop: Stop) -> std::io::Result<()> {
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            stop.trigger(2);
        }
    });
    Ok(())
}
