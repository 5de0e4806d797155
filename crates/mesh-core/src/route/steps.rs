//! Progressive shift: `shift reviews v3=100 --step 25` walks from the current split to the target in steps of at
//! most 25 percentage points on the backend that moves most (Flagger's `stepWeight`), every other backend moving
//! in proportion, so backends that were not named keep their mutual proportions at each step. The last step is
//! exactly what a plain `shift` from the start would write.
//!
//! Each step is written on its own ([`plan_split`]) from a fresh read, with the readiness checks of shift, and only
//! if the route still holds the split the previous step left: a change by anyone else in between stops the walk
//! without writing over it.

use serde::Serialize;
use serde_json::Value;

use super::history::last_spec_change;
use super::shift::{largest_remainder, same_split, shares};
use super::{
    backend_key, backend_weight, check_backend_refs, check_gitops, parent_service, plan_shift, route_name,
    select_route, BackendShare, PlanError, RouteEdit, RouteKind, RouteSnapshot, ShiftPlan, ShiftRequest,
};

/// One step: each backend's percent (in [`Steps::backends`] order, 0 included) and the backendRefs to write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub step: usize,
    pub percents: Vec<u64>,
    #[serde(skip)]
    pub refs: Vec<Value>,
}

/// The walk from the current split to the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Steps {
    pub kind: RouteKind,
    pub route_name: String,
    /// Backend names: the current default rule's, then the new ones.
    pub backends: Vec<String>,
    /// Step 0: the current split in percents, and its backendRefs as they are.
    pub start: Step,
    /// Steps 1..=n.
    pub steps: Vec<Step>,
    /// What a plain shift would do (its `before` is the start, its `after` the end).
    pub last: ShiftPlan,
}

impl Steps {
    /// Nothing to do: the route already holds the target split.
    pub fn noop(&self) -> bool {
        self.last.edit.noop
    }

    /// `{"steps":[{"step":0,"backends":[{"service","weight"}]},…]}` (`--dry-run=client -o json`).
    pub fn document(&self) -> Value {
        let one = |s: &Step| {
            let backends: Vec<Value> = self
                .backends
                .iter()
                .zip(&s.percents)
                .filter(|(_, p)| **p > 0)
                .map(|(b, p)| serde_json::json!({"service": b, "weight": p}))
                .collect();
            serde_json::json!({"step": s.step, "backends": backends})
        };
        let steps: Vec<Value> = std::iter::once(&self.start).chain(&self.steps).map(one).collect();
        serde_json::json!({"steps": steps})
    }
}

fn default_refs(route: &Value) -> Vec<Value> {
    super::default_rule_index(route)
        .and_then(|i| route.pointer(&format!("/spec/rules/{i}/backendRefs")))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter(|r| r.is_object()).cloned().collect())
        .unwrap_or_default()
}

/// The refs of a split: a current ref (with its fields) or the target's ref per backend, weight set, zeros left out.
fn refs_for(backends: &[String], percents: &[u64], start: &[Value], last: &[Value], ns: &str) -> Vec<Value> {
    backends
        .iter()
        .zip(percents)
        .filter(|(_, p)| **p > 0)
        .filter_map(|(b, p)| {
            let template = start.iter().chain(last).find(|r| backend_key(r, ns) == *b)?;
            let mut r = template.clone();
            r["weight"] = Value::from(*p);
            Some(r)
        })
        .collect()
}

/// Plan the walk of `shift … --step STEP` from the route as it is (every check of [`plan_shift`] applies to the
/// target). Refused when there is no current split to start from.
pub fn plan_steps(snap: &RouteSnapshot, req: &ShiftRequest, step: u32) -> Result<Steps, PlanError> {
    let last = plan_shift(snap, req)?;
    let ns = &snap.state.namespace;
    let (kind, existing) = select_route(snap, req.kind, req.route_name.as_deref(), true, &mut Vec::new())?;
    let Some(route) = existing.filter(|r| super::default_rule_index(r).is_some()) else {
        return Err(PlanError::StepsNeedSplit {
            service: snap.service.clone(),
            route_exists: existing.is_some(),
        });
    };
    let start_refs = default_refs(route);
    let last_refs = default_refs(&last.edit.route);
    let mut backends: Vec<String> = Vec::new();
    for r in start_refs.iter().chain(&last_refs) {
        let k = backend_key(r, ns);
        if !backends.contains(&k) {
            backends.push(k);
        }
    }
    let weight_of = |refs: &[Value], b: &str| -> u64 {
        refs.iter()
            .filter(|r| backend_key(r, ns) == b)
            .map(backend_weight)
            .sum()
    };
    let current: Vec<u64> = largest_remainder(
        100,
        &backends.iter().map(|b| weight_of(&start_refs, b)).collect::<Vec<_>>(),
    );
    let target: Vec<u64> = largest_remainder(
        100,
        &backends.iter().map(|b| weight_of(&last_refs, b)).collect::<Vec<_>>(),
    );
    let start = Step {
        step: 0,
        percents: current.clone(),
        refs: start_refs.clone(),
    };
    let mut steps = Vec::new();
    if !last.edit.noop {
        let delta: Vec<i64> = current
            .iter()
            .zip(&target)
            .map(|(c, t)| *t as i64 - *c as i64)
            .collect();
        let lead = delta.iter().map(|d| d.unsigned_abs()).max().unwrap_or(0);
        let n = lead.div_ceil(u64::from(step.max(1))).max(1) as usize;
        for k in 1..n {
            let x = (k as i64) * i64::from(step);
            let numerators: Vec<u64> = current
                .iter()
                .zip(&delta)
                .map(|(c, d)| (*c as i64 * lead as i64 + d * x).max(0) as u64)
                .collect();
            let percents = largest_remainder(100, &numerators);
            let refs = refs_for(&backends, &percents, &start_refs, &last_refs, ns);
            steps.push(Step {
                step: k,
                percents,
                refs,
            });
        }
        steps.push(Step {
            step: n,
            percents: target,
            refs: last_refs,
        });
    }
    Ok(Steps {
        kind,
        route_name: route_name(route).to_string(),
        backends,
        start,
        steps,
        last,
    })
}

/// One write of a progressive shift (or its revert): the default rule's backendRefs from `expect` to `target`.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitRequest {
    pub service: String,
    pub kind: RouteKind,
    pub route_name: String,
    /// The split the route must hold now (what the previous step left); anything else stops the walk.
    pub expect: Vec<Value>,
    /// The backendRefs to write (kept fields of live refs with the same backend).
    pub target: Vec<Value>,
    /// `--force`: no readiness check, controller and GitOps markers overridden.
    pub force: bool,
    /// A revert to a split that served moments ago: readiness is not enforced (existence still is).
    pub skip_ready: bool,
    /// The step the route should be at (for the error message).
    pub at_step: usize,
}

/// What one step writes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitPlan {
    #[serde(flatten)]
    pub edit: RouteEdit,
    pub before: Vec<BackendShare>,
    pub after: Vec<BackendShare>,
}

impl AsRef<RouteEdit> for SplitPlan {
    fn as_ref(&self) -> &RouteEdit {
        &self.edit
    }
}

impl AsMut<RouteEdit> for SplitPlan {
    fn as_mut(&mut self) -> &mut RouteEdit {
        &mut self.edit
    }
}

/// Plan one step from a fresh snapshot.
pub fn plan_split(snap: &RouteSnapshot, req: &SplitRequest) -> Result<SplitPlan, PlanError> {
    let state = &snap.state;
    parent_service(snap, RouteKind::Http)?;
    let (kind, existing) = select_route(snap, Some(req.kind), Some(&req.route_name), req.force, &mut Vec::new())?;
    let route = existing.ok_or_else(|| PlanError::RouteNotFound {
        kind,
        route: req.route_name.clone(),
        namespace: state.namespace.clone(),
    })?;
    let changed = || PlanError::ChangedDuringSteps {
        kind,
        route: req.route_name.clone(),
        by: last_spec_change(route).0,
        step: req.at_step,
    };
    let Some(i) = super::default_rule_index(route) else {
        return Err(changed());
    };
    let live = default_refs(route);
    if !same_split(&live, &req.expect, &state.namespace) {
        return Err(changed());
    }
    // Every backend that receives traffic must exist; the ones that gain traffic must also have ready endpoints
    // (a backend losing traffic may be the very reason to move on).
    let share = |refs: &[Value], key: &str| -> (u64, u64) {
        let total: u64 = refs.iter().map(backend_weight).sum();
        let mine: u64 = refs
            .iter()
            .filter(|r| backend_key(r, &state.namespace) == key)
            .map(backend_weight)
            .sum();
        (mine, total)
    };
    let (gaining, other): (Vec<Value>, Vec<Value>) = req.target.iter().cloned().partition(|t| {
        let key = backend_key(t, &state.namespace);
        let (t_w, t_total) = share(&req.target, &key);
        let (l_w, l_total) = share(&live, &key);
        u128::from(t_w) * u128::from(l_total.max(1)) > u128::from(l_w) * u128::from(t_total.max(1))
    });
    check_backend_refs(snap, &gaining, req.force || req.skip_ready)?;
    check_backend_refs(snap, &other, true)?;
    let refs: Vec<Value> = req
        .target
        .iter()
        .map(|t| {
            let key = backend_key(t, &state.namespace);
            match live.iter().find(|l| backend_key(l, &state.namespace) == key) {
                Some(l) => {
                    let mut r = l.clone();
                    r["weight"] = t.get("weight").cloned().unwrap_or(Value::from(1));
                    r
                }
                None => t.clone(),
            }
        })
        .collect();
    let noop = same_split(&live, &refs, &state.namespace);
    let warnings = if noop {
        Vec::new()
    } else {
        check_gitops(Some(route), kind, req.force, false)?
    };
    let mut new_route = route.clone();
    if !noop {
        new_route["spec"]["rules"][i]["backendRefs"] = Value::Array(refs.clone());
    }
    Ok(SplitPlan {
        edit: RouteEdit {
            namespace: state.namespace.clone(),
            kind,
            route_name: req.route_name.clone(),
            create: false,
            route: new_route,
            services_to_create: Vec::new(),
            noop,
            warnings,
        },
        before: shares(state, &snap.service, &live),
        after: shares(state, &snap.service, &refs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::testutil::*;

    fn steps_of(start: &[(&str, u64)], req: &[&str], step: u32) -> Vec<Vec<(String, u64)>> {
        let snap = bookinfo(vec![route_split(start)], true);
        let args: Vec<String> = req.iter().map(|s| s.to_string()).collect();
        let plan = plan_steps(&snap, &ShiftRequest::new("reviews", &args).unwrap(), step).unwrap();
        plan.steps
            .iter()
            .map(|s| {
                plan.backends
                    .iter()
                    .zip(&s.percents)
                    .filter(|(_, p)| **p > 0)
                    .map(|(b, p)| (b.trim_start_matches("reviews-").to_string(), *p))
                    .collect()
            })
            .collect()
    }

    fn p(list: &[&[(&str, u64)]]) -> Vec<Vec<(String, u64)>> {
        list.iter()
            .map(|s| s.iter().map(|(b, w)| (b.to_string(), *w)).collect())
            .collect()
    }

    #[test]
    fn the_worked_examples_of_the_design() {
        let v1 = ("reviews-v1", 100);
        assert_eq!(
            steps_of(&[v1], &["v3=100"], 25),
            p(&[
                &[("v1", 75), ("v3", 25)],
                &[("v1", 50), ("v3", 50)],
                &[("v1", 25), ("v3", 75)],
                &[("v3", 100)]
            ])
        );
        assert_eq!(
            steps_of(&[("reviews-v1", 50), ("reviews-v2", 50)], &["v3=100"], 25),
            p(&[
                &[("v1", 38), ("v2", 37), ("v3", 25)],
                &[("v1", 25), ("v2", 25), ("v3", 50)],
                &[("v1", 13), ("v2", 12), ("v3", 75)],
                &[("v3", 100)]
            ])
        );
        assert_eq!(
            steps_of(&[("reviews-v1", 90), ("reviews-v3", 10)], &["v3=100"], 25),
            p(&[
                &[("v1", 65), ("v3", 35)],
                &[("v1", 40), ("v3", 60)],
                &[("v1", 15), ("v3", 85)],
                &[("v3", 100)]
            ])
        );
        assert_eq!(
            steps_of(&[("reviews-v1", 1), ("reviews-v2", 2)], &["v3=50"], 25),
            p(&[
                &[("v1", 25), ("v2", 50), ("v3", 25)],
                &[("v1", 17), ("v2", 33), ("v3", 50)]
            ])
        );
        assert_eq!(
            steps_of(&[v1], &["v2=50", "v3=50"], 25),
            p(&[
                &[("v1", 75), ("v2", 13), ("v3", 12)],
                &[("v1", 50), ("v2", 25), ("v3", 25)],
                &[("v1", 25), ("v2", 38), ("v3", 37)],
                &[("v2", 50), ("v3", 50)]
            ])
        );
        assert_eq!(
            steps_of(&[("reviews-v1", 20), ("reviews-v3", 80)], &["v3=0"], 25),
            p(&[
                &[("v1", 45), ("v3", 55)],
                &[("v1", 70), ("v3", 30)],
                &[("v1", 95), ("v3", 5)],
                &[("v1", 100)]
            ])
        );
        assert_eq!(
            steps_of(&[v1], &["v3=100"], 30),
            p(&[
                &[("v1", 70), ("v3", 30)],
                &[("v1", 40), ("v3", 60)],
                &[("v1", 10), ("v3", 90)],
                &[("v3", 100)]
            ])
        );
    }

    #[test]
    fn every_step_sums_to_100_and_the_last_is_a_plain_shift() {
        for step in [1, 7, 25, 33, 50, 99, 100] {
            let snap = bookinfo(vec![route_split(&[("reviews-v1", 3), ("reviews-v2", 7)])], true);
            let req = ShiftRequest::new("reviews", &["v3=60".into()]).unwrap();
            let plan = plan_steps(&snap, &req, step).unwrap();
            for s in &plan.steps {
                assert_eq!(s.percents.iter().sum::<u64>(), 100, "step {step}: {s:?}");
            }
            let last = plan.steps.last().unwrap();
            let shift = plan_shift(&snap, &req).unwrap();
            let i = crate::route::default_rule_index(&shift.edit.route).unwrap();
            assert_eq!(
                Value::Array(last.refs.clone()),
                shift.edit.route["spec"]["rules"][i]["backendRefs"]
            );
            if step >= 60 {
                assert_eq!(plan.steps.len(), 1, "step {step}");
            }
        }
    }

    #[test]
    fn no_route_or_no_split_to_start_from_is_refused() {
        let snap = bookinfo(vec![], true);
        let req = ShiftRequest::new("reviews", &["v3=100".into()]).unwrap();
        assert!(matches!(
            plan_steps(&snap, &req, 25),
            Err(PlanError::StepsNeedSplit {
                route_exists: false,
                ..
            })
        ));
        let snap = bookinfo(vec![route_split(&[("reviews-v3", 100)])], true);
        assert!(plan_steps(&snap, &req, 25).unwrap().noop());
    }

    #[test]
    fn a_step_refuses_a_route_changed_since_the_previous_one() {
        let route = route_split(&[("reviews-v1", 70), ("reviews-v3", 30)]);
        let snap = bookinfo(vec![route], true);
        let req = SplitRequest {
            service: "reviews".into(),
            kind: RouteKind::Http,
            route_name: "reviews".into(),
            expect: vec![
                serde_json::json!({"name": "reviews-v1", "weight": 75}),
                serde_json::json!({"name": "reviews-v3", "weight": 25}),
            ],
            target: vec![
                serde_json::json!({"name": "reviews-v1", "port": 9080, "weight": 50}),
                serde_json::json!({"name": "reviews-v3", "port": 9080, "weight": 50}),
            ],
            force: false,
            skip_ready: false,
            at_step: 1,
        };
        assert!(matches!(
            plan_split(&snap, &req),
            Err(PlanError::ChangedDuringSteps { step: 1, .. })
        ));
        let mut ok = req.clone();
        ok.expect = vec![
            serde_json::json!({"name": "reviews-v1", "weight": 7}),
            serde_json::json!({"name": "reviews-v3", "weight": 3}),
        ];
        let plan = plan_split(&snap, &ok).unwrap();
        // The live refs keep their fields (group, kind); only the weights change.
        assert_eq!(
            plan.edit.route["spec"]["rules"][0]["backendRefs"][0],
            serde_json::json!({"group": "", "kind": "Service", "name": "reviews-v1", "port": 9080, "weight": 50})
        );
        let mut unready = bookinfo(vec![route_split(&[("reviews-v1", 70), ("reviews-v3", 30)])], true);
        unready.state.ready_endpoints.insert("reviews-v3".into(), 0);
        assert!(matches!(
            plan_split(&unready, &ok),
            Err(PlanError::BackendUnready { .. })
        ));
        let mut revert = ok.clone();
        revert.skip_ready = true;
        assert!(plan_split(&unready, &revert).is_ok());
        // A backend losing traffic may be unready (moving away from it is the point); it must still exist.
        let mut losing = bookinfo(vec![route_split(&[("reviews-v1", 70), ("reviews-v3", 30)])], true);
        losing.state.ready_endpoints.insert("reviews-v1".into(), 0);
        assert!(plan_split(&losing, &ok).is_ok());
        losing.state.services.retain(|s| s.name != "reviews-v1");
        assert!(matches!(
            plan_split(&losing, &ok),
            Err(PlanError::BackendMissing { .. })
        ));
    }
}
