//! `kubectl-mesh`: thin main. Parse, run, print the error once with its hint, exit with its code.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use kubectl_mesh::cmd::Cli;
use kubectl_mesh::error::{exit, MeshError};
use kubectl_mesh::output::report_error;

fn main() -> ExitCode {
    // kube-rs with rustls: pick ring explicitly so no other crate's provider choice can make rustls panic.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__complete") {
        // Hidden entry point for kubectl_complete-mesh; kept out of clap so it never appears in help.
        return run_async(kubectl_mesh::cmd::completion::complete(args[2..].to_vec()));
    }
    let cli = match Cli::parse_from_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    run_async(kubectl_mesh::cmd::run(cli))
}

fn run_async(work: impl std::future::Future<Output = Result<u8, MeshError>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(&MeshError::io("starting the async runtime", e)),
    };
    match runtime.block_on(work) {
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
    ExitCode::from(report_error(e))
}
