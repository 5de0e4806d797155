//! The patch formats the API server accepts: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a
//! strategic merge patch good enough for built-in kinds (lists of containers, volumes, ports, env and
//! conditions merge by key; `$patch: delete`/`replace` directives; kubectl's `$setElementOrder` ignored).

use serde_json::{Map, Value};

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// An RFC 6902 failure, with the message the API server would report.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPatchError(pub String);

fn unescape(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<Vec<String>, JsonPatchError> {
    if path.is_empty() {
        return Ok(vec![]);
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| JsonPatchError(format!("invalid JSON pointer: {path:?}")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(doc: &'a mut Value, segs: &[String], path: &str) -> Result<&'a mut Value, JsonPatchError> {
    let mut cur = doc;
    for s in segs {
        cur = match cur {
            Value::Object(m) => m.get_mut(s),
            Value::Array(a) => s.parse::<usize>().ok().and_then(move |i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| JsonPatchError(format!("doc is missing path: \"{path}\": missing value")))?;
    }
    Ok(cur)
}

fn get_at<'a>(doc: &'a Value, path: &str) -> Result<&'a Value, JsonPatchError> {
    doc.pointer(path)
        .ok_or_else(|| JsonPatchError(format!("doc is missing path: \"{path}\": missing value")))
}

fn remove_at(doc: &mut Value, path: &str) -> Result<Value, JsonPatchError> {
    let segs = split_pointer(path)?;
    let Some((last, parents)) = segs.split_last() else {
        return Ok(std::mem::take(doc));
    };
    let parent = parent_mut(doc, parents, path)?;
    let missing = || JsonPatchError(format!("doc is missing path: \"{path}\": missing value"));
    match parent {
        Value::Object(m) => m.shift_remove(last).ok_or_else(missing),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing())?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(missing())
            }
        }
        _ => Err(missing()),
    }
}

fn add_at(doc: &mut Value, path: &str, value: Value) -> Result<(), JsonPatchError> {
    let segs = split_pointer(path)?;
    let Some((last, parents)) = segs.split_last() else {
        *doc = value;
        return Ok(());
    };
    let parent = parent_mut(doc, parents, path)?;
    match parent {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
                return Ok(());
            }
            match last.parse::<usize>() {
                Ok(i) if i <= a.len() => {
                    a.insert(i, value);
                    Ok(())
                }
                _ => Err(JsonPatchError(format!(
                    "add operation does not apply: doc is missing path: \"{path}\": missing value"
                ))),
            }
        }
        _ => Err(JsonPatchError(format!(
            "doc is missing path: \"{path}\": missing value"
        ))),
    }
}

/// Apply an RFC 6902 JSON patch (`add`, `remove`, `replace`, `move`, `copy`, `test`).
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), JsonPatchError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| JsonPatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch".into()))?;
    for op in ops {
        let kind = op["op"].as_str().unwrap_or_default();
        let path = op["path"]
            .as_str()
            .ok_or_else(|| JsonPatchError(format!("operation missing path: {op}")))?;
        match kind {
            "add" => add_at(doc, path, op["value"].clone())?,
            "remove" => {
                remove_at(doc, path)?;
            }
            "replace" => {
                remove_at(doc, path).map_err(|_| {
                    JsonPatchError(format!(
                        "replace operation does not apply: doc is missing key: {path}: missing value"
                    ))
                })?;
                add_at(doc, path, op["value"].clone())?;
            }
            "move" => {
                let from = op["from"].as_str().unwrap_or_default();
                let v = remove_at(doc, from)?;
                add_at(doc, path, v)?;
            }
            "copy" => {
                let from = op["from"].as_str().unwrap_or_default();
                let v = get_at(doc, from)?.clone();
                add_at(doc, path, v)?;
            }
            "test" => {
                let have = get_at(doc, path)?;
                if *have != op["value"] {
                    return Err(JsonPatchError(format!("testing value {path} failed: test failed")));
                }
            }
            other => return Err(JsonPatchError(format!("Unexpected kind: {other}"))),
        }
    }
    Ok(())
}

/// The merge key of a list field under strategic merge, if it merges by key.
fn merge_key(field: &str, sample: &Value) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "containerStatuses"
        | "initContainerStatuses"
        | "hostAliases" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" => Some("type"),
        "ports" if sample.get("containerPort").is_some() => Some("containerPort"),
        "ports" => Some("port"),
        "ownerReferences" => Some("uid"),
        _ => None,
    }
}

/// Strategic merge patch for built-in kinds.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut clean = p.clone();
        clean.remove("$patch");
        *target = Value::Object(clean);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.shift_remove(k);
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(Value::Array(cur)), Value::Array(items)) => {
                let sample = items.iter().chain(cur.iter()).find(|i| i.is_object());
                match sample.and_then(|s| merge_key(k, s)) {
                    Some(key) => merge_list(cur, items, key),
                    None => *cur = items.iter().filter(|i| i.get("$patch").is_none()).cloned().collect(),
                }
            }
            (Some(cur @ Value::Object(_)), Value::Object(_)) => strategic_merge(cur, v),
            _ => {
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, v);
                if !v.is_object() {
                    fresh = strip_directives(v);
                }
                t.insert(k.clone(), fresh);
            }
        }
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("delete"))
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge_list(cur: &mut Vec<Value>, items: &[Value], key: &str) {
    for item in items {
        let Some(id) = item.get(key) else {
            cur.push(strip_directives(item));
            continue;
        };
        let pos = cur.iter().position(|c| c.get(key) == Some(id));
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(i) = pos {
                cur.remove(i);
            }
            continue;
        }
        match pos {
            Some(i) => strategic_merge(&mut cur[i], item),
            None => cur.push(strip_directives(item)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_removes_nulls_and_replaces_lists() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut doc, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(doc, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn json_patch_test_op_guards_the_write() {
        let mut doc = json!({"metadata": {"resourceVersion": "5"}, "spec": {"rules": [{"x": 1}]}});
        let ops = json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "4"},
                         {"op": "replace", "path": "/spec/rules/0/x", "value": 2}]);
        assert!(json_patch(&mut doc, &ops).is_err());
        let ops = json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "5"},
                         {"op": "replace", "path": "/spec/rules/0/x", "value": 2},
                         {"op": "add", "path": "/spec/rules/-", "value": {"x": 3}}]);
        json_patch(&mut doc, &ops).unwrap();
        assert_eq!(doc["spec"]["rules"], json!([{"x": 2}, {"x": 3}]));
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut doc =
            json!({"spec": {"containers": [{"name": "app", "image": "a:1"}, {"name": "side", "image": "s:1"}]}});
        strategic_merge(
            &mut doc,
            &json!({"$setElementOrder/containers": [{"name": "app"}],
                    "spec": {"containers": [{"name": "app", "image": "a:2"}, {"name": "side", "$patch": "delete"}]}}),
        );
        assert_eq!(doc, json!({"spec": {"containers": [{"name": "app", "image": "a:2"}]}}));
    }
}
