//! `--emit-patch`: the change a command would make, as a JSON merge patch (RFC 7396) to commit to the repository a
//! GitOps tool syncs from. Applied to the live route (`kubectl patch --type merge`), it gives exactly the route the
//! command would have written, traffic change only: fields the server owns and the history annotation are left
//! out. Arrays cannot be patched in part (RFC 7396 §2: "it is not possible to patch part of a target that is not
//! an object"), so a change to one weight carries the whole `spec.rules`.

use serde_json::{Map, Value};

use super::HISTORY_ANNOTATION;

/// The merge patch that turns `a` into `b`: per object key, removed → `null`, equal → left out, both objects →
/// recurse, else `b`'s value. (`b` must not hold `null`s of its own: the API server never returns them.)
pub fn merge_diff(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let mut out = Map::new();
            for k in a.keys() {
                if !b.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            for (k, bv) in b {
                match a.get(k) {
                    Some(av) if av == bv => {}
                    Some(av @ Value::Object(_)) if bv.is_object() => {
                        out.insert(k.clone(), merge_diff(av, bv));
                    }
                    _ => {
                        out.insert(k.clone(), bv.clone());
                    }
                }
            }
            Value::Object(out)
        }
        _ => b.clone(),
    }
}

/// RFC 7396 MergePatch(target, patch).
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            out.shift_remove(k);
        } else {
            let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// A route without what the server owns (status, uid, resourceVersion, generation, managedFields,
/// creationTimestamp): what a repository holds.
pub fn without_server_fields(route: &Value) -> Value {
    let mut r = route.clone();
    if let Some(o) = r.as_object_mut() {
        o.shift_remove("status");
    }
    if let Some(m) = r.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "resourceVersion",
            "generation",
            "managedFields",
            "uid",
            "creationTimestamp",
        ] {
            m.shift_remove(k);
        }
    }
    r
}

/// The patch from the live route to the planned one: the traffic change only (the history annotation is taken as
/// it is live, so it never appears).
pub fn emit_patch(live: &Value, planned: &Value) -> Value {
    let live = without_server_fields(live);
    let mut planned = without_server_fields(planned);
    let history = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(HISTORY_ANNOTATION))
        .cloned();
    if let Some(a) = planned
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.shift_remove(HISTORY_ANNOTATION);
        if let Some(h) = history {
            a.insert(HISTORY_ANNOTATION.to_string(), h);
        }
    }
    merge_diff(&live, &planned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn applying_the_diff_gives_the_target() {
        let pairs = [
            (
                json!({"a": 1, "b": {"c": [1, 2], "d": "x"}}),
                json!({"a": 1, "b": {"c": [1, 3]}}),
            ),
            (
                json!({"spec": {"rules": [{"x": 1}]}}),
                json!({"spec": {"rules": [{"x": 1}, {"y": 2}]}, "z": {}}),
            ),
            (json!({"a": {"b": {"c": 1}}}), json!({"a": 5})),
            (json!({"a": 5}), json!({"a": {"b": {"c": 1}}})),
            (json!({}), json!({})),
        ];
        for (a, b) in pairs {
            let d = merge_diff(&a, &b);
            assert_eq!(merge_patch(&a, &d), b, "{a} -> {b} via {d}");
        }
    }

    #[test]
    fn a_weight_change_ships_the_whole_rules_array() {
        let live = json!({"metadata": {"name": "r", "resourceVersion": "9", "annotations": {HISTORY_ANNOTATION: "{}"}},
            "spec": {"parentRefs": [{"name": "reviews"}], "rules": [{"backendRefs": [{"name": "v1", "weight": 100}]}]},
            "status": {"parents": []}});
        let mut planned = live.clone();
        planned["spec"]["rules"][0]["backendRefs"][0]["weight"] = json!(50);
        planned["metadata"]["annotations"][HISTORY_ANNOTATION] = json!("{\"new\":1}");
        let patch = emit_patch(&live, &planned);
        assert_eq!(
            patch,
            json!({"spec": {"rules": [{"backendRefs": [{"name": "v1", "weight": 50}]}]}})
        );
    }
}
