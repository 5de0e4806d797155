//! `kubectl mesh recover`, the pure half: which workloads to restart and which pods to evict
//! ([`plan`]), and when a rollout is done by kubectl's rules ([`rollout`]). Executing the plan is
//! `mesh_kube::apply::recover`'s job.

pub mod plan;
pub mod rollout;

pub use plan::{
    plan_recover, render_plan_table, render_results, required_permissions, Action, ActionResult, ActionStatus,
    Permission, RecoverPlan, Target,
};
pub use rollout::{rollout_status, Rollout};
