//! `kubectl mesh doctor`: read the cluster once, run pure checks, report findings like `linkerd check`.

use clap::Args;

use crate::cli::{AllNamespacesArg, OutputArgs};
use crate::cmd::Ctx;
use crate::error::{MeshError, Result};

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub all: AllNamespacesArg,

    /// Only run these checks (ids from --list-checks)
    #[arg(long = "check", value_name = "ID")]
    pub checks: Vec<String>,

    /// List the checks and exit
    #[arg(long = "list-checks")]
    pub list_checks: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

pub async fn run(_ctx: Ctx, _args: DoctorArgs) -> Result<u8> {
    Err(MeshError::NotImplemented { command: "doctor" })
}
