//! Every write kubectl-mesh makes: route writes with optimistic concurrency ([`route`]) and recover's restarts,
//! evictions, permission checks and rollout following ([`recover`]). Nothing else in the workspace writes.

pub mod recover;
pub mod route;
