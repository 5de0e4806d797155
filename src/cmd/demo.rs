//! `kubectl mesh demo`: a sandbox API server with Bookinfo, and a guided tour of the plugin against it.

use clap::Args;

use crate::cmd::Ctx;
use crate::error::{MeshError, Result};

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Keep the sandbox API server running until Ctrl-C (use it from another shell with the printed kubeconfig)
    #[arg(long)]
    pub serve: bool,
}

pub async fn run(_ctx: Ctx, _args: DemoArgs) -> Result<u8> {
    Err(MeshError::NotImplemented { command: "demo" })
}
