//! The CEL validation rules of a CRD schema (`x-kubernetes-validations`), evaluated as kube-apiserver's
//! apiextensions validator does (k8s.io/apiextensions-apiserver `pkg/apiserver/schema/cel/validation.go`,
//! v0.37.2):
//!
//! - every rule of a schema node is evaluated for each non-null value at that node, `self` being the value
//!   converted with the node's schema (objects with `properties` become maps whose keys are escaped as
//!   Kubernetes escapes them: `namespace` → `__namespace__`, `a-b` → `a__dash__b`, …; integers are `int`,
//!   numbers `double`);
//! - transition rules (those naming `oldSelf`) run only on updates, where the old value correlates with the
//!   new one (object properties by name, `x-kubernetes-list-type: map` items by their keys);
//! - on updates, a failing rule whose value did not change (or, for a value that cannot be correlated, whose
//!   nearest correlatable ancestor did not change) is ratcheted: a warning instead of an error;
//! - a rule that is false gives `Invalid value: <message>` at the node's path (plus its `fieldPath`), with
//!   the value shown for scalars; `reason` makes it a Required/Forbidden/Duplicate cause; `messageExpression`
//!   supplies the message; without a message, `failed rule: <rule>`;
//! - a rule that fails to evaluate gives `Invalid value: "<type>": <error> evaluating rule: <rule>`.
//!
//! The expressions are parsed and evaluated by the `cel` crate (cel-rust) with its standard library, macros
//! and the strings extension (`split`, `lowerAscii`, …) that Kubernetes also enables; `duration()` is
//! provided here (a Go duration string as nanoseconds, which compares as Kubernetes' durations do). Not
//! modelled: the cost budget (no CRD served here comes close), Kubernetes' own CEL libraries beyond those
//! (`isURL`, `ip()`, `quantity()`, …: a rule calling one fails to evaluate and says so), and typed
//! `format: date-time`/`duration` strings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cel::{Context, Env, Program};
use serde_json::Value;

use super::{short, Node};
use crate::status::Cause;

/// One rule of `x-kubernetes-validations`, compiled.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    rule: String,
    message: Option<String>,
    message_expression: Option<Compiled>,
    reason: Option<String>,
    field_path: Option<String>,
    optional_old_self: bool,
    program: Compiled,
    uses_old_self: bool,
}

/// A compiled expression, or why it does not compile (shared by every schema holding the same text).
type Compiled = Result<Arc<Program>, String>;

impl Rule {
    /// Read one entry of `x-kubernetes-validations`; `None` when it has no `rule`.
    pub(super) fn from_json(v: &Value) -> Option<Rule> {
        let rule = v.get("rule")?.as_str()?.to_string();
        let program = compile(&rule);
        let uses_old_self = program.as_ref().is_ok_and(|p| p.references().has_variable("oldSelf"));
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Rule {
            message: text("message").filter(|m| !m.trim().is_empty()),
            message_expression: text("messageExpression").map(|m| compile(&m)),
            reason: text("reason"),
            field_path: text("fieldPath"),
            optional_old_self: v.get("optionalOldSelf").and_then(Value::as_bool).unwrap_or(false),
            program,
            uses_old_self,
            rule,
        })
    }

    /// What a failure says when there is no (working) message expression.
    fn message_or_default(&self) -> String {
        match &self.message {
            Some(m) => m.trim().to_string(),
            None => format!("failed rule: {}", self.rule.trim()),
        }
    }

    /// How the rule is named in evaluation errors.
    fn error_string(&self) -> &str {
        self.message.as_deref().unwrap_or(&self.rule).trim()
    }
}

/// The environment every rule runs in: CEL's standard library and macros, and the strings extension.
fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // Kubernetes' CEL environment includes the strings extension library (split, lowerAscii, …).
        let _ = cel::extensions::strings(&mut env);
        Arc::new(env)
    })
}

/// Compile once per process: the same rules appear in every version of a CRD and in every sandbox a test
/// starts.
fn compile(source: &str) -> Compiled {
    static CACHE: OnceLock<Mutex<HashMap<String, Compiled>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(c) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(source) {
        return c.clone();
    }
    let compiled = env().compile(source).map(Arc::new).map_err(|e| e.to_string());
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(source.to_string(), compiled.clone());
    compiled
}

/// `duration('1h30m')` of Kubernetes' CEL environment, as nanoseconds (Go's `time.ParseDuration` syntax).
fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    let ns = if neg { -total } else { total };
    (ns.abs() < i64::MAX as f64).then_some(ns as i64)
}

/// Names Kubernetes escapes with `__…__` (CEL reserved words; k8s.io/apiserver `pkg/cel/escaping.go`).
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// A property name as a CEL field name, or `None` when Kubernetes cannot expose it.
fn escape(name: &str) -> Option<String> {
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
                out.push_str("__underscores__");
            }
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

/// A JSON value as CEL sees it under its schema node.
fn to_cel(node: &Node, v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => {
            if node.ty.as_deref() == Some("number") {
                cel::Value::Float(n.as_f64().unwrap_or(0.0))
            } else if let Some(i) = n.as_i64() {
                cel::Value::Int(i)
            } else if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < i64::MAX as f64) {
                cel::Value::Int(f as i64)
            } else {
                cel::Value::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => {
            let default = Node::default();
            let item = node.items.as_deref().unwrap_or(&default);
            cel::Value::List(Arc::new(items.iter().map(|x| to_cel(item, x)).collect()))
        }
        Value::Object(map) => {
            let mut out: HashMap<cel::objects::Key, cel::Value> = HashMap::with_capacity(map.len());
            let default = Node::default();
            for (k, x) in map {
                if let Some(prop) = node.properties.get(k) {
                    if let Some(name) = escape(k) {
                        out.insert(cel::objects::Key::String(Arc::new(name)), to_cel(prop, x));
                    }
                } else if let Some(ap) = &node.additional {
                    out.insert(cel::objects::Key::String(Arc::new(k.clone())), to_cel(ap, x));
                } else if !node.has_properties || node.preserve_unknown {
                    // Free-form objects (`metadata`, preserved unknown fields): keys as they are.
                    out.insert(cel::objects::Key::String(Arc::new(k.clone())), to_cel(&default, x));
                }
            }
            cel::Value::Map(cel::objects::Map { map: Arc::new(out) })
        }
    }
}

/// The schema type of a node as Kubernetes names it in `Invalid value: "<type>"`.
fn type_of(node: &Node) -> &str {
    if node.int_or_string {
        return "";
    }
    node.ty.as_deref().unwrap_or("")
}

/// What evaluating the rules of one request produced.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// Failures: a 422.
    pub causes: Vec<Cause>,
    /// Failures ratcheted on an update (the value did not change): `Warning` headers.
    pub warnings: Vec<String>,
}

/// Where errors of a node would be ratcheted: the value correlates with an old one that is equal, or it does
/// not correlate and its nearest correlatable ancestor is unchanged. Always false on a create.
#[derive(Clone, Copy)]
struct Ratchet {
    update: bool,
    anchor_unchanged: bool,
}

/// Evaluate every rule of the schema on `obj` (and `old`, on an update), walking it as kube-apiserver does.
pub(super) fn validate(root: &Node, obj: &Value, old: Option<&Value>) -> Outcome {
    let mut out = Outcome::default();
    let ratchet = Ratchet {
        update: old.is_some(),
        anchor_unchanged: false,
    };
    walk(root, "", obj, old, ratchet, &mut out);
    out
}

fn walk(node: &Node, path: &str, v: &Value, old: Option<&Value>, ratchet: Ratchet, out: &mut Outcome) {
    if v.is_null() {
        return;
    }
    // This node correlates when an old value was found for it; its errors ratchet when it did not change.
    let here = Ratchet {
        update: ratchet.update,
        anchor_unchanged: match old {
            Some(o) => o == v,
            None => ratchet.anchor_unchanged,
        },
    };
    if !node.rules.is_empty() {
        evaluate(node, path, v, old, here, out);
    }
    match v {
        Value::Array(items) => {
            let Some(item) = node.items.as_deref() else {
                return;
            };
            let keys = match &node.list_type {
                super::ListType::Map(keys) => Some(keys),
                _ => None,
            };
            for (i, x) in items.iter().enumerate() {
                // Only map-type lists correlate their items (by key) with the old list.
                let old_item = match (keys, old.and_then(Value::as_array)) {
                    (Some(keys), Some(old_items)) => {
                        old_items.iter().find(|o| keys.iter().all(|k| o.get(k) == x.get(k)))
                    }
                    _ => None,
                };
                walk(item, &format!("{path}[{i}]"), x, old_item, here, out);
            }
        }
        Value::Object(map) => {
            let old_map = old.and_then(Value::as_object);
            if let Some(ap) = node.additional.as_deref() {
                for (k, x) in map {
                    walk(
                        ap,
                        &format!("{path}[{k}]"),
                        x,
                        old_map.and_then(|m| m.get(k)),
                        here,
                        out,
                    );
                }
            }
            for (k, x) in map {
                if let Some(prop) = node.properties.get(k) {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(prop, &p, x, old_map.and_then(|m| m.get(k)), here, out);
                }
            }
        }
        _ => {}
    }
}

fn evaluate(node: &Node, path: &str, v: &Value, old: Option<&Value>, ratchet: Ratchet, out: &mut Outcome) {
    let this = to_cel(node, v);
    let old_cel = old.map(|o| to_cel(node, o));
    let mut ctx = Context::with_env(env().clone());
    ctx.add_variable_from_value("self", this);
    let _ = ctx.add_function("duration", |s: Arc<String>| -> Result<i64, cel::ExecutionError> {
        parse_go_duration(&s)
            .ok_or_else(|| cel::ExecutionError::function_error("duration", format!("invalid duration string: {s:?}")))
    });
    if let Some(o) = &old_cel {
        ctx.add_variable_from_value("oldSelf", o.clone());
    }
    let field = |rule: &Rule| -> String {
        match rule.field_path.as_deref().map(|f| f.trim_start_matches('.')) {
            Some(f) if !f.is_empty() => {
                if path.is_empty() {
                    f.to_string()
                } else {
                    format!("{path}.{f}")
                }
            }
            _ => path.to_string(),
        }
    };
    let shown_path = |p: String| if p.is_empty() { "<nil>".to_string() } else { p };
    let type_name = type_of(node);
    for rule in &node.rules {
        let program = match &rule.program {
            Ok(p) => p,
            Err(e) => {
                out.causes.push(Cause::new(
                    "FieldValueInvalid",
                    shown_path(path.to_string()),
                    format!("Invalid value: \"{type_name}\": rule compile error: {e}"),
                ));
                continue;
            }
        };
        // Transition rules need an old value (optionalOldSelf rules run without one, seeing none).
        if rule.uses_old_self && old.is_none() && !rule.optional_old_self {
            continue;
        }
        let result = eval_go(program.expression(), &ctx);
        let passed = match result {
            Ok(cel::Value::Bool(true)) => true,
            Ok(cel::Value::Bool(false)) => false,
            Ok(other) => {
                out.causes.push(Cause::new(
                    "FieldValueInvalid",
                    shown_path(path.to_string()),
                    format!(
                        "Invalid value: \"{type_name}\": rule did not evaluate to a bool ({other:?}) evaluating rule: {}",
                        rule.error_string()
                    ),
                ));
                continue;
            }
            Err(e) => {
                out.causes.push(Cause::new(
                    "FieldValueInvalid",
                    shown_path(path.to_string()),
                    format!(
                        "Invalid value: \"{type_name}\": {} evaluating rule: {}",
                        go_error(&e),
                        rule.error_string()
                    ),
                ));
                continue;
            }
        };
        if passed {
            continue;
        }
        let detail = rule
            .message_expression
            .as_ref()
            .and_then(|m| m.as_ref().ok())
            .and_then(|m| match m.execute(&ctx) {
                Ok(cel::Value::String(s)) if !s.trim().is_empty() && !s.contains('\n') => Some(s.trim().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| rule.message_or_default());
        let at = shown_path(field(rule));
        let cause = match rule.reason.as_deref() {
            Some("FieldValueRequired") => Cause::new("FieldValueRequired", &at, format!("Required value: {detail}")),
            Some("FieldValueForbidden") => Cause::new("FieldValueForbidden", &at, format!("Forbidden: {detail}")),
            Some("FieldValueDuplicate") => Cause::new(
                "FieldValueDuplicate",
                &at,
                format!("Duplicate value: {}", shown_value(node, v)),
            ),
            _ => {
                let message = match node.ty.as_deref() {
                    Some("object") | Some("array") => format!("Invalid value: {detail}"),
                    _ => format!("Invalid value: {}: {detail}", shown_value(node, v)),
                };
                Cause::new("FieldValueInvalid", &at, message)
            }
        };
        if !rule.uses_old_self && ratchet.update && ratchet.anchor_unchanged {
            out.warnings.push(format!("{}: {}", cause.field, cause.message));
        } else {
            out.causes.push(cause);
        }
    }
}

/// Evaluate as cel-go does where cel-rust differs: `||` and `&&` (and `!`, `?:` around them) yield the
/// first error of their operands from the left, not the last (`size(self.a) > 0 || size(self.b) > 0` with
/// neither field set fails on `a`, as kube-apiserver reports it). Everything else is cel-rust's.
fn eval_go(e: &cel::parser::Expression, ctx: &Context) -> Result<cel::Value, cel::ExecutionError> {
    use cel::common::ast::Expr;
    let Expr::Call(call) = &e.expr else {
        return ctx.resolve(e);
    };
    if call.target.is_some() {
        return ctx.resolve(e);
    }
    let not_bool =
        |v: &cel::Value| cel::ExecutionError::function_error(&call.func_name, format!("no such overload: {v:?}"));
    match (call.func_name.as_str(), call.args.as_slice()) {
        (op @ ("_||_" | "_&&_"), args) if args.len() >= 2 => {
            // `||` stops at the first true, `&&` at the first false; otherwise the first error wins.
            let stop = op == "_||_";
            let mut first_err = None;
            for a in args {
                match eval_go(a, ctx) {
                    Ok(cel::Value::Bool(b)) if b == stop => return Ok(cel::Value::Bool(stop)),
                    Ok(cel::Value::Bool(_)) => {}
                    Ok(other) => {
                        first_err.get_or_insert_with(|| not_bool(&other));
                    }
                    Err(err) => {
                        first_err.get_or_insert(err);
                    }
                }
            }
            match first_err {
                Some(err) => Err(err),
                None => Ok(cel::Value::Bool(!stop)),
            }
        }
        ("_?_:_", [cond, then, otherwise]) => match eval_go(cond, ctx)? {
            cel::Value::Bool(true) => eval_go(then, ctx),
            cel::Value::Bool(false) => eval_go(otherwise, ctx),
            other => Err(not_bool(&other)),
        },
        ("!_", [x]) => match eval_go(x, ctx)? {
            cel::Value::Bool(b) => Ok(cel::Value::Bool(!b)),
            other => Err(not_bool(&other)),
        },
        _ => ctx.resolve(e),
    }
}

/// An evaluation error worded as cel-go words it where the two differ.
fn go_error(e: &cel::ExecutionError) -> String {
    match e {
        cel::ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        other => other.to_string(),
    }
}

/// A value as Go's field errors print it (`"text"`, `3`, `true`).
fn shown_value(node: &Node, v: &Value) -> String {
    let _ = node;
    short(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_kubernetes() {
        assert_eq!(escape("namespace").as_deref(), Some("__namespace__"));
        assert_eq!(escape("a-b.c/d").as_deref(), Some("a__dash__b__dot__c__slash__d"));
        assert_eq!(escape("x__y").as_deref(), Some("x__underscores__y"));
        assert_eq!(escape("port").as_deref(), Some("port"));
        assert_eq!(escape("1st"), None);
        assert_eq!(escape("a b"), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("0s"), Some(0));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_go_duration("-2m"), Some(-120_000_000_000));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("1d"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
