//! Gateway API match precedence: which rule of which route a request takes.
//!
//! The spec (`HTTPRouteRule.Matches`, `kubernetes-sigs/gateway-api apis/v1/httproute_types.go`, also the
//! description in the CRD) says:
//!
//! > Proxy or Load Balancer routing configuration generated from HTTPRoutes MUST prioritize matches based on the
//! > following criteria, continuing on ties. Across all rules specified on applicable Routes, precedence must be
//! > given to the match having: "Exact" path match. "Prefix" path match with largest number of characters. Method
//! > match. Largest number of header matches. Largest number of query param matches.
//! >
//! > If ties still exist across multiple Routes, matching precedence MUST be determined in order of the following
//! > criteria, continuing on ties: The oldest Route based on creation timestamp. The Route appearing first in
//! > alphabetical order by "{namespace}/{name}".
//! >
//! > If ties still exist within an HTTPRoute, matching precedence MUST be granted to the FIRST matching rule (in
//! > list order) with a match meeting the above criteria.
//!
//! Istio implements it in `pilot/pkg/config/kube/gateway/conversion.go` (`sortHTTPRoutes`): path type rank
//! Exact > PathPrefix > RegularExpression, then the path value's length (a PathPrefix's trailing `/` trimmed, as
//! `createURIMatch` does), then method present, then header count, then query count, with a stable sort over
//! routes already in creation order. The spec leaves the rank of RegularExpression paths to implementations;
//! Istio's (below every prefix) is what users' traffic does, so it is what this module does.
//!
//! Regular expressions are evaluated as full matches (Envoy: `re2::RE2::FullMatch`). A pattern Rust's `regex`
//! cannot compile (RE2-only syntax) is [`Tri::Unknown`], never a silent "no".

use std::collections::BTreeSet;

use serde_json::Value;

/// The path condition of one match, after the API server's defaulting (`PathPrefix` `/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathCond {
    Exact(String),
    /// The value as written (a trailing `/` is ignored when matching and ranking).
    Prefix(String),
    Regex(String),
}

impl PathCond {
    /// The Gateway API type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            PathCond::Exact(_) => "Exact",
            PathCond::Prefix(_) => "PathPrefix",
            PathCond::Regex(_) => "RegularExpression",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            PathCond::Exact(v) | PathCond::Prefix(v) | PathCond::Regex(v) => v,
        }
    }

    /// Istio's `getURIRank`: Exact 3, Prefix 2, Regex 1.
    pub fn rank(&self) -> u8 {
        match self {
            PathCond::Exact(_) => 3,
            PathCond::Prefix(_) => 2,
            PathCond::Regex(_) => 1,
        }
    }

    /// The value a prefix is matched and ranked with: trailing `/` trimmed ("When specified, a trailing `/` is
    /// ignored"), `/` itself kept.
    fn prefix_trimmed(v: &str) -> &str {
        if v == "/" {
            return v;
        }
        let t = v.trim_end_matches('/');
        if t.is_empty() {
            "/"
        } else {
            t
        }
    }

    /// Istio's `getURILength`.
    pub fn length(&self) -> usize {
        match self {
            PathCond::Prefix(v) => Self::prefix_trimmed(v).len(),
            PathCond::Exact(v) | PathCond::Regex(v) => v.len(),
        }
    }

    /// The same condition, written canonically (a prefix without trailing `/`).
    fn normalised(&self) -> PathCond {
        match self {
            PathCond::Prefix(v) => PathCond::Prefix(Self::prefix_trimmed(v).to_string()),
            other => other.clone(),
        }
    }

    fn eval(&self, path: &str) -> Tri {
        match self {
            PathCond::Exact(v) => Tri::from_bool(path == v, || format!("path is not exactly {v}")),
            PathCond::Prefix(v) => {
                let p = Self::prefix_trimmed(v);
                let ok = p == "/" || path == p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/'));
                Tri::from_bool(ok, || format!("path is not under prefix {v}"))
            }
            PathCond::Regex(re) => full_match(re, path, "path"),
        }
    }
}

/// A header or query-param condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueCond {
    /// Header names are lowercased (they match case-insensitively); query-param names are kept (exact).
    pub name: String,
    pub value: String,
    /// `type: RegularExpression` (else Exact).
    pub regex: bool,
}

impl ValueCond {
    fn describe(&self, sep: char) -> String {
        if self.regex {
            format!("{}~{}", self.name, self.value)
        } else {
            format!("{}{sep}{}", self.name, self.value)
        }
    }
}

/// One `HTTPRouteMatch`, defaulted and with repeated names dropped (first wins).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatchCond {
    pub path: PathCond,
    pub method: Option<String>,
    pub headers: Vec<ValueCond>,
    pub query: Vec<ValueCond>,
    /// Header entries dropped because an earlier entry had the same name (case-insensitively).
    pub dropped_headers: usize,
}

/// The precedence of a match: compare descending; the greatest wins.
pub type PrecedenceKey = (u8, usize, bool, usize, usize);

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl MatchCond {
    /// The catch-all the API server defaults a rule without matches to.
    pub fn catch_all() -> MatchCond {
        MatchCond {
            path: PathCond::Prefix("/".into()),
            method: None,
            headers: Vec::new(),
            query: Vec::new(),
            dropped_headers: 0,
        }
    }

    /// Read one match object, applying the API server's defaults (files are not defaulted): path type
    /// `PathPrefix`, value `/`; header and query types `Exact`.
    pub fn from_value(m: &Value) -> MatchCond {
        let path = match m.get("path") {
            Some(p) if p.is_object() => {
                let value = str_field(p, "value").unwrap_or("/").to_string();
                match str_field(p, "type").unwrap_or("PathPrefix") {
                    "Exact" => PathCond::Exact(value),
                    "RegularExpression" => PathCond::Regex(value),
                    _ => PathCond::Prefix(value),
                }
            }
            _ => PathCond::Prefix("/".into()),
        };
        let mut dropped_headers = 0;
        let mut headers: Vec<ValueCond> = Vec::new();
        for h in m.get("headers").and_then(Value::as_array).into_iter().flatten() {
            let name = str_field(h, "name").unwrap_or("").to_ascii_lowercase();
            // "If multiple entries specify equivalent header names, only the first entry with an equivalent name
            // MUST be considered for a match."
            if headers.iter().any(|c| c.name == name) {
                dropped_headers += 1;
                continue;
            }
            headers.push(ValueCond {
                name,
                value: str_field(h, "value").unwrap_or("").to_string(),
                regex: str_field(h, "type") == Some("RegularExpression"),
            });
        }
        let mut query: Vec<ValueCond> = Vec::new();
        for q in m.get("queryParams").and_then(Value::as_array).into_iter().flatten() {
            let name = str_field(q, "name").unwrap_or("").to_string();
            if query.iter().any(|c| c.name == name) {
                continue;
            }
            query.push(ValueCond {
                name,
                value: str_field(q, "value").unwrap_or("").to_string(),
                regex: str_field(q, "type") == Some("RegularExpression"),
            });
        }
        MatchCond {
            path,
            method: str_field(m, "method").map(str::to_string),
            headers,
            query,
            dropped_headers,
        }
    }

    /// See [`PrecedenceKey`].
    pub fn key(&self) -> PrecedenceKey {
        (
            self.path.rank(),
            self.path.length(),
            self.method.is_some(),
            self.headers.len(),
            self.query.len(),
        )
    }

    /// The conditions as a set, for "are these two matches the same": path normalised, headers and query
    /// params in any order.
    pub fn normalised(&self) -> (PathCond, Option<String>, BTreeSet<ValueCond>, BTreeSet<ValueCond>) {
        (
            self.path.normalised(),
            self.method.clone(),
            self.headers.iter().cloned().collect(),
            self.query.iter().cloned().collect(),
        )
    }

    /// Matches everything (the default rule).
    pub fn is_catch_all(&self) -> bool {
        self.path.normalised() == PathCond::Prefix("/".into())
            && self.method.is_none()
            && self.headers.is_empty()
            && self.query.is_empty()
    }

    /// "path PathPrefix / + header end-user=jason".
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("path {} {}", self.path.type_name(), self.path.value())];
        if let Some(m) = &self.method {
            parts.push(format!("method {m}"));
        }
        parts.extend(self.headers.iter().map(|h| format!("header {}", h.describe('='))));
        parts.extend(self.query.iter().map(|q| format!("query {}", q.describe('='))));
        parts.join(" + ")
    }

    /// Whether `req` satisfies every condition.
    pub fn eval(&self, req: &HttpRequest) -> Tri {
        let mut unknown: Option<String> = None;
        let mut parts = vec![self.path.eval(&req.path)];
        if let Some(m) = &self.method {
            parts.push(Tri::from_bool(&req.method == m, || format!("method is not {m}")));
        }
        for h in &self.headers {
            parts.push(match req.header(&h.name) {
                None => Tri::No(format!("no header {}", h.name)),
                Some(v) if h.regex => full_match(&h.value, v, &format!("header {}", h.name)),
                Some(v) => Tri::from_bool(v == h.value, || format!("header {} is not {:?}", h.name, h.value)),
            });
        }
        for q in &self.query {
            parts.push(match req.query_param(&q.name) {
                None => Tri::No(format!("no query param {}", q.name)),
                Some(v) if q.regex => full_match(&q.value, v, &format!("query param {}", q.name)),
                Some(v) => Tri::from_bool(v == q.value, || format!("query param {} is not {:?}", q.name, q.value)),
            });
        }
        for p in parts {
            match p {
                Tri::No(why) => return Tri::No(why),
                Tri::Unknown(why) => {
                    unknown.get_or_insert(why);
                }
                Tri::Yes => {}
            }
        }
        match unknown {
            Some(why) => Tri::Unknown(why),
            None => Tri::Yes,
        }
    }
}

/// Yes, no (and why not), or cannot tell (and why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tri {
    Yes,
    No(String),
    Unknown(String),
}

impl Tri {
    fn from_bool(ok: bool, why_not: impl FnOnce() -> String) -> Tri {
        if ok {
            Tri::Yes
        } else {
            Tri::No(why_not())
        }
    }
}

/// Whether `value` matches the whole of `pattern` (Envoy's `RE2::FullMatch`).
fn full_match(pattern: &str, value: &str, what: &str) -> Tri {
    match regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
    {
        Ok(re) => Tri::from_bool(re.is_match(value), || format!("{what} does not match regex {pattern}")),
        Err(_) => Tri::Unknown(format!(
            "{what}: regex {pattern:?} is not evaluated here (RE2 syntax Rust's regex does not accept)"
        )),
    }
}

/// The request `explain` asks about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpRequest {
    pub method: String,
    /// Without the query string.
    pub path: String,
    /// Names lowercased, each at most once.
    pub headers: Vec<(String, String)>,
    /// In request order (a name may repeat; the first value is the one matched).
    pub query: Vec<(String, String)>,
    /// The Service port the request is sent to (`None`: the Service's route port).
    pub port: Option<i32>,
}

impl HttpRequest {
    pub fn header(&self, lowercase_name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == lowercase_name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query param ("it is *recommended* that implementations should match against the
    /// first value of the param").
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The matches of a rule after defaulting: an absent, null or empty `matches` is the catch-all ("If no matches
/// are specified, the default is a prefix path match on "/"").
pub fn rule_matches(rule: &Value) -> Vec<MatchCond> {
    match rule.get("matches").and_then(Value::as_array) {
        Some(ms) if !ms.is_empty() => ms.iter().map(MatchCond::from_value).collect(),
        _ => vec![MatchCond::catch_all()],
    }
}

/// A route's `metadata.creationTimestamp` (RFC 3339 sorts as text); absent sorts last (a file not yet applied is
/// newer than anything stored).
pub fn creation_key(route: &Value) -> (bool, String) {
    match route.pointer("/metadata/creationTimestamp").and_then(Value::as_str) {
        Some(t) => (
            false,
            t.parse::<jiff::Timestamp>()
                .map(|ts| ts.to_string())
                .unwrap_or_else(|_| t.to_string()),
        ),
        None => (true, String::new()),
    }
}

/// Routes in precedence tie order: oldest first, then `{namespace}/{name}`.
pub fn tie_order<'a>(routes: impl IntoIterator<Item = &'a Value>) -> Vec<&'a Value> {
    let mut v: Vec<&Value> = routes.into_iter().collect();
    v.sort_by_cached_key(|r| {
        let ns = r.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        let name = r.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        (creation_key(r), format!("{ns}/{name}"))
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prefix_matching_is_element_wise_and_ignores_a_trailing_slash() {
        let p = PathCond::Prefix("/abc".into());
        for (path, ok) in [
            ("/abc", true),
            ("/abc/", true),
            ("/abc/def", true),
            ("/abcd", false),
            ("/Abc", false),
        ] {
            assert_eq!(p.eval(path) == Tri::Yes, ok, "{path}");
        }
        let p = PathCond::Prefix("/v2/".into());
        for (path, ok) in [("/v2", true), ("/v2/", true), ("/v2/a", true), ("/v2example", false)] {
            assert_eq!(p.eval(path) == Tri::Yes, ok, "{path}");
        }
        assert_eq!(p.length(), 3);
        assert_eq!(PathCond::Prefix("/".into()).length(), 1);
    }

    #[test]
    fn exact_is_exact_and_case_sensitive() {
        // "an exact path match on /abc will only match requests to /abc, NOT /abc/, /Abc, or /abcd."
        let p = PathCond::Exact("/abc".into());
        assert_eq!(p.eval("/abc"), Tri::Yes);
        for path in ["/abc/", "/Abc", "/abcd"] {
            assert!(matches!(p.eval(path), Tri::No(_)), "{path}");
        }
    }

    #[test]
    fn defaults_apply_to_undefaulted_matches() {
        let m = MatchCond::from_value(&json!({"headers": [{"name": "End-User", "value": "jason"}]}));
        assert_eq!(m.path, PathCond::Prefix("/".into()));
        assert_eq!(m.headers[0].name, "end-user");
        assert!(!m.headers[0].regex);
        assert_eq!(rule_matches(&json!({})), vec![MatchCond::catch_all()]);
        assert_eq!(rule_matches(&json!({"matches": []})), vec![MatchCond::catch_all()]);
        assert!(rule_matches(&json!({"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}))[0].is_catch_all());
    }

    #[test]
    fn regex_is_a_full_match_and_unknown_syntax_is_unknown() {
        assert_eq!(full_match("v[0-9]+", "v12", "h"), Tri::Yes);
        assert!(matches!(full_match("v[0-9]+", "xv12", "h"), Tri::No(_)));
        assert!(matches!(full_match("v[0-9]+", "v1x", "h"), Tri::No(_)));
        assert!(matches!(full_match(r"\Qa.b\E", "a.b", "h"), Tri::Unknown(_)));
    }

    #[test]
    fn ties_sort_by_creation_then_namespace_and_name() {
        let a =
            json!({"metadata": {"name": "b-route", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"}});
        let b =
            json!({"metadata": {"name": "a-route", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"}});
        let c = json!({"metadata": {"name": "0-old", "namespace": "ns", "creationTimestamp": "2025-01-01T00:00:00Z"}});
        let d = json!({"metadata": {"name": "0-file", "namespace": "ns"}});
        let order: Vec<&str> = tie_order([&d, &a, &b, &c])
            .into_iter()
            .map(|r| r["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(order, vec!["0-old", "a-route", "b-route", "0-file"]);
    }
}
