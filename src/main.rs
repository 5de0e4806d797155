//! `kubectl-mesh`: thin main. Parse, run, print the error once with its hint, exit with its code.

use std::process::ExitCode;

use clap::Parser;
use kubectl_mesh::cli::Cli;
use kubectl_mesh::error::{exit, MeshError};

fn main() -> ExitCode {
    // kube-rs with rustls: pick ring explicitly so no other crate's provider choice can make rustls panic.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(&MeshError::io("starting the async runtime", e)),
    };
    match runtime.block_on(kubectl_mesh::cmd::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => report(&e),
    }
}

fn report(e: &MeshError) -> ExitCode {
    if let MeshError::Io { source, .. } = e {
        if source.kind() == std::io::ErrorKind::BrokenPipe {
            return ExitCode::from(exit::OK);
        }
    }
    eprintln!("error: {e}");
    if let Some(hint) = e.hint() {
        eprintln!("hint: {hint}");
    }
    ExitCode::from(e.exit_code())
}
