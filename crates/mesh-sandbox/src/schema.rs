//! OpenAPI v3 structural schemas, applied to custom resources the way kube-apiserver does: the one schema
//! engine of the workspace. The sandbox's store runs [`CrdSchema::admit`] on every write of a custom resource;
//! tests and fuzzing call the steps on their own to check that a plan validates against the real upstream
//! CRDs (kubectl-mesh writes HTTPRoutes to clusters serving different Gateway API bundles: v1.0.0 has no
//! `parentRefs[].port`, v1.6.1 does), so a plan a real server would reject or silently change fails here first.
//!
//! What a write goes through, in kube-apiserver's order ([`CrdSchema::admit`]):
//! 1. pruning: fields the schema does not know are dropped (unless `x-kubernetes-preserve-unknown-fields`);
//!    their paths are what `fieldValidation=Warn|Strict` reports as `unknown field "…"`;
//! 2. `null`s of non-nullable fields without a default are dropped (in properties and in
//!    `additionalProperties` values; not in array items, which then fail validation as type `null`);
//! 3. defaults: absent fields, and `null`s of non-nullable fields, get their schema default, recursively;
//! 4. validation, answered as 422 causes worded as the API server words them: `type` (an integral float passes
//!    as an integer, `x-kubernetes-int-or-string` is the type `integer,string`), `required` (absent or `null`),
//!    `enum`, strings (`maxLength`, else `minLength`, else `pattern`: the first failure only), numbers
//!    (`minimum`/`maximum`, `exclusiveMinimum`/`exclusiveMaximum`), arrays (`minItems`/`maxItems`,
//!    `x-kubernetes-list-type: set|map` uniqueness), objects (`minProperties`/`maxProperties`);
//! 5. the CEL rules (`x-kubernetes-validations`, see [`cel`]): skipped when step 4 found a type, required,
//!    enum, too-long or too-many error, which then adds kube-apiserver's `<nil>: Invalid value: null: some
//!    validation rules were not checked because the object was invalid; …`. On an update
//!    ([`CrdSchema::admit_update`]) transition rules (`oldSelf`) run and unchanged values ratchet.
//!
//! The wording and the order were checked against kube-apiserver v1.37.2 with a probe CRD covering each rule.
//! Not evaluated: `format`, `allOf`/`anyOf`/`oneOf`/`not`. Patterns use the `regex` crate, which accepts the
//! RE2 syntax Go uses; a pattern it cannot compile is reported in [`CrdSchema::warnings`] and not enforced.

mod cel;

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;
use thiserror::Error;

/// Annotation naming the installed Gateway API bundle.
pub const BUNDLE_VERSION_ANNOTATION: &str = "gateway.networking.k8s.io/bundle-version";
/// Annotation naming the Gateway API channel (`standard` / `experimental`).
pub const CHANNEL_ANNOTATION: &str = "gateway.networking.k8s.io/channel";

/// Whether a Gateway API bundle (`v1.0.0`, `v1.6.1`) serves `spec.parentRefs[].port` in its
/// standard channel (it became standard in v1.1). `None` when the version does not parse.
/// Prefer [`CrdSchema::has_field`] on the served CRD when the schema is at hand.
pub fn bundle_has_parent_port(bundle_version: &str) -> Option<bool> {
    let v = bundle_version.trim().trim_start_matches('v');
    let mut parts = v.split(['.', '-']);
    let major: u64 = parts.next()?.parse().ok()?;
    let minor: u64 = parts.next()?.parse().ok()?;
    Some((major, minor) >= (1, 1))
}

#[derive(Debug, Error)]
pub enum SchemaError {
    #[error("not a CustomResourceDefinition: {0}")]
    NotACrd(String),
    #[error("CRD {crd} does not serve version {version:?} (served: {})", served.join(", "))]
    VersionNotServed {
        crd: String,
        version: String,
        served: Vec<String>,
    },
    #[error("CRD {crd} version {version} has no openAPIV3Schema")]
    NoSchema { crd: String, version: String },
    #[error("invalid schema at {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("the CRD is not YAML: {0}")]
    Yaml(#[source] serde_saphyr::DeserializeError),
}

pub use crate::status::Cause;

/// What [`CrdSchema::admit`] did to an object and found wrong with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    /// Fields the schema does not know, pruned (sorted): `fieldValidation=Strict` rejects them, `Warn` warns.
    pub unknown_fields: Vec<String>,
    /// Validation failures after pruning and defaulting: a 422 when not empty.
    pub causes: Vec<Cause>,
    /// CEL rule failures ratcheted on an update (the value did not change): sent as `Warning` headers.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default)]
enum ListType {
    #[default]
    Atomic,
    Set,
    Map(Vec<String>),
}

#[derive(Debug, Clone, Default)]
struct Node {
    ty: Option<String>,
    properties: BTreeMap<String, Node>,
    has_properties: bool,
    additional: Option<Box<Node>>,
    /// `additionalProperties: true` (or a schema): unknown keys allowed.
    additional_allowed: bool,
    items: Option<Box<Node>>,
    required: Vec<String>,
    enum_values: Option<Vec<Value>>,
    pattern: Option<(String, Regex)>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: bool,
    exclusive_maximum: bool,
    min_items: Option<u64>,
    max_items: Option<u64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    nullable: bool,
    default: Option<Value>,
    preserve_unknown: bool,
    int_or_string: bool,
    list_type: ListType,
    /// `x-kubernetes-validations`, compiled.
    rules: Vec<cel::Rule>,
}

/// The structural schema of one served version of a CRD.
#[derive(Debug, Clone)]
pub struct CrdSchema {
    root: Node,
    /// The `openAPIV3Schema` it was built from (two schemas are equal when their sources are).
    source: Value,
    crd_name: String,
    version: String,
    bundle_version: Option<String>,
    channel: Option<String>,
    cel_rules: usize,
    warnings: Vec<String>,
}

struct Builder {
    cel_rules: usize,
    warnings: Vec<String>,
}

impl Builder {
    fn node(&mut self, v: &Value, path: &str) -> Result<Node, SchemaError> {
        let obj = v.as_object().ok_or_else(|| SchemaError::Invalid {
            path: path.to_string(),
            message: "schema is not an object".into(),
        })?;
        let mut n = Node {
            ty: obj.get("type").and_then(Value::as_str).map(str::to_string),
            ..Node::default()
        };
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            n.has_properties = true;
            for (k, s) in props {
                n.properties.insert(k.clone(), self.node(s, &format!("{path}.{k}"))?);
            }
        }
        match obj.get("additionalProperties") {
            Some(Value::Bool(b)) => n.additional_allowed = *b,
            Some(s @ Value::Object(_)) => {
                n.additional_allowed = true;
                n.additional = Some(Box::new(self.node(s, &format!("{path}.*"))?));
            }
            _ => {}
        }
        if let Some(items) = obj.get("items") {
            n.items = Some(Box::new(self.node(items, &format!("{path}[]"))?));
        }
        if let Some(req) = obj.get("required").and_then(Value::as_array) {
            n.required = req.iter().filter_map(Value::as_str).map(str::to_string).collect();
        }
        n.enum_values = obj.get("enum").and_then(Value::as_array).cloned();
        if let Some(p) = obj.get("pattern").and_then(Value::as_str) {
            match Regex::new(p) {
                Ok(re) => n.pattern = Some((p.to_string(), re)),
                Err(e) => self.warnings.push(format!("{path}: pattern {p:?} not enforced: {e}")),
            }
        }
        let num = |k: &str| obj.get(k).and_then(Value::as_f64);
        let uint = |k: &str| obj.get(k).and_then(Value::as_u64);
        let flag = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(false);
        n.minimum = num("minimum");
        n.maximum = num("maximum");
        n.exclusive_minimum = flag("exclusiveMinimum");
        n.exclusive_maximum = flag("exclusiveMaximum");
        n.min_items = uint("minItems");
        n.max_items = uint("maxItems");
        n.min_length = uint("minLength");
        n.max_length = uint("maxLength");
        n.min_properties = uint("minProperties");
        n.max_properties = uint("maxProperties");
        n.nullable = flag("nullable");
        n.default = obj.get("default").cloned();
        n.preserve_unknown = flag("x-kubernetes-preserve-unknown-fields");
        n.int_or_string = flag("x-kubernetes-int-or-string");
        n.list_type = match obj.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                obj.get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default(),
            ),
            _ => ListType::Atomic,
        };
        if let Some(rules) = obj.get("x-kubernetes-validations").and_then(Value::as_array) {
            self.cel_rules += rules.len();
            n.rules = rules.iter().filter_map(cel::Rule::from_json).collect();
        }
        Ok(n)
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

impl PartialEq for CrdSchema {
    fn eq(&self, other: &Self) -> bool {
        self.crd_name == other.crd_name && self.version == other.version && self.source == other.source
    }
}

impl CrdSchema {
    /// Build the schema of one version from its `openAPIV3Schema`.
    pub fn from_openapi(schema: &Value, crd_name: &str, version: &str) -> Result<CrdSchema, SchemaError> {
        let mut b = Builder {
            cel_rules: 0,
            warnings: Vec::new(),
        };
        let root = b.node(schema, "")?;
        Ok(CrdSchema {
            root,
            source: schema.clone(),
            crd_name: crd_name.to_string(),
            version: version.to_string(),
            bundle_version: None,
            channel: None,
            cel_rules: b.cel_rules,
            warnings: b.warnings,
        })
    }

    /// Build the schema of served version `version` of a CustomResourceDefinition object.
    pub fn from_crd(crd: &Value, version: &str) -> Result<CrdSchema, SchemaError> {
        if crd.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
            return Err(SchemaError::NotACrd(format!(
                "kind is {}",
                crd.get("kind").map(short).unwrap_or_else(|| "absent".into())
            )));
        }
        let crd_name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let versions = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .ok_or_else(|| SchemaError::NotACrd("no spec.versions".into()))?;
        let served: Vec<&Value> = versions
            .iter()
            .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(false))
            .collect();
        let Some(v) = served
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
        else {
            return Err(SchemaError::VersionNotServed {
                crd: crd_name,
                version: version.to_string(),
                served: served
                    .iter()
                    .filter_map(|v| v.get("name").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect(),
            });
        };
        let schema = v
            .pointer("/schema/openAPIV3Schema")
            .ok_or_else(|| SchemaError::NoSchema {
                crd: crd_name.clone(),
                version: version.to_string(),
            })?;
        let ann = |k: &str| {
            crd.pointer("/metadata/annotations")
                .and_then(|a| a.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let mut built = CrdSchema::from_openapi(schema, &crd_name, version)?;
        built.bundle_version = ann(BUNDLE_VERSION_ANNOTATION);
        built.channel = ann(CHANNEL_ANNOTATION);
        Ok(built)
    }

    /// Parse a CRD from YAML text, then [`CrdSchema::from_crd`].
    pub fn from_crd_yaml(yaml: &str, version: &str) -> Result<CrdSchema, SchemaError> {
        let crd: Value = serde_saphyr::from_str(yaml).map_err(SchemaError::Yaml)?;
        CrdSchema::from_crd(&crd, version)
    }

    /// The `openAPIV3Schema` this schema was built from.
    pub fn source(&self) -> &Value {
        &self.source
    }

    pub fn crd_name(&self) -> &str {
        &self.crd_name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// The `gateway.networking.k8s.io/bundle-version` annotation of the CRD (e.g. `v1.0.0`).
    pub fn bundle_version(&self) -> Option<&str> {
        self.bundle_version.as_deref()
    }

    /// The `gateway.networking.k8s.io/channel` annotation of the CRD.
    pub fn channel(&self) -> Option<&str> {
        self.channel.as_deref()
    }

    /// How many CEL rules (`x-kubernetes-validations`) the schema has.
    pub fn cel_rules(&self) -> usize {
        self.cel_rules
    }

    /// Schema parts that could not be compiled (and so are not enforced).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Whether a field exists at a dotted path (`spec.parentRefs[].port`; `[]` steps into items).
    pub fn has_field(&self, path: &str) -> bool {
        let mut node = &self.root;
        for part in path.split('.') {
            let (key, items) = match part.strip_suffix("[]") {
                Some(k) => (k, true),
                None => (part, false),
            };
            match node.properties.get(key) {
                Some(n) => node = n,
                None => return false,
            }
            if items {
                match &node.items {
                    Some(n) => node = n,
                    None => return false,
                }
            }
        }
        true
    }

    /// Apply schema defaults as the API server does on every write: absent fields whose schema
    /// has a default get a copy of it, recursively (including inside array items and inside
    /// objects created by defaulting).
    pub fn default(&self, obj: &mut Value) {
        default_node(&self.root, obj);
    }

    /// Remove fields the schema does not know (unless `x-kubernetes-preserve-unknown-fields`).
    /// At the root, `apiVersion`, `kind` and `metadata` are kept and `metadata` is left to the
    /// API machinery, as the API server does. Returns the removed field paths.
    pub fn prune(&self, obj: &mut Value) -> Vec<String> {
        let mut removed = Vec::new();
        prune_node(&self.root, obj, "", true, &mut removed);
        removed
    }

    /// The fields [`CrdSchema::prune`] would remove: what `fieldValidation=Strict` rejects.
    pub fn unknown_fields(&self, obj: &Value) -> Vec<String> {
        let mut copy = obj.clone();
        self.prune(&mut copy)
    }

    /// The fields server-side apply refuses as "field not declared in schema" when it builds a typed patch
    /// (structured-merge-diff's validating walk): the walk of an object stops at its first undeclared key, so
    /// a later sibling (known or not) is not looked into. kube-apiserver walks an object's keys in Go's map
    /// order, which is random: with two undeclared keys in one object it names either from one request to
    /// the next. The sandbox walks them sorted, which is one of its answers.
    pub fn apply_unknown_fields(&self, obj: &Value) -> Vec<String> {
        let mut out = Vec::new();
        apply_unknown_node(&self.root, obj, "", true, &mut out);
        out
    }

    /// Drop the `null`s of non-nullable fields that have no default, as the API server does before defaulting.
    pub fn prune_nulls(&self, obj: &mut Value) {
        prune_nulls_node(&self.root, obj, true);
    }

    /// Validate against the schema, CEL rules included (as on a create).
    pub fn validate(&self, obj: &Value) -> Vec<Cause> {
        self.validate_update(obj, None).0
    }

    /// Validate against the schema as an update of `old` (`None`: a create): structural validation, then, unless
    /// it found a blocking error, the CEL rules. Returns the causes and the ratcheted CEL failures.
    fn validate_update(&self, obj: &Value, old: Option<&Value>) -> (Vec<Cause>, Vec<String>) {
        let mut causes = Vec::new();
        validate_node(&self.root, obj, "", true, &mut causes);
        // kube-apiserver (apiextensions `hasBlockingErr`): these leave the CEL rules unchecked.
        let blocking = causes.iter().any(|c| {
            matches!(
                c.reason.as_str(),
                "FieldValueNotSupported"
                    | "FieldValueRequired"
                    | "FieldValueTooLong"
                    | "FieldValueTooMany"
                    | "FieldValueTypeInvalid"
            )
        });
        if blocking {
            if self.cel_rules > 0 {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    "<nil>",
                    "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
                ));
            }
            return (causes, Vec::new());
        }
        if self.cel_rules == 0 {
            return (causes, Vec::new());
        }
        let outcome = cel::validate(&self.root, obj, old);
        causes.extend(outcome.causes);
        (causes, outcome.warnings)
    }

    /// Everything kube-apiserver does to a custom resource on a create, in its order: prune unknown fields,
    /// drop non-nullable `null`s without defaults, apply defaults, validate (CEL rules last). `obj` is left as
    /// it would be stored.
    pub fn admit(&self, obj: &mut Value) -> Admission {
        self.admit_update(obj, None)
    }

    /// [`CrdSchema::admit`] for an update of `old` (as stored): transition rules (`oldSelf`) are evaluated and
    /// CEL failures of unchanged values are ratcheted to warnings, as kube-apiserver does.
    pub fn admit_update(&self, obj: &mut Value, old: Option<&Value>) -> Admission {
        let mut unknown_fields = self.prune(obj);
        unknown_fields.sort();
        self.prune_nulls(obj);
        self.default(obj);
        let (causes, warnings) = self.validate_update(obj, old);
        Admission {
            unknown_fields,
            causes,
            warnings,
        }
    }
}

fn prune_nulls_node(node: &Node, v: &mut Value, root: bool) {
    match v {
        Value::Object(map) => {
            map.retain(|k, x| {
                if root && (k == "apiVersion" || k == "kind" || k == "metadata") {
                    return true;
                }
                let schema = node.properties.get(k).or(node.additional.as_deref());
                !(x.is_null() && schema.is_some_and(|s| !s.nullable && s.default.is_none()))
            });
            for (k, x) in map.iter_mut() {
                if let Some(schema) = node.properties.get(k).or(node.additional.as_deref()) {
                    prune_nulls_node(schema, x, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &node.items {
                for x in items {
                    prune_nulls_node(item, x, false);
                }
            }
        }
        _ => {}
    }
}

fn default_node(node: &Node, v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, prop) in &node.properties {
                if let Some(d) = &prop.default {
                    let absent = match map.get(k) {
                        None => true,
                        Some(Value::Null) => !prop.nullable,
                        Some(_) => false,
                    };
                    if absent {
                        map.insert(k.clone(), d.clone());
                    }
                }
            }
            for (k, child) in map.iter_mut() {
                if let Some(prop) = node.properties.get(k) {
                    default_node(prop, child);
                } else if let Some(ap) = &node.additional {
                    default_node(ap, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &node.items {
                for child in items {
                    default_node(item, child);
                }
            }
        }
        _ => {}
    }
}

fn prune_node(node: &Node, v: &mut Value, path: &str, root: bool, removed: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if node.preserve_unknown && !node.has_properties && node.additional.is_none() {
                return;
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if root && (k == "apiVersion" || k == "kind" || k == "metadata") {
                    continue;
                }
                let p = join(path, &k);
                if let Some(prop) = node.properties.get(&k) {
                    if let Some(child) = map.get_mut(&k) {
                        prune_node(prop, child, &p, false, removed);
                    }
                } else if let Some(ap) = &node.additional {
                    if let Some(child) = map.get_mut(&k) {
                        prune_node(ap, child, &p, false, removed);
                    }
                } else if !node.preserve_unknown && !node.additional_allowed {
                    map.shift_remove(&k);
                    removed.push(p);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &node.items {
                for (i, child) in items.iter_mut().enumerate() {
                    prune_node(item, child, &format!("{path}[{i}]"), false, removed);
                }
            }
        }
        _ => {}
    }
}

fn apply_unknown_node(node: &Node, v: &Value, path: &str, root: bool, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if node.preserve_unknown && !node.has_properties && node.additional.is_none() {
                return;
            }
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for k in keys {
                if root && (k == "apiVersion" || k == "kind" || k == "metadata") {
                    continue;
                }
                let p = join(path, k);
                if let Some(prop) = node.properties.get(k.as_str()) {
                    apply_unknown_node(prop, &map[k.as_str()], &p, false, out);
                } else if let Some(ap) = &node.additional {
                    apply_unknown_node(ap, &map[k.as_str()], &p, false, out);
                } else if !node.preserve_unknown && !node.additional_allowed {
                    out.push(p);
                    return;
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &node.items {
                for (i, child) in items.iter().enumerate() {
                    apply_unknown_node(item, child, &format!("{path}[{i}]"), false, out);
                }
            }
        }
        _ => {}
    }
}

fn cause(causes: &mut Vec<Cause>, field: &str, reason: &str, message: String) {
    causes.push(Cause::new(reason, field, message));
}

/// Whether a JSON value passes as a schema `type`. Like kube-openapi, an integral float is an integer.
fn type_ok(ty: &str, v: &Value) -> bool {
    match (ty, v) {
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
        ("number", Value::Number(_)) => true,
        (ty, v) => ty == type_name(v),
    }
}

fn type_invalid(causes: &mut Vec<Cause>, path: &str, ty: &str, actual: &str) {
    cause(
        causes,
        path,
        "FieldValueTypeInvalid",
        format!("Invalid value: \"{actual}\": {path} in body must be of type {ty}: \"{actual}\""),
    );
}

fn validate_node(node: &Node, v: &Value, path: &str, root: bool, causes: &mut Vec<Cause>) {
    if v.is_null() {
        if !node.nullable && (node.ty.is_some() || node.int_or_string) {
            let ty = if node.int_or_string {
                "integer,string"
            } else {
                node.ty.as_deref().unwrap_or("")
            };
            type_invalid(causes, path, ty, "null");
        }
        return;
    }
    if node.int_or_string {
        if !(v.is_string() || type_ok("integer", v)) {
            type_invalid(causes, path, "integer,string", type_name(v));
            return;
        }
    } else if let Some(ty) = &node.ty {
        if !type_ok(ty, v) {
            type_invalid(causes, path, ty, type_name(v));
            if ty == "integer" && v.is_number() {
                // kube-apiserver also reports the integer format check, with no field.
                cause(
                    causes,
                    "<nil>",
                    "FieldValueInvalid",
                    format!("Invalid value: \"\": Checked value must be of type integer (default format) in {path}"),
                );
            }
            return;
        }
    }
    if let Some(values) = &node.enum_values {
        if !values.contains(v) {
            let list: Vec<String> = values.iter().map(short).collect();
            cause(
                causes,
                path,
                "FieldValueNotSupported",
                format!("Unsupported value: {}: supported values: {}", short(v), list.join(", ")),
            );
        }
    }
    match v {
        Value::String(s) => {
            // The first failure only, in this order, as kube-openapi's string validator answers.
            let len = s.chars().count() as u64;
            if let Some(max) = node.max_length.filter(|max| len > *max) {
                cause(
                    causes,
                    path,
                    "FieldValueTooLong",
                    format!("Too long: may not be more than {max} bytes"),
                );
            } else if let Some(min) = node.min_length.filter(|min| len < *min) {
                cause(
                    causes,
                    path,
                    "FieldValueInvalid",
                    format!(
                        "Invalid value: {}: {path} in body should be at least {min} chars long",
                        short(v)
                    ),
                );
            } else if let Some((p, _)) = node.pattern.as_ref().filter(|(_, re)| !re.is_match(s)) {
                cause(
                    causes,
                    path,
                    "FieldValueInvalid",
                    format!("Invalid value: {}: {path} in body should match '{p}'", short(v)),
                );
            }
        }
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                if let Some(max) = node.maximum {
                    if node.exclusive_maximum && x >= max {
                        cause(
                            causes,
                            path,
                            "FieldValueInvalid",
                            format!("Invalid value: {n}: {path} in body should be less than {max}"),
                        );
                    } else if x > max {
                        cause(
                            causes,
                            path,
                            "FieldValueInvalid",
                            format!("Invalid value: {n}: {path} in body should be less than or equal to {max}"),
                        );
                    }
                }
                if let Some(min) = node.minimum {
                    if node.exclusive_minimum && x <= min {
                        cause(
                            causes,
                            path,
                            "FieldValueInvalid",
                            format!("Invalid value: {n}: {path} in body should be greater than {min}"),
                        );
                    } else if x < min {
                        cause(
                            causes,
                            path,
                            "FieldValueInvalid",
                            format!("Invalid value: {n}: {path} in body should be greater than or equal to {min}"),
                        );
                    }
                }
            }
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(max) = node.max_items {
                if len > max {
                    cause(
                        causes,
                        path,
                        "FieldValueTooMany",
                        format!("Too many: {len}: must have at most {max} items"),
                    );
                }
            }
            if let Some(min) = node.min_items {
                if len < min {
                    cause(
                        causes,
                        path,
                        "FieldValueInvalid",
                        format!("Invalid value: {len}: {path} in body should have at least {min} items"),
                    );
                }
            }
            check_list_uniqueness(node, items, path, causes);
            if let Some(item) = &node.items {
                for (i, child) in items.iter().enumerate() {
                    validate_node(item, child, &format!("{path}[{i}]"), false, causes);
                }
            }
        }
        Value::Object(map) => {
            for r in &node.required {
                if !map.contains_key(r) || (map.get(r).is_some_and(Value::is_null)) {
                    cause(
                        causes,
                        &join(path, r),
                        "FieldValueRequired",
                        "Required value".to_string(),
                    );
                }
            }
            let len = map.len() as u64;
            if let Some(max) = node.max_properties {
                if len > max {
                    cause(
                        causes,
                        path,
                        "FieldValueTooMany",
                        format!("Too many: {len}: must have at most {max} items"),
                    );
                }
            }
            if let Some(min) = node.min_properties {
                if len < min {
                    cause(
                        causes,
                        path,
                        "FieldValueInvalid",
                        format!("Invalid value: {len}: {path} in body should have at least {min} properties"),
                    );
                }
            }
            for (k, child) in map {
                if root && (k == "apiVersion" || k == "kind" || k == "metadata") {
                    continue;
                }
                let p = join(path, k);
                if let Some(prop) = node.properties.get(k) {
                    validate_node(prop, child, &p, false, causes);
                } else if let Some(ap) = &node.additional {
                    validate_node(ap, child, &p, false, causes);
                }
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

fn check_list_uniqueness(node: &Node, items: &[Value], path: &str, causes: &mut Vec<Cause>) {
    match &node.list_type {
        ListType::Atomic => {}
        ListType::Set => {
            for (i, a) in items.iter().enumerate() {
                if items[..i].contains(a) {
                    cause(
                        causes,
                        &format!("{path}[{i}]"),
                        "FieldValueDuplicate",
                        format!("Duplicate value: {}", short(a)),
                    );
                }
            }
        }
        ListType::Map(keys) => {
            let key_of =
                |v: &Value| -> Vec<Value> { keys.iter().map(|k| v.get(k).cloned().unwrap_or(Value::Null)).collect() };
            let ks: Vec<Vec<Value>> = items.iter().map(key_of).collect();
            for i in 0..ks.len() {
                if ks[..i].contains(&ks[i]) {
                    // The key fields as a JSON object, keys sorted (Go marshals maps that way).
                    let mut shown: Vec<(&String, &Value)> = keys.iter().zip(&ks[i]).collect();
                    shown.sort_by_key(|(k, _)| *k);
                    let fields: Vec<String> = shown
                        .iter()
                        .map(|(k, v)| format!("{}:{}", Value::String((*k).clone()), short(v)))
                        .collect();
                    cause(
                        causes,
                        &format!("{path}[{i}]"),
                        "FieldValueDuplicate",
                        format!("Duplicate value: {{{}}}", fields.join(",")),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(schema: Value) -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com",
                         "annotations": {BUNDLE_VERSION_ANNOTATION: "v9.9.9"}},
            "spec": {"versions": [
                {"name": "v1", "served": true, "schema": {"openAPIV3Schema": schema}},
                {"name": "v0", "served": false, "schema": {"openAPIV3Schema": {"type": "object"}}}
            ]}
        })
    }

    fn widget_schema() -> CrdSchema {
        let s = json!({
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {
                    "type": "object",
                    "required": ["name"],
                    "maxProperties": 5,
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
                        "size": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                        "ratio": {"type": "number"},
                        "on": {"type": "boolean"},
                        "mode": {"type": "string", "enum": ["A", "B"], "default": "A"},
                        "port": {"x-kubernetes-int-or-string": true},
                        "tags": {"type": "array", "maxItems": 2, "minItems": 1,
                                 "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                        "parts": {"type": "array", "x-kubernetes-list-type": "map",
                                  "x-kubernetes-list-map-keys": ["id"],
                                  "items": {"type": "object", "properties": {
                                      "id": {"type": "string"},
                                      "opts": {"type": "object", "default": {},
                                               "properties": {"level": {"type": "integer", "default": 3}}}}}},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                    },
                    "x-kubernetes-validations": [{"rule": "self.size < 100"}]
                }
            }
        });
        CrdSchema::from_crd(&crd(s), "v1").unwrap()
    }

    #[test]
    fn from_crd_reads_served_versions_and_bundle_annotation() {
        let s = widget_schema();
        assert_eq!(s.bundle_version(), Some("v9.9.9"));
        assert_eq!(s.cel_rules(), 1);
        assert!(s.has_field("spec.parts[].opts.level"));
        assert!(!s.has_field("spec.parts[].nope"));
        let e = CrdSchema::from_crd(&crd(json!({"type": "object"})), "v0").unwrap_err();
        assert!(matches!(e, SchemaError::VersionNotServed { ref served, .. } if served == &vec!["v1".to_string()]));
        assert!(matches!(
            CrdSchema::from_crd(&json!({"kind": "Pod"}), "v1"),
            Err(SchemaError::NotACrd(_))
        ));
    }

    #[test]
    fn parent_port_is_standard_from_bundle_v1_1() {
        assert_eq!(bundle_has_parent_port("v1.0.0"), Some(false));
        assert_eq!(bundle_has_parent_port("v1.1.0"), Some(true));
        assert_eq!(bundle_has_parent_port("v1.6.1"), Some(true));
        assert_eq!(bundle_has_parent_port("v0.8.1"), Some(false));
        assert_eq!(bundle_has_parent_port("v1.2.0-rc1"), Some(true));
        assert_eq!(bundle_has_parent_port("main"), None);
    }

    #[test]
    fn defaults_fill_absent_fields_recursively() {
        let s = widget_schema();
        let mut obj = json!({"spec": {"name": "a", "parts": [{"id": "x"}, {"id": "y", "opts": {"level": 7}}]}});
        s.default(&mut obj);
        assert_eq!(obj["spec"]["size"], json!(1));
        assert_eq!(obj["spec"]["mode"], json!("A"));
        // Objects created by defaulting are defaulted too.
        assert_eq!(obj["spec"]["parts"][0]["opts"], json!({"level": 3}));
        assert_eq!(obj["spec"]["parts"][1]["opts"], json!({"level": 7}));
        let mut obj = json!({"spec": {"name": "a", "size": 4}});
        s.default(&mut obj);
        assert_eq!(obj["spec"]["size"], json!(4));
    }

    #[test]
    fn prune_removes_unknown_fields_but_keeps_preserved_and_metadata() {
        let s = widget_schema();
        let mut obj = json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "whatever": 1},
            "status": {"x": 1},
            "spec": {"name": "a", "bogus": true, "extra": {"any": {"thing": 1}},
                     "labels": {"a": "b"}, "parts": [{"id": "x", "junk": 1}]}
        });
        let removed = s.prune(&mut obj);
        assert_eq!(removed, vec!["status", "spec.bogus", "spec.parts[0].junk"]);
        assert_eq!(obj["metadata"]["whatever"], json!(1));
        assert_eq!(obj["spec"]["extra"], json!({"any": {"thing": 1}}));
        assert_eq!(obj["spec"]["labels"], json!({"a": "b"}));
        assert!(s.unknown_fields(&obj).is_empty());
    }

    #[test]
    fn validate_reports_each_kind_of_violation() {
        let s = widget_schema();
        let ok = json!({"spec": {"name": "abc", "size": 3, "ratio": 2, "port": "http", "tags": ["a"]}});
        assert_eq!(s.validate(&ok), vec![]);
        let check = |obj: Value, field: &str, reason: &str| {
            let causes = s.validate(&obj);
            assert!(
                causes.iter().any(|c| c.field == field && c.reason == reason),
                "{obj} → {causes:?}"
            );
        };
        check(json!({"spec": {}}), "spec.name", "FieldValueRequired");
        check(json!({"spec": {"name": 5}}), "spec.name", "FieldValueTypeInvalid");
        check(json!({"spec": {"name": "abcdef"}}), "spec.name", "FieldValueTooLong");
        check(json!({"spec": {"name": ""}}), "spec.name", "FieldValueInvalid");
        check(json!({"spec": {"name": "A b"}}), "spec.name", "FieldValueInvalid");
        check(
            json!({"spec": {"name": "a", "size": 11}}),
            "spec.size",
            "FieldValueInvalid",
        );
        check(
            json!({"spec": {"name": "a", "size": -1}}),
            "spec.size",
            "FieldValueInvalid",
        );
        check(
            json!({"spec": {"name": "a", "size": 1.5}}),
            "spec.size",
            "FieldValueTypeInvalid",
        );
        check(
            json!({"spec": {"name": "a", "ratio": "x"}}),
            "spec.ratio",
            "FieldValueTypeInvalid",
        );
        check(
            json!({"spec": {"name": "a", "on": "yes"}}),
            "spec.on",
            "FieldValueTypeInvalid",
        );
        check(
            json!({"spec": {"name": "a", "mode": "C"}}),
            "spec.mode",
            "FieldValueNotSupported",
        );
        check(
            json!({"spec": {"name": "a", "port": true}}),
            "spec.port",
            "FieldValueTypeInvalid",
        );
        check(
            json!({"spec": {"name": "a", "tags": ["a", "b", "c"]}}),
            "spec.tags",
            "FieldValueTooMany",
        );
        check(
            json!({"spec": {"name": "a", "tags": []}}),
            "spec.tags",
            "FieldValueInvalid",
        );
        check(
            json!({"spec": {"name": "a", "tags": ["a", "a"]}}),
            "spec.tags[1]",
            "FieldValueDuplicate",
        );
        check(
            json!({"spec": {"name": "a", "parts": [{"id": "x"}, {"id": "x"}]}}),
            "spec.parts[1]",
            "FieldValueDuplicate",
        );
        check(
            json!({"spec": {"name": "a", "tags": "a"}}),
            "spec.tags",
            "FieldValueTypeInvalid",
        );
        check(
            json!({"spec": {"name": "a", "labels": {"k": 1}}}),
            "spec.labels.k",
            "FieldValueTypeInvalid",
        );
        check(
            json!({"spec": {"name": "a", "size": 1, "ratio": 1, "on": true, "mode": "A", "port": 1}}),
            "spec",
            "FieldValueTooMany",
        );
        check(json!({"spec": "x"}), "spec", "FieldValueTypeInvalid");
    }
}

/// What kube-apiserver v1.37.2 answered to the same objects under the same schema (a probe CRD with each rule,
/// run against a real API server): the wording, the nulls and the order of a write.
#[cfg(test)]
mod api_server_parity {
    use super::*;
    use serde_json::json;

    fn schema() -> CrdSchema {
        CrdSchema::from_openapi(
            &json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
                "size": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                "ratio": {"type": "number", "minimum": 0.5, "exclusiveMinimum": true},
                "note": {"type": "string", "nullable": true},
                "plain": {"type": "string"},
                "mode": {"type": "string", "enum": ["A", "B"], "default": "A"},
                "port": {"x-kubernetes-int-or-string": true},
                "tags": {"type": "array", "items": {"type": "string"}},
                "parts": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"],
                          "items": {"type": "object", "properties": {
                              "id": {"type": "string"},
                              "opts": {"type": "object", "default": {},
                                       "properties": {"level": {"type": "integer", "default": 3}}}}}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "nested": {"type": "object", "properties": {"b": {"type": "integer", "default": 5}}}}}}}),
            "widgets.example.com",
            "v1",
        )
        .unwrap()
    }

    fn admit(spec: Value) -> (Value, Admission) {
        let mut obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                             "junk": true, "spec": spec});
        let a = schema().admit(&mut obj);
        (obj, a)
    }

    fn messages(spec: Value) -> Vec<String> {
        admit(spec)
            .1
            .causes
            .iter()
            .map(|c| format!("{} {}: {}", c.reason, c.field, c.message))
            .collect()
    }

    #[test]
    fn nulls_are_dropped_or_defaulted_before_validation_except_in_lists() {
        let (obj, a) = admit(json!({"name": "abc", "size": null, "plain": null, "note": null,
                                    "nested": null, "labels": {"k": null}, "extra": {"any": {"thing": null}},
                                    "parts": [{"id": "x", "opts": null}]}));
        assert!(a.causes.is_empty(), "{:?}", a.causes);
        assert_eq!(
            obj["spec"],
            json!({"name": "abc", "size": 1, "note": null, "labels": {}, "extra": {"any": {"thing": null}},
                   "parts": [{"id": "x", "opts": {"level": 3}}], "mode": "A"})
        );
        // Dropped nulls are not unknown fields: fieldValidation=Strict does not reject them.
        assert_eq!(a.unknown_fields, ["junk"]);
        let (obj, a) = admit(Value::Null);
        assert!(obj.get("spec").is_none() && a.causes.is_empty());
        assert_eq!(
            messages(json!({"name": "abc", "tags": [null]})),
            [
                r#"FieldValueTypeInvalid spec.tags[0]: Invalid value: "null": spec.tags[0] in body must be of type string: "null""#
            ]
        );
        assert_eq!(
            messages(json!({"name": null})),
            ["FieldValueRequired spec.name: Required value"]
        );
    }

    #[test]
    fn type_errors_name_the_json_type_like_the_api_server() {
        assert_eq!(
            messages(json!({"name": 5})),
            [
                r#"FieldValueTypeInvalid spec.name: Invalid value: "integer": spec.name in body must be of type string: "integer""#
            ]
        );
        assert_eq!(
            messages(json!({"name": "abc", "labels": {"a": 1}})),
            [
                r#"FieldValueTypeInvalid spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer""#
            ]
        );
        assert_eq!(
            messages(json!({"name": "abc", "port": true})),
            [
                r#"FieldValueTypeInvalid spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
            ]
        );
        assert_eq!(
            messages(json!({"name": "abc", "size": 1.5})),
            [
                r#"FieldValueTypeInvalid spec.size: Invalid value: "number": spec.size in body must be of type integer: "number""#,
                r#"FieldValueInvalid <nil>: Invalid value: "": Checked value must be of type integer (default format) in spec.size"#
            ]
        );
        // An integral float is an integer.
        assert!(messages(json!({"name": "abc", "size": 2.0})).is_empty());
    }

    #[test]
    fn a_string_reports_its_first_failure_only() {
        assert_eq!(
            messages(json!({"name": ""})),
            [r#"FieldValueInvalid spec.name: Invalid value: "": spec.name in body should be at least 1 chars long"#]
        );
        assert_eq!(
            messages(json!({"name": "ABCDEFG", "size": 99, "mode": "Z"})),
            [
                "FieldValueTooLong spec.name: Too long: may not be more than 5 bytes",
                "FieldValueInvalid spec.size: Invalid value: 99: spec.size in body should be less than or equal to 10",
                r#"FieldValueNotSupported spec.mode: Unsupported value: "Z": supported values: "A", "B""#
            ]
        );
    }

    #[test]
    fn bounds_and_duplicates_read_like_the_api_server() {
        assert_eq!(
            messages(json!({"name": "abc", "ratio": 0.5})),
            ["FieldValueInvalid spec.ratio: Invalid value: 0.5: spec.ratio in body should be greater than 0.5"]
        );
        assert_eq!(
            messages(json!({"name": "abc", "parts": [{"id": "x"}, {"id": "x"}]})),
            [r#"FieldValueDuplicate spec.parts[1]: Duplicate value: {"id":"x"}"#]
        );
    }

    #[test]
    fn unknown_fields_are_pruned_and_listed_sorted() {
        let (obj, a) = admit(json!({"name": "abc", "bogus": 1, "nested": {"zz": 1}}));
        assert_eq!(a.unknown_fields, ["junk", "spec.bogus", "spec.nested.zz"]);
        assert_eq!(
            obj["spec"],
            json!({"name": "abc", "nested": {"b": 5}, "size": 1, "mode": "A"})
        );
        assert_eq!(obj["metadata"], json!({"name": "w"}));
    }
}
