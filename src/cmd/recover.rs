//! `kubectl mesh recover`: restart exactly the workloads doctor found broken, safely.

use std::time::Duration;

use clap::Args;

use crate::cli::{timeout_arg_parser, AllNamespacesArg, OutputArgs, WriteArgs};
use crate::cmd::Ctx;
use crate::error::{MeshError, Result};

#[derive(Debug, Clone, Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub all: AllNamespacesArg,

    /// Do not ask for confirmation (required when stdin or stderr is not a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Wait for each restarted workload's rollout, then check again
    #[arg(long)]
    pub wait: bool,

    /// How long to wait for rollouts and for evictions blocked by a PodDisruptionBudget
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = timeout_arg_parser)]
    pub timeout: Duration,

    /// How many restarts or evictions run at once
    #[arg(long = "max-parallel", value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_parallel: u16,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub write: WriteArgs,
}

pub async fn run(_ctx: Ctx, _args: RecoverArgs) -> Result<u8> {
    Err(MeshError::NotImplemented { command: "recover" })
}
