//! `kubectl mesh status`: where traffic goes now, per mesh route.

use clap::Args;

use crate::cli::{AllNamespacesArg, OutputArgs};
use crate::cmd::Ctx;
use crate::error::{MeshError, Result};

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Only the routes of this Service
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,

    #[command(flatten)]
    pub all: AllNamespacesArg,

    #[command(flatten)]
    pub output: OutputArgs,
}

pub async fn run(_ctx: Ctx, _args: StatusArgs) -> Result<u8> {
    Err(MeshError::NotImplemented { command: "status" })
}
