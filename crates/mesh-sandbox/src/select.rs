//! Label and field selectors as the API server parses them (`labelSelector=app in (a,b),!legacy`,
//! `fieldSelector=status.phase!=Running`), so list and watch filtering in the sandbox matches a cluster.

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelReq {
    /// `key=value` / `key==value`.
    Eq(String, String),
    /// `key!=value`.
    NotEq(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)`.
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    NotExists(String),
}

/// A parsed label selector (all requirements must hold).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector(pub Vec<LabelReq>);

/// Split on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c)
            }
            ')' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("unable to parse requirement: expected a set in parentheses, got {rest:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Parse the `labelSelector` query parameter.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            if let Some(k) = part.strip_prefix('!') {
                reqs.push(LabelReq::NotExists(k.trim().to_string()));
            } else if let Some((k, v)) = part.split_once("!=") {
                reqs.push(LabelReq::NotEq(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = part.split_once("==") {
                reqs.push(LabelReq::Eq(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = part.split_once('=') {
                reqs.push(LabelReq::Eq(k.trim().into(), v.trim().into()));
            } else if let Some(idx) = part.find(" notin ") {
                reqs.push(LabelReq::NotIn(part[..idx].trim().into(), parse_set(&part[idx + 7..])?));
            } else if let Some(idx) = part.find(" in ") {
                reqs.push(LabelReq::In(part[..idx].trim().into(), parse_set(&part[idx + 4..])?));
            } else if part.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
                reqs.push(LabelReq::Exists(part));
            } else {
                return Err(format!("unable to parse requirement: {part:?}"));
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// Build from a `matchLabels`/`matchExpressions` LabelSelector object (Deployment, PDB, Service selector map).
    pub fn from_object(sel: &Value) -> Self {
        let mut reqs = Vec::new();
        let labels = sel.get("matchLabels").unwrap_or(sel);
        if let Some(m) = labels.as_object() {
            for (k, v) in m {
                if let Some(v) = v.as_str() {
                    reqs.push(LabelReq::Eq(k.clone(), v.to_string()));
                }
            }
        }
        for e in sel["matchExpressions"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let key = e["key"].as_str().unwrap_or_default().to_string();
            let values: Vec<String> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            match e["operator"].as_str() {
                Some("In") => reqs.push(LabelReq::In(key, values)),
                Some("NotIn") => reqs.push(LabelReq::NotIn(key, values)),
                Some("Exists") => reqs.push(LabelReq::Exists(key)),
                Some("DoesNotExist") => reqs.push(LabelReq::NotExists(key)),
                _ => {}
            }
        }
        LabelSelector(reqs)
    }

    /// Whether the selector selects nothing-in-particular (matches everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub fn matches(&self, obj: &Value) -> bool {
        self.matches_labels(&obj["metadata"]["labels"])
    }

    /// Whether a labels map satisfies the selector.
    pub fn matches_labels(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector: `path=value` / `path==value` / `path!=value`, comma separated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldSelector(pub Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parse the `fieldSelector` query parameter.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some((k, v)) = part.split_once("!=") {
                out.push((k.trim().to_string(), false, v.trim().to_string()));
            } else if let Some((k, v)) = part.split_once("==") {
                out.push((k.trim().to_string(), true, v.trim().to_string()));
            } else if let Some((k, v)) = part.split_once('=') {
                out.push((k.trim().to_string(), true, v.trim().to_string()));
            } else {
                return Err(format!("invalid selector: '{s}'; can't understand '{part}'"));
            }
        }
        Ok(FieldSelector(out))
    }

    /// Whether the object satisfies every field requirement. Missing fields compare as `""`.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, eq, want)| {
            let mut cur = obj;
            for seg in path.split('.') {
                cur = &cur[seg];
            }
            let have = match cur {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (have == *want) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}, "status": {"phase": "Running"}, "spec": {"nodeName": "n1"}})
    }

    #[test]
    fn label_selector_supports_set_based_requirements() {
        let s = LabelSelector::parse("app in (reviews, ratings),version notin (v1),!legacy,tier").unwrap();
        assert!(s.matches(&pod(json!({"app": "reviews", "version": "v2", "tier": "x"}))));
        assert!(!s.matches(&pod(json!({"app": "reviews", "version": "v1", "tier": "x"}))));
        assert!(!s.matches(&pod(json!({"app": "reviews", "tier": "x", "legacy": "y"}))));
        assert!(!s.matches(&pod(json!({"app": "details", "tier": "x"}))));
        assert!(!s.matches(&pod(json!({"app": "reviews"}))));
        let s = LabelSelector::parse("app==reviews,version!=v1").unwrap();
        assert!(s.matches(&pod(json!({"app": "reviews"}))));
        assert!(!s.matches(&pod(json!({"app": "reviews", "version": "v1"}))));
    }

    #[test]
    fn field_selector_compares_nested_fields() {
        let p = pod(json!({}));
        assert!(FieldSelector::parse("status.phase=Running,spec.nodeName==n1")
            .unwrap()
            .matches(&p));
        assert!(!FieldSelector::parse("status.phase!=Running").unwrap().matches(&p));
        assert!(FieldSelector::parse("status.phase").is_err());
    }
}
