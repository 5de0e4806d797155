//! The sandbox's built-in structural-schema hook: applies a CRD version's OpenAPI v3 schema to a custom
//! resource the way kube-apiserver does on every write — defaults, pruning of unknown fields (unless
//! `x-kubernetes-preserve-unknown-fields`), and validation (type, required, enum, pattern, min/max,
//! minItems/maxItems, minLength/maxLength) answered as 422 causes. CEL `x-kubernetes-validations` are not
//! evaluated. This is what makes `parentRefs[].port` vanish on a v1.0.0 Gateway API install.
//!
//! It has the [`SchemaHook`](super::store::SchemaHook) signature so a fuller engine can replace it.

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::registry::CrdVersion;
use super::status::Cause;

thread_local! {
    static PATTERNS: RefCell<HashMap<String, Option<regex::Regex>>> = RefCell::new(HashMap::new());
}

fn pattern_matches(pattern: &str, s: &str) -> bool {
    PATTERNS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let re = cache
            .entry(pattern.to_string())
            .or_insert_with(|| regex::Regex::new(pattern).ok());
        // A pattern we cannot compile is not enforced (Go RE2 and Rust regex differ at the edges).
        re.as_ref().is_none_or(|re| re.is_match(s))
    })
}

/// Default, prune and validate `obj` against the CRD version's schema.
pub fn apply_schema(crd: &CrdVersion, obj: &mut Value) -> Result<(), Vec<Cause>> {
    let Some(schema) = &crd.schema else {
        return Ok(());
    };
    let mut causes = Vec::new();
    let Some(root) = obj.as_object_mut() else {
        return Err(vec![Cause::new(
            "FieldValueTypeInvalid",
            "",
            "Invalid value: must be an object",
        )]);
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
    let keys: Vec<String> = root.keys().cloned().collect();
    for k in keys {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match props.and_then(|p| p.get(&k)) {
            Some(sub) => {
                if let Some(v) = root.get_mut(&k) {
                    walk(sub, v, &k, &mut causes);
                }
            }
            None if !preserve => {
                root.shift_remove(&k);
            }
            None => {}
        }
    }
    if let Some(props) = props {
        for (k, sub) in props {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") || root.contains_key(k) {
                continue;
            }
            if let Some(d) = sub.get("default") {
                let mut d = d.clone();
                walk(sub, &mut d, k, &mut causes);
                root.insert(k.clone(), d);
            }
        }
    }
    check_required(schema, root, "", &mut causes);
    if causes.is_empty() {
        Ok(())
    } else {
        Err(causes)
    }
}

fn check_required(schema: &Value, obj: &Map<String, Value>, path: &str, causes: &mut Vec<Cause>) {
    for r in schema["required"].as_array().map(Vec::as_slice).unwrap_or_default() {
        if let Some(r) = r.as_str() {
            if !obj.contains_key(r) {
                causes.push(Cause::new("FieldValueRequired", join(path, r), "Required value"));
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

fn type_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        _ => true,
    }
}

fn walk(schema: &Value, v: &mut Value, path: &str, causes: &mut Vec<Cause>) {
    if v.is_null() {
        if schema["nullable"] == true {
            return;
        }
        if let Some(d) = schema.get("default") {
            *v = d.clone();
        } else {
            return;
        }
    }
    if schema["x-kubernetes-int-or-string"] == true {
        if !(v.is_string() || v.is_i64() || v.is_u64()) {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                path,
                format!(
                    "Invalid value: {}: {path} in body must be of type int-or-string",
                    show(v)
                ),
            ));
        }
        return;
    }
    if let Some(ty) = schema["type"].as_str() {
        if !type_ok(ty, v) {
            let got = match v {
                Value::Object(_) => "object",
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "boolean",
                Value::Null => "null",
            };
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                path,
                format!("Invalid value: \"{got}\": {path} in body must be of type {ty}: \"{got}\""),
            ));
            return;
        }
    }
    match v {
        Value::Object(m) => walk_object(schema, m, path, causes),
        Value::Array(items) => {
            if let Some(max) = schema["maxItems"].as_u64() {
                if items.len() as u64 > max {
                    causes.push(Cause::new(
                        "FieldValueTooMany",
                        path,
                        format!("Too many: {}: must have at most {max} items", items.len()),
                    ));
                }
            }
            if let Some(min) = schema["minItems"].as_u64() {
                if (items.len() as u64) < min {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        path,
                        format!(
                            "Invalid value: {}: {path} in body should have at least {min} items",
                            items.len()
                        ),
                    ));
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), causes);
                }
            }
        }
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(max) = schema["maxLength"].as_u64() {
                if len > max {
                    causes.push(Cause::new(
                        "FieldValueTooLong",
                        path,
                        format!("Too long: may not be more than {max} bytes"),
                    ));
                }
            }
            if let Some(min) = schema["minLength"].as_u64() {
                if len < min {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        path,
                        format!("Invalid value: \"{s}\": {path} in body should be at least {min} chars long"),
                    ));
                }
            }
            if let Some(p) = schema["pattern"].as_str() {
                if !pattern_matches(p, s) {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        path,
                        format!("Invalid value: \"{s}\": {path} in body should match '{p}'"),
                    ));
                }
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(max) = schema["maximum"].as_f64() {
                if x > max {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        path,
                        format!(
                            "Invalid value: {n}: {path} in body should be less than or equal to {}",
                            schema["maximum"]
                        ),
                    ));
                }
            }
            if let Some(min) = schema["minimum"].as_f64() {
                if x < min {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        path,
                        format!(
                            "Invalid value: {n}: {path} in body should be greater than or equal to {}",
                            schema["minimum"]
                        ),
                    ));
                }
            }
        }
        _ => {}
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(v) {
            let list: Vec<String> = allowed.iter().map(show).collect();
            causes.push(Cause::new(
                "FieldValueNotSupported",
                path,
                format!("Unsupported value: {}: supported values: {}", show(v), list.join(", ")),
            ));
        }
    }
}

fn walk_object(schema: &Value, m: &mut Map<String, Value>, path: &str, causes: &mut Vec<Cause>) {
    let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
    let props = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    // Drop explicit nulls of non-nullable fields without defaults (as the decoder does).
    let keys: Vec<String> = m.keys().cloned().collect();
    for k in keys {
        let sub = props.and_then(|p| p.get(&k)).or(additional);
        match sub {
            Some(sub) => {
                let drop =
                    m.get(&k).is_some_and(Value::is_null) && sub["nullable"] != true && sub.get("default").is_none();
                if drop {
                    m.shift_remove(&k);
                } else if let Some(v) = m.get_mut(&k) {
                    walk(sub, v, &join(path, &k), causes);
                }
            }
            None if preserve => {}
            None => {
                m.shift_remove(&k);
            }
        }
    }
    if let Some(props) = props {
        for (k, sub) in props {
            if m.contains_key(k) {
                continue;
            }
            if let Some(d) = sub.get("default") {
                let mut d = d.clone();
                walk(sub, &mut d, &join(path, k), causes);
                m.insert(k.clone(), d);
            }
        }
    }
    if let Some(max) = schema["maxProperties"].as_u64() {
        if m.len() as u64 > max {
            causes.push(Cause::new(
                "FieldValueTooMany",
                path,
                format!("Too many: {}: must have at most {max} items", m.len()),
            ));
        }
    }
    check_required(schema, m, path, causes);
}

/// Defaults the Gateway API CRDs declare for HTTPRoute (used when a CRD is stored without a schema).
pub fn httproute_defaults(obj: &mut Value) {
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        return;
    }
    if spec["rules"].is_null() {
        spec["rules"] = json!([{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]);
    }
    if let Some(refs) = spec.get_mut("parentRefs").and_then(Value::as_array_mut) {
        for r in refs.iter_mut().filter(|r| r.is_object()) {
            if r["group"].is_null() {
                r["group"] = json!("gateway.networking.k8s.io");
            }
            if r["kind"].is_null() {
                r["kind"] = json!("Gateway");
            }
        }
    }
    if let Some(rules) = spec["rules"].as_array_mut() {
        for rule in rules.iter_mut().filter(|r| r.is_object()) {
            if rule["matches"].is_null() {
                rule["matches"] = json!([{"path": {"type": "PathPrefix", "value": "/"}}]);
            }
            if let Some(ms) = rule["matches"].as_array_mut() {
                for m in ms.iter_mut().filter(|m| m.is_object()) {
                    if m["path"].is_null() {
                        m["path"] = json!({"type": "PathPrefix", "value": "/"});
                    }
                    for hk in ["headers", "queryParams"] {
                        if let Some(hs) = m.get_mut(hk).and_then(Value::as_array_mut) {
                            for h in hs.iter_mut().filter(|h| h.is_object()) {
                                if h["type"].is_null() {
                                    h["type"] = json!("Exact");
                                }
                            }
                        }
                    }
                }
            }
            if let Some(brs) = rule.get_mut("backendRefs").and_then(Value::as_array_mut) {
                for b in brs.iter_mut().filter(|b| b.is_object()) {
                    if b["group"].is_null() {
                        b["group"] = json!("");
                    }
                    if b["kind"].is_null() {
                        b["kind"] = json!("Service");
                    }
                    if b["weight"].is_null() {
                        b["weight"] = json!(1);
                    }
                }
            }
        }
    }
}

/// The default hook: the structural schema when the CRD has one, else the HTTPRoute defaults.
pub fn default_hook(crd: &CrdVersion, obj: &mut Value) -> Result<(), Vec<Cause>> {
    if crd.schema.is_some() {
        apply_schema(crd, obj)
    } else {
        if crd.kind == "HTTPRoute" {
            httproute_defaults(obj);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(schema: Value) -> CrdVersion {
        CrdVersion {
            group: "example.com".into(),
            kind: "Thing".into(),
            plural: "things".into(),
            version: "v1".into(),
            schema: Some(schema),
            status_subresource: false,
            annotations: Default::default(),
        }
    }

    #[test]
    fn schema_defaults_prunes_and_validates() {
        let c = crd(
            json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "maxLength": 3},
            "mode": {"type": "string", "default": "A", "enum": ["A", "B"]},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}}),
        );
        let mut obj = json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "x"},
            "spec": {"name": "abc", "extra": 1, "free": {"any": {"thing": 1}}, "labels": {"a": "b"}}, "junk": true});
        apply_schema(&c, &mut obj).unwrap();
        assert_eq!(
            obj["spec"],
            json!({"name": "abc", "free": {"any": {"thing": 1}}, "labels": {"a": "b"}, "mode": "A"})
        );
        assert!(obj.get("junk").is_none());
        let mut bad = json!({"spec": {"name": "abcd", "mode": "C"}});
        let causes = apply_schema(&c, &mut bad).unwrap_err();
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.name", "spec.mode"]);
        let mut missing = json!({"spec": {}});
        let causes = apply_schema(&c, &mut missing).unwrap_err();
        assert_eq!(causes[0].reason, "FieldValueRequired");
    }

    #[test]
    fn httproute_defaults_tolerate_odd_shapes() {
        let mut obj = json!({"spec": {"rules": ["x", {"backendRefs": [1, {"name": "a"}]}], "parentRefs": [null]}});
        httproute_defaults(&mut obj);
        assert_eq!(obj["spec"]["rules"][1]["backendRefs"][1]["weight"], 1);
        assert_eq!(obj["spec"]["rules"][1]["matches"][0]["path"]["value"], "/");
        let mut plain = json!({"spec": {"rules": [{"matches": [{"path": {"type": "Exact", "value": "/a"}}]}]}});
        httproute_defaults(&mut plain);
        assert_eq!(
            plain["spec"],
            json!({"rules": [{"matches": [{"path": {"type": "Exact", "value": "/a"}}]}]}),
            "absent lists stay absent (no nulls)"
        );
    }
}
