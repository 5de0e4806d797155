//! `kubectl mesh shift SERVICE VERSION=PERCENT...`: weighted traffic shifting on the Service's mesh HTTPRoute.

use clap::Args;

use crate::cli::{OutputArgs, WriteArgs};
use crate::cmd::Ctx;
use crate::error::{MeshError, Result};

#[derive(Debug, Clone, Args)]
pub struct ShiftArgs {
    /// The Service whose traffic to shift (the parentRef of its mesh HTTPRoute)
    #[arg(value_name = "SERVICE")]
    pub service: String,

    /// Target split, e.g. v1=90 v3=10; a sum below 100 keeps the other backends' proportions for the rest
    #[arg(value_name = "VERSION=PERCENT", required = true, num_args = 1..)]
    pub weights: Vec<String>,

    /// The HTTPRoute to edit when several target the Service
    #[arg(long, value_name = "NAME")]
    pub route: Option<String>,

    /// Proceed even when a backend has no ready endpoints or the route is owned by a controller
    #[arg(long)]
    pub force: bool,

    /// Create missing per-version Services (SERVICE-VERSION) from the pods' app/version labels
    #[arg(long = "create-backends")]
    pub create_backends: bool,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub write: WriteArgs,
}

pub async fn run(_ctx: Ctx, _args: ShiftArgs) -> Result<u8> {
    Err(MeshError::NotImplemented { command: "shift" })
}
