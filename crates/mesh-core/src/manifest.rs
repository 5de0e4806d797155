//! Manifests from files (`kubectl mesh doctor -f PATH...`): YAML or JSON, several documents per file, each object
//! with the file and line it starts on, recognised by API group and kind, namespaced the way `kubectl apply -f`
//! does it.
//!
//! The binary reads the files (this crate does no IO) and hands over `(display name, text)` pairs. Lines come
//! from `serde_saphyr::Spanned` (1-based, counted from the start of the file across `---` separators); a syntax
//! error is reported with its file, line and column, as `kubectl apply -f` would refuse the file too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use crate::doctor::raw::{Kind, RawLists};
use crate::doctor::{Category, Finding, ResourceRef, Snapshot};

/// A file that cannot be used: its name, where, and why (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file, self.message),
            (l, 0) => write!(f, "{}:{l}: {}", self.file, self.message),
            (l, c) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
        }
    }
}

/// Every file that could not be used (the first problem of each, at most [`MAX_ERRORS`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestErrors(pub Vec<ManifestError>);

/// Problems reported before giving up.
pub const MAX_ERRORS: usize = 20;

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\nerror: "))
    }
}

/// One document of a file (an item of a `kind: List` counts as its own document, at the List's line).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub file: String,
    pub line: usize,
    pub value: Value,
}

/// YAML 1.1 scalars such as `010` arrive as floats; integral floats become integers, so weights and ports read
/// as the API server would store them.
fn integral_numbers(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    *v = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// The message of a parse error without serde-saphyr's location (a `line N column M: ` prefix or an
/// ` at line N, column M` suffix) and source snippet: the location is reported as `file:line:col`.
fn bare_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or("").trim();
    let mut msg = first.strip_prefix("error: ").unwrap_or(first);
    if let Some((loc, rest)) = msg.split_once(": ") {
        if loc.starts_with("line ") && loc.contains(" column ") {
            msg = rest;
        }
    }
    if let Some(at) = msg.rfind(" at line ") {
        if msg[at..].contains(", column ") {
            msg = &msg[..at];
        }
    }
    msg.to_string()
}

/// Parse one file into its documents (empty and comment-only documents are skipped).
pub fn parse_file(file: &str, text: &str) -> Result<Vec<Document>, ManifestError> {
    let docs: Vec<serde_saphyr::Spanned<Value>> = serde_saphyr::from_multiple(text).map_err(|e| {
        let loc = e.location();
        ManifestError {
            file: file.to_string(),
            line: loc.map_or(0, |l| l.line() as usize),
            column: loc.map_or(0, |l| l.column() as usize),
            message: bare_message(&e),
        }
    })?;
    let mut out = Vec::new();
    for d in docs {
        let line = d.referenced.line() as usize;
        let mut value = d.value;
        if value.is_null() {
            continue;
        }
        integral_numbers(&mut value);
        let is_list = value
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"))
            && value.get("items").is_some_and(Value::is_array);
        if is_list {
            if let Some(Value::Array(items)) = value.get_mut("items").map(Value::take) {
                for item in items {
                    out.push(Document {
                        file: file.to_string(),
                        line,
                        value: item,
                    });
                }
            }
            continue;
        }
        out.push(Document {
            file: file.to_string(),
            line,
            value,
        });
    }
    Ok(out)
}

/// The doctor [`Kind`] of an object by its `apiVersion` group and `kind` (any version of the group), so a
/// `networking.istio.io` Gateway is not taken for a Gateway API one. ConfigMaps count only as Istio's
/// `istio-ca-root-cert` (the one doctor reads).
pub fn kind_of(api_version: &str, kind: &str, name: &str) -> Option<Kind> {
    let group = match api_version.split_once('/') {
        Some((g, _)) => g,
        None => "",
    };
    let k = Kind::ALL
        .into_iter()
        .find(|k| k.kind_name() == kind && k.group() == group)?;
    if k == Kind::ConfigMap && name != "istio-ca-root-cert" {
        return None;
    }
    Some(k)
}

/// One object of the files doctor reads.
#[derive(Debug, Clone, PartialEq)]
pub struct FileObject {
    pub kind: Kind,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub name: String,
    pub file: String,
    pub line: usize,
    pub value: Value,
}

impl FileObject {
    fn key(&self) -> (Kind, Option<String>, String) {
        (self.kind, self.namespace.clone(), self.name.clone())
    }
}

/// What one file held.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileSummary {
    pub path: String,
    /// Objects doctor reads.
    pub objects: usize,
    /// Objects of kinds doctor does not read (kept out of the checks).
    pub ignored: usize,
}

/// The same object twice: the later one wins, as `kubectl apply -f` applies in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: String,
    /// (file, line) of the earlier and the later object.
    pub first: (String, usize),
    pub last: (String, usize),
}

/// Every object of the files, namespaced and de-duplicated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileSet {
    /// In file order, duplicates removed (the last one kept, at its own position).
    pub objects: Vec<FileObject>,
    pub files: Vec<FileSummary>,
    pub duplicates: Vec<Duplicate>,
    /// Kinds doctor does not read, as `apiVersion/kind` with how many.
    pub ignored_kinds: BTreeMap<String, usize>,
}

/// How namespaced objects without a namespace get one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceDefault {
    /// `-n` (else the kubeconfig context's namespace, else `default`).
    pub namespace: String,
    /// Whether `-n` was given: then an object in another namespace is an error, as in kubectl.
    pub explicit: bool,
}

/// Parse and gather the files `(name, text)`. Every file's first problem is collected (at most
/// [`MAX_ERRORS`]) before failing.
pub fn load(files: &[(String, String)], ns: &NamespaceDefault) -> Result<FileSet, ManifestErrors> {
    gather(parse_all(files)?, ns)
}

/// The documents of every file, or every file's first syntax error (at most [`MAX_ERRORS`]). Needs nothing but
/// the text, so syntax errors are reported before any cluster is contacted.
pub fn parse_all(files: &[(String, String)]) -> Result<Vec<(String, Vec<Document>)>, ManifestErrors> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (file, text) in files {
        match parse_file(file, text) {
            Ok(docs) => out.push((file.clone(), docs)),
            Err(e) => errors.push(e),
        }
        if errors.len() >= MAX_ERRORS {
            break;
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ManifestErrors(errors))
    }
}

/// Recognise, namespace and de-duplicate parsed documents (see [`load`]).
pub fn gather(parsed: Vec<(String, Vec<Document>)>, ns: &NamespaceDefault) -> Result<FileSet, ManifestErrors> {
    let mut errors = Vec::new();
    let mut set = FileSet::default();
    let mut seen: BTreeMap<(Kind, Option<String>, String), usize> = BTreeMap::new();
    for (file, docs) in parsed {
        let mut summary = FileSummary {
            path: file,
            objects: 0,
            ignored: 0,
        };
        for doc in docs {
            match object(doc, ns) {
                Ok(Some(obj)) => {
                    summary.objects += 1;
                    match seen.get(&obj.key()) {
                        Some(&at) => {
                            let earlier = &set.objects[at];
                            set.duplicates.push(Duplicate {
                                kind: obj.kind,
                                namespace: obj.namespace.clone(),
                                name: obj.name.clone(),
                                first: (earlier.file.clone(), earlier.line),
                                last: (obj.file.clone(), obj.line),
                            });
                            set.objects[at] = obj;
                        }
                        None => {
                            seen.insert(obj.key(), set.objects.len());
                            set.objects.push(obj);
                        }
                    }
                }
                Ok(None) => summary.ignored += 1,
                Err(Ignored(what)) => {
                    summary.ignored += 1;
                    *set.ignored_kinds.entry(what).or_default() += 1;
                }
                Err(Bad(e)) => {
                    errors.push(e);
                    break;
                }
            }
        }
        set.files.push(summary);
        if errors.len() >= MAX_ERRORS {
            break;
        }
    }
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(ManifestErrors(errors))
    }
}

enum Skip {
    /// A kind doctor does not read (`apiVersion/kind`).
    Ignored(String),
    Bad(ManifestError),
}
use Skip::{Bad, Ignored};

fn object(doc: Document, ns: &NamespaceDefault) -> Result<Option<FileObject>, Skip> {
    let err = |message: String| {
        Bad(ManifestError {
            file: doc.file.clone(),
            line: doc.line,
            column: 0,
            message,
        })
    };
    if !doc.value.is_object() {
        return Err(err(
            "not a Kubernetes object (expected a mapping with apiVersion, kind and metadata)".into(),
        ));
    }
    let text = |p: &str| doc.value.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    let (api_version, kind, name) = (text("/apiVersion"), text("/kind"), text("/metadata/name"));
    if api_version.is_empty() {
        return Err(err("object has no apiVersion".into()));
    }
    if kind.is_empty() {
        return Err(err("object has no kind".into()));
    }
    if name.is_empty() {
        let generate = doc.value.pointer("/metadata/generateName").is_some();
        return Err(err(if generate {
            format!(
                "{kind} has metadata.generateName but no name: doctor needs names (kubectl create would generate one)"
            )
        } else {
            format!("{kind} has no metadata.name")
        }));
    }
    let Some(k) = kind_of(&api_version, &kind, &name) else {
        return Err(Ignored(format!("{api_version}/{kind}")));
    };
    let mut value = doc.value.clone();
    let namespace = if k.namespaced() {
        let own = text("/metadata/namespace");
        let chosen = if own.is_empty() {
            ns.namespace.clone()
        } else {
            if ns.explicit && own != ns.namespace {
                // kubectl's words (cli-runtime pkg/resource/visitor.go).
                return Err(err(format!(
                    "the namespace from the provided object {own:?} does not match the namespace {:?}. You must pass '--namespace={own}' to perform this operation.",
                    ns.namespace
                )));
            }
            own
        };
        value["metadata"]["namespace"] = Value::from(chosen.clone());
        Some(chosen)
    } else {
        None
    };
    Ok(Some(FileObject {
        kind: k,
        namespace,
        name,
        file: doc.file,
        line: doc.line,
        value,
    }))
}

/// `files-duplicate-object`.
pub const DUPLICATE_ID: &str = "files-duplicate-object";

impl FileSet {
    /// The namespaces the objects live in (and the namespaces the files define).
    pub fn namespaces(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self.objects.iter().filter_map(|o| o.namespace.clone()).collect();
        out.extend(
            self.objects
                .iter()
                .filter(|o| o.kind == Kind::Namespace)
                .map(|o| o.name.clone()),
        );
        out
    }

    /// The kinds present.
    pub fn kinds(&self) -> BTreeSet<Kind> {
        self.objects.iter().map(|o| o.kind).collect()
    }

    /// The objects as raw lists: every kind listed (possibly empty), as a file-only snapshot needs.
    pub fn raw_lists(&self) -> RawLists {
        let mut raw = RawLists::empty_cluster();
        for kind in Kind::ALL {
            let items: Vec<Value> = self
                .objects
                .iter()
                .filter(|o| o.kind == kind)
                .map(|o| o.value.clone())
                .collect();
            raw.insert(kind, Ok(items));
        }
        raw
    }

    /// A snapshot of the files alone (`--offline`): incomplete, so no check concludes an object is absent.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::from_raw(&self.raw_lists());
        s.source = crate::doctor::SnapshotSource::Files;
        s
    }

    /// Where each object is: (kind name, namespace, name) → (file, line).
    pub fn index(&self) -> FileIndex {
        FileIndex(
            self.objects
                .iter()
                .map(|o| {
                    (
                        (o.kind.kind_name().to_string(), o.namespace.clone(), o.name.clone()),
                        (o.file.clone(), o.line),
                    )
                })
                .collect(),
        )
    }

    /// One warning per object given twice (`files-duplicate-object`), or an ok line.
    pub fn duplicate_findings(&self) -> Vec<Finding> {
        if self.duplicates.is_empty() {
            return vec![Finding::ok(
                DUPLICATE_ID,
                Category::Manifests,
                format!(
                    "no object is given twice ({} in {})",
                    crate::doctor::checks_plural(self.objects.len(), "object"),
                    crate::doctor::checks_plural(self.files.len(), "file")
                ),
            )];
        }
        self.duplicates
            .iter()
            .map(|d| {
                let what = match &d.namespace {
                    Some(ns) => format!("{} {ns}/{}", d.kind.kind_name(), d.name),
                    None => format!("{} {}", d.kind.kind_name(), d.name),
                };
                let r = ResourceRef {
                    kind: d.kind.kind_name().to_string(),
                    namespace: d.namespace.clone(),
                    name: d.name.clone(),
                    file: Some(d.last.0.clone()),
                    line: Some(d.last.1),
                    cluster: None,
                };
                Finding::warning(
                    DUPLICATE_ID,
                    Category::Manifests,
                    format!(
                        "{what} is given twice, at {}:{} and {}:{}: the later one wins (kubectl apply -f applies in order)",
                        d.first.0, d.first.1, d.last.0, d.last.1
                    ),
                )
                .with_hint("keep one copy, or apply the files separately if both are meant")
                .with_resources(vec![r])
            })
            .collect()
    }
}

/// (kind name, namespace, name) → (file, line) of the objects from files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileIndex(pub BTreeMap<(String, Option<String>, String), (String, usize)>);

impl FileIndex {
    /// Give every resource a finding names that comes from the files its `file` and `line` (unless it has one).
    pub fn annotate(&self, findings: &mut [Finding]) {
        for f in findings {
            for r in f.resources.iter_mut().filter(|r| r.file.is_none()) {
                if let Some((file, line)) = self.0.get(&(r.kind.clone(), r.namespace.clone(), r.name.clone())) {
                    r.file = Some(file.clone());
                    r.line = Some(*line);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(n: &str, explicit: bool) -> NamespaceDefault {
        NamespaceDefault {
            namespace: n.into(),
            explicit,
        }
    }

    #[test]
    fn lines_are_absolute_across_documents_and_comment_only_documents_are_skipped() {
        let text = "# comment\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n---\n# only comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  x: |\n    ---\n    y\n";
        let docs = parse_file("f.yaml", text).unwrap();
        let got: Vec<(usize, &str)> = docs
            .iter()
            .map(|d| (d.line, d.value["metadata"]["name"].as_str().unwrap()))
            .collect();
        assert_eq!(got, vec![(3, "a"), (11, "b")]);
        assert_eq!(
            docs[1].value["data"]["x"], "---\ny\n",
            "--- inside a block scalar is text"
        );
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let e = parse_file(
            "m/a.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  x: [a\n",
        )
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line, e.column), ("m/a.yaml", 5, 6));
        assert!(e.message.contains("unclosed bracket"), "{e}");
        assert!(!e.message.contains("line 5"), "no repeated location: {e}");
        assert!(e.to_string().starts_with("m/a.yaml:5:6: "), "{e}");
        let e = parse_file("t.yaml", "kind: x\n\tbad: 1\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse_file("d.yaml", "a: 1\na: 2\n").unwrap_err();
        assert!(e.message.contains("duplicate mapping key"), "{e}");
    }

    #[test]
    fn lists_json_crlf_and_yaml_1_1_numbers() {
        let docs = parse_file(
            "l.json",
            "{\"apiVersion\": \"v1\",\n \"kind\": \"List\", \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"a\"}}, {\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"b\"}}]}\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert!(docs.iter().all(|d| d.line == 1));
        let docs = parse_file("c.yaml", "a: 1\r\nb: 2\r\n---\r\nc: 3\r\n").unwrap();
        assert_eq!(docs[1].line, 4);
        let docs = parse_file("n.yaml", "weight: 010\nport: 9080.0\nx: 1.5\n").unwrap();
        assert_eq!(docs[0].value["weight"].as_u64(), Some(10));
        assert_eq!(docs[0].value["port"].as_u64(), Some(9080));
        assert_eq!(docs[0].value["x"].as_f64(), Some(1.5));
    }

    #[test]
    fn objects_are_recognised_by_group_and_kind_and_namespaced_like_kubectl() {
        let files = vec![(
            "m.yaml".to_string(),
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: istio-gw\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n".to_string(),
        )];
        let set = load(&files, &ns("ctx-ns", false)).unwrap();
        let got: Vec<(Kind, Option<&str>, &str, usize)> = set
            .objects
            .iter()
            .map(|o| (o.kind, o.namespace.as_deref(), o.name.as_str(), o.line))
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::Gateway, Some("ctx-ns"), "gw", 6),
                (Kind::Namespace, None, "shop", 11)
            ]
        );
        assert_eq!(set.files[0].ignored, 2);
        assert_eq!(set.ignored_kinds.get("networking.istio.io/v1/Gateway"), Some(&1));
        assert_eq!(set.objects[0].value["metadata"]["namespace"], "ctx-ns");
    }

    #[test]
    fn an_explicit_namespace_refuses_objects_of_another_like_kubectl() {
        let files = vec![(
            "m.yaml".to_string(),
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: istio-demo\n".to_string(),
        )];
        let e = load(&files, &ns("other", true)).unwrap_err();
        assert_eq!(e.0[0].line, 1);
        assert!(
            e.0[0].message.contains(
                "the namespace from the provided object \"istio-demo\" does not match the namespace \"other\""
            ),
            "{e}"
        );
        assert!(load(&files, &ns("other", false)).is_ok());
    }

    #[test]
    fn objects_without_kind_or_name_are_errors_and_duplicates_keep_the_last() {
        let bad = vec![(
            "b.yaml".to_string(),
            "apiVersion: v1\nkind: Service\nmetadata: {}\n".to_string(),
        )];
        let e = load(&bad, &ns("d", false)).unwrap_err();
        assert!(
            e.to_string().starts_with("b.yaml:1: Service has no metadata.name"),
            "{e}"
        );
        let twice = vec![
            (
                "1.yaml".to_string(),
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec: {ports: [{port: 1}]}\n".to_string(),
            ),
            (
                "2.yaml".to_string(),
                "# x\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec: {ports: [{port: 2}]}\n".to_string(),
            ),
        ];
        let set = load(&twice, &ns("d", false)).unwrap();
        assert_eq!(set.objects.len(), 1);
        assert_eq!(set.objects[0].value["spec"]["ports"][0]["port"], 2);
        let f = set.duplicate_findings();
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("at 1.yaml:1 and 2.yaml:2"), "{}", f[0].message);
        assert_eq!(f[0].resources[0].file.as_deref(), Some("2.yaml"));
    }

    #[test]
    fn every_file_reports_its_first_error() {
        let files = vec![
            ("a.yaml".to_string(), "a: [\n".to_string()),
            (
                "ok.yaml".to_string(),
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n".to_string(),
            ),
            ("b.yaml".to_string(), "x: 1\n  y: 2\n".to_string()),
        ];
        let e = load(&files, &ns("d", false)).unwrap_err();
        let names: Vec<&str> = e.0.iter().map(|e| e.file.as_str()).collect();
        assert_eq!(names, vec!["a.yaml", "b.yaml"]);
    }
}
