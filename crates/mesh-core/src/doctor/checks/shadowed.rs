//! `route-rule-shadowed`: a mesh route rule that never gets a request because every one of its matches has the
//! same conditions as a match that wins the tie before it.
//!
//! Gateway API precedence ([`crate::route::precedence`]) ranks the more specific match first, so a more general
//! match can never hide a more specific one; only a match with the *same* conditions can, and ties go to the
//! older route, then `{namespace}/{name}`, then "the FIRST matching rule (in list order)". Typical causes: a
//! second catch-all rule appended after the first, or a user rule written twice.

use std::collections::BTreeMap;

use super::routing::{route_ref, routes};
use super::{need, plural};
use crate::doctor::finding::{Category, Finding};
use crate::doctor::model::{HttpRoute, Snapshot};
use crate::doctor::raw::{Kind, Unavailable};

const CAT: Category = Category::Routing;

/// The tie order of routes: oldest first (a route from a file, not yet created, is the newest), then
/// `{namespace}/{name}`.
fn tie_key(r: &HttpRoute) -> (bool, Option<jiff::Timestamp>, String) {
    (r.created.is_none(), r.created, format!("{}/{}", r.namespace, r.name))
}

/// A route attached to a mesh parent, with the parentRef's port (if any).
type Attached<'a> = (&'a HttpRoute, Option<i64>);

pub(super) fn route_rule_shadowed(s: &Snapshot) -> Vec<Finding> {
    const ID: &str = "route-rule-shadowed";
    let routes = routes!(s, ID);
    // Mesh parents: (namespace, Service) → routes attached (with the parentRef's port, if any).
    let mut by_parent: BTreeMap<(&str, &str), Vec<Attached>> = BTreeMap::new();
    for route in routes {
        for p in route
            .parents
            .iter()
            .filter(|p| p.is_service() && p.namespace == route.namespace)
        {
            by_parent
                .entry((p.namespace.as_str(), p.name.as_str()))
                .or_default()
                .push((route, p.port));
        }
    }
    let mut out = Vec::new();
    let mut checked = 0usize;
    for ((ns, service), mut attached) in by_parent {
        attached.sort_by_key(|(r, _)| tie_key(r));
        attached.dedup_by(|a, b| std::ptr::eq(a.0, b.0) && a.1 == b.1);
        for (pos, (route, port)) in attached.iter().enumerate() {
            for (ri, rule) in route.rules.iter().enumerate() {
                checked += 1;
                // Who wins the tie for each of this rule's matches, if anyone does.
                let mut winners: Vec<String> = Vec::new();
                for m in &rule.matches {
                    let cond = m.normalised();
                    let earlier = attached[..=pos].iter().find_map(|(other, other_port)| {
                        // An earlier route applies to this rule's port if it names no port or the same one.
                        let same_route = std::ptr::eq(*other, *route);
                        if !same_route && other_port.is_some() && other_port != port {
                            return None;
                        }
                        let limit = if same_route { ri } else { other.rules.len() };
                        other.rules[..limit].iter().enumerate().find_map(|(oi, o)| {
                            o.matches.iter().any(|om| om.normalised() == cond).then(|| {
                                if same_route {
                                    format!("rules[{oi}]")
                                } else {
                                    format!("HTTPRoute {}/{} rules[{oi}]", other.namespace, other.name)
                                }
                            })
                        })
                    });
                    match earlier {
                        Some(w) => winners.push(w),
                        None => break,
                    }
                }
                if rule.matches.is_empty() || winners.len() < rule.matches.len() {
                    continue;
                }
                winners.dedup();
                let label = match &rule.name {
                    Some(n) => format!("rule {n:?} (rules[{ri}])"),
                    None => format!("rules[{ri}]"),
                };
                let conditions: Vec<String> = rule.matches.iter().map(|m| m.describe()).collect();
                let mut resources = vec![route_ref(route)];
                for (other, _) in &attached[..pos] {
                    if winners
                        .iter()
                        .any(|w| w.contains(&format!("{}/{} ", other.namespace, other.name)))
                    {
                        resources.push(route_ref(other));
                    }
                }
                out.push(
                    Finding::warning(
                        ID,
                        CAT,
                        format!(
                            "HTTPRoute {}/{} {label} for Service {ns}/{service} never gets a request: {} already match{} {} and win{} the tie (earlier in precedence order)",
                            route.namespace,
                            route.name,
                            winners.join(", "),
                            if winners.len() == 1 { "es" } else { "" },
                            conditions.join(" or "),
                            if winners.len() == 1 { "s" } else { "" },
                        ),
                    )
                    .with_hint(format!(
                        "remove the rule or merge its backends into the earlier one; see where a request goes with: kubectl mesh explain {service} -n {ns}"
                    ))
                    .with_resources(resources),
                );
            }
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            ID,
            CAT,
            format!(
                "no mesh route rule is hidden by an earlier one ({} checked)",
                plural(checked, "rule")
            ),
        ));
    }
    out
}
