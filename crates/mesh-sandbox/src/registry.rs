//! The resource-type registry: which kinds the sandbox API server serves, and the discovery documents
//! (`/api`, `/apis`, `/apis/{g}/{v}`) that kubectl and kube-rs read before any other request.
//!
//! Built-in kinds are fixed; custom kinds appear when a CustomResourceDefinition is stored and vanish when
//! it is deleted, like on a real cluster (a cluster without the Gateway API CRDs answers 404 for HTTPRoutes).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::schema::CrdSchema;

/// One served version of a CustomResourceDefinition: what the schema hook needs to default, prune and
/// validate an object of that version.
#[derive(Debug, Clone, PartialEq)]
pub struct CrdVersion {
    /// API group, e.g. `gateway.networking.k8s.io`.
    pub group: String,
    /// Kind, e.g. `HTTPRoute`.
    pub kind: String,
    /// Plural resource name, e.g. `httproutes`.
    pub plural: String,
    /// Version name, e.g. `v1`.
    pub version: String,
    /// The structural schema of that version (`schema.openAPIV3Schema`), if present and well-formed.
    pub schema: Option<Arc<CrdSchema>>,
    /// Whether the version declares the `status` subresource.
    pub status_subresource: bool,
    /// Annotations of the CRD object (e.g. `gateway.networking.k8s.io/bundle-version`).
    pub annotations: serde_json::Map<String, Value>,
    /// `additionalPrinterColumns` of the version (what `kubectl get` shows besides NAME).
    pub printer_columns: Vec<Value>,
}

/// A resource type served by the sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group (`""` for core).
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Pod`.
    pub kind: String,
    /// Plural (the URL segment), e.g. `pods`.
    pub plural: String,
    /// Singular name, e.g. `pod`.
    pub singular: String,
    /// Short names, e.g. `po`.
    pub short_names: Vec<String>,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Verbs of the main resource.
    pub verbs: Vec<String>,
    /// Subresources, e.g. `status`, `eviction`.
    pub subresources: Vec<String>,
    /// Categories (`all` makes `kubectl get all` include the kind).
    pub categories: Vec<String>,
    /// Set for custom resources: the CRD version this type serves.
    pub crd: Option<CrdVersion>,
}

impl ResourceType {
    /// `apiVersion` value of objects of this type (`v1`, `apps/v1`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` as real API server messages name it (`pods`, `httproutes.gateway.networking.k8s.io`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether writes to the main resource must leave `.status` alone.
    pub fn has_status(&self) -> bool {
        self.subresources.iter().any(|s| s == "status")
    }

    /// Custom resources only accept JSON/merge/apply patches.
    pub fn is_custom(&self) -> bool {
        self.crd.is_some()
    }

    /// Present a stored object at this type's version (`apiVersion` rewritten when it differs), as an API
    /// server converts objects to the version a request names.
    pub fn present(&self, obj: &mut Value) {
        let same = match obj.get("apiVersion").and_then(Value::as_str) {
            Some(av) => match av.split_once('/') {
                Some((g, v)) => g == self.group && v == self.version,
                None => self.group.is_empty() && av == self.version,
            },
            None => false,
        };
        if !same && obj.is_object() {
            obj["apiVersion"] = json!(self.api_version());
        }
    }

    /// Whether the verb is allowed on the main resource.
    pub fn allows(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    fn discovery_entries(&self) -> Vec<Value> {
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs,
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            main["categories"] = json!(self.categories);
        }
        let mut out = vec![main];
        for sub in &self.subresources {
            let (kind, group, version, verbs) = match sub.as_str() {
                "status" => (self.kind.as_str(), None, None, vec!["get", "patch", "update"]),
                "eviction" => ("Eviction", Some("policy"), Some("v1"), vec!["create"]),
                "portforward" => ("PodPortForwardOptions", None, None, vec!["create", "get"]),
                "scale" => ("Scale", Some("autoscaling"), Some("v1"), vec!["get", "patch", "update"]),
                _ => (self.kind.as_str(), None, None, vec!["get"]),
            };
            let mut e = json!({
                "name": format!("{}/{}", self.plural, sub),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": kind,
                "verbs": verbs,
            });
            if let (Some(g), Some(v)) = (group, version) {
                e["group"] = json!(g);
                e["version"] = json!(v);
            }
            out.push(e);
        }
        out
    }
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    short: &[&str],
    namespaced: bool,
    subresources: &[&str],
    all: bool,
) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        short_names: short.iter().map(|s| s.to_string()).collect(),
        namespaced,
        verbs: ALL_VERBS.iter().map(|s| s.to_string()).collect(),
        subresources: subresources.iter().map(|s| s.to_string()).collect(),
        categories: if all { vec!["all".into()] } else { vec![] },
        crd: None,
    }
}

/// The set of served resource types.
#[derive(Debug, Clone)]
pub struct Registry {
    types: Vec<ResourceType>,
    /// The types of each CRD by name, with the resourceVersion they were built from (a CRD write re-registers
    /// every CRD; unchanged ones keep their types).
    crd_types: std::collections::HashMap<String, (Value, Vec<ResourceType>)>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Registry {
    /// The built-in kinds (core, apps, discovery, policy, apiextensions, admissionregistration,
    /// authorization, and Istio's own CRD kinds treated as always installed).
    pub fn builtin() -> Self {
        let mut types = vec![
            builtin("", "v1", "Namespace", "namespaces", &["ns"], false, &["status"], false),
            builtin(
                "",
                "v1",
                "Pod",
                "pods",
                &["po"],
                true,
                &["status", "eviction", "portforward"],
                true,
            ),
            builtin("", "v1", "Service", "services", &["svc"], true, &["status"], true),
            builtin("", "v1", "Endpoints", "endpoints", &["ep"], true, &[], false),
            builtin("", "v1", "ConfigMap", "configmaps", &["cm"], true, &[], false),
            builtin("", "v1", "Secret", "secrets", &[], true, &[], false),
            builtin("", "v1", "ServiceAccount", "serviceaccounts", &["sa"], true, &[], false),
            builtin("", "v1", "Event", "events", &["ev"], true, &[], false),
            builtin("", "v1", "Node", "nodes", &["no"], false, &["status"], false),
            builtin(
                "apps",
                "v1",
                "Deployment",
                "deployments",
                &["deploy"],
                true,
                &["status", "scale"],
                true,
            ),
            builtin(
                "apps",
                "v1",
                "ReplicaSet",
                "replicasets",
                &["rs"],
                true,
                &["status", "scale"],
                true,
            ),
            builtin(
                "apps",
                "v1",
                "StatefulSet",
                "statefulsets",
                &["sts"],
                true,
                &["status", "scale"],
                true,
            ),
            builtin(
                "apps",
                "v1",
                "DaemonSet",
                "daemonsets",
                &["ds"],
                true,
                &["status"],
                true,
            ),
            builtin(
                "discovery.k8s.io",
                "v1",
                "EndpointSlice",
                "endpointslices",
                &[],
                true,
                &[],
                false,
            ),
            builtin(
                "policy",
                "v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
                &["pdb"],
                true,
                &["status"],
                false,
            ),
            builtin(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
                &["crd", "crds"],
                false,
                &["status"],
                false,
            ),
            builtin(
                "admissionregistration.k8s.io",
                "v1",
                "MutatingWebhookConfiguration",
                "mutatingwebhookconfigurations",
                &[],
                false,
                &[],
                false,
            ),
            builtin(
                "admissionregistration.k8s.io",
                "v1",
                "ValidatingWebhookConfiguration",
                "validatingwebhookconfigurations",
                &[],
                false,
                &[],
                false,
            ),
            builtin(
                "security.istio.io",
                "v1",
                "PeerAuthentication",
                "peerauthentications",
                &["pa"],
                true,
                &["status"],
                false,
            ),
            builtin(
                "security.istio.io",
                "v1",
                "AuthorizationPolicy",
                "authorizationpolicies",
                &["ap"],
                true,
                &["status"],
                false,
            ),
            builtin(
                "networking.istio.io",
                "v1",
                "DestinationRule",
                "destinationrules",
                &["dr"],
                true,
                &["status"],
                false,
            ),
            builtin(
                "networking.istio.io",
                "v1",
                "VirtualService",
                "virtualservices",
                &["vs"],
                true,
                &["status"],
                false,
            ),
            builtin(
                "networking.istio.io",
                "v1",
                "Gateway",
                "gateways",
                &["gw"],
                true,
                &["status"],
                false,
            ),
        ];
        // Istio 1.26 serves its security kinds at v1 and v1beta1 and its networking kinds at v1, v1beta1 and
        // v1alpha3; objects are the same whichever version is asked for (v1 is the storage version).
        let istio_older: Vec<ResourceType> = types
            .iter()
            .filter(|t| t.group.ends_with(".istio.io"))
            .flat_map(|t| {
                let older: &[&str] = if t.group == "networking.istio.io" {
                    &["v1beta1", "v1alpha3"]
                } else {
                    &["v1beta1"]
                };
                older.iter().map(move |v| ResourceType {
                    version: v.to_string(),
                    ..t.clone()
                })
            })
            .collect();
        types.extend(istio_older);
        let mut ssar = builtin(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            &[],
            false,
            &[],
            false,
        );
        ssar.verbs = vec!["create".into()];
        types.push(ssar);
        Registry {
            types,
            crd_types: Default::default(),
        }
    }

    /// All served types.
    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    /// Find the type served at `group/version/plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// Find a type by plural (or kind, singular, short name), any group; the first group wins, built-ins first.
    pub fn resolve(&self, name: &str) -> Option<&ResourceType> {
        let lower = name.to_ascii_lowercase();
        let (res, group) = match lower.split_once('.') {
            Some((r, g)) => (r.to_string(), Some(g.to_string())),
            None => (lower, None),
        };
        self.types.iter().find(|t| {
            group.as_ref().is_none_or(|g| &t.group == g)
                && (t.plural == res
                    || t.singular == res
                    || t.kind.eq_ignore_ascii_case(&res)
                    || t.short_names.contains(&res))
        })
    }

    /// Find a type by `apiVersion` and `kind`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        let (group, version) = split_api_version(api_version);
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
    }

    /// Replace the custom types with those served by the given CRD objects.
    pub fn sync_crds<'a>(&mut self, crds: impl Iterator<Item = &'a Value>) {
        self.types.retain(|t| t.crd.is_none());
        let mut kept = std::collections::HashMap::new();
        for crd in crds {
            let name = crd["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let rv = crd["metadata"]["resourceVersion"].clone();
            let types = match self.crd_types.remove(&name) {
                Some((have, types)) if have == rv && !rv.is_null() => types,
                _ => types_from_crd(crd),
            };
            self.types.extend(types.iter().cloned());
            kept.insert(name, (rv, types));
        }
        self.crd_types = kept;
    }

    /// `/api` document.
    pub fn api_versions(&self, server_address: &str) -> Value {
        json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        })
    }

    /// `/apis` document (APIGroupList).
    pub fn api_group_list(&self) -> Value {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.types.iter().filter(|t| !t.group.is_empty()) {
            match groups.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => groups.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        let groups: Vec<Value> = groups
            .into_iter()
            .map(|(name, mut versions)| {
                versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
                let preferred = versions.first().cloned().unwrap_or_default();
                json!({
                    "name": name,
                    "versions": versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect::<Vec<_>>(),
                    "preferredVersion": {"groupVersion": format!("{name}/{preferred}"), "version": preferred},
                })
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `/api/v1` or `/apis/{g}/{v}` document (APIResourceList); `None` when nothing is served there.
    pub fn api_resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let resources: Vec<Value> = self
            .types
            .iter()
            .filter(|t| t.group == group && t.version == version)
            .flat_map(|t| t.discovery_entries())
            .collect();
        if resources.is_empty() {
            return None;
        }
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
    }

    /// `/openapi/v3` root: one entry per served group-version, so kubectl finds the per-GV documents.
    pub fn openapi_v3_root(&self) -> Value {
        let mut paths = serde_json::Map::new();
        for t in &self.types {
            let key = if t.group.is_empty() {
                format!("api/{}", t.version)
            } else {
                format!("apis/{}/{}", t.group, t.version)
            };
            let url = format!("/openapi/v3/{key}?hash=sandbox");
            paths.entry(key).or_insert_with(|| json!({"serverRelativeURL": url}));
        }
        json!({"paths": paths})
    }

    /// `/openapi/v3/{api/v1|apis/g/v}`: PATCH operations that carry the GVK and the `fieldValidation`
    /// parameter (kubectl checks these before sending `fieldValidation=Strict`). Schemas are not published,
    /// so kubectl computes apply patches from its built-in types (strategic merge) or as JSON merge patches
    /// for custom resources, as it does for CRDs without published schemas.
    pub fn openapi_v3_group_version(&self, group: &str, version: &str) -> Option<Value> {
        let mut paths = serde_json::Map::new();
        for t in self.types.iter().filter(|t| t.group == group && t.version == version) {
            let prefix = if group.is_empty() {
                format!("/api/{version}")
            } else {
                format!("/apis/{group}/{version}")
            };
            let path = if t.namespaced {
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
            } else {
                format!("{prefix}/{}/{{name}}", t.plural)
            };
            let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
            let content = json!({
                "application/json-patch+json": {"schema": {"type": "object"}},
                "application/merge-patch+json": {"schema": {"type": "object"}},
                "application/apply-patch+yaml": {"schema": {"type": "object"}},
            });
            paths.insert(
                path,
                json!({
                    "get": {"x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk, "responses": {"200": {"description": "OK"}}},
                    "patch": {"x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk,
                        "parameters": [
                            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                            {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}},
                        ],
                        "requestBody": {"content": content, "required": true},
                        "responses": {"200": {"description": "OK"}}},
                    "parameters": [
                        {"name": "name", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}},
                    ],
                }),
            );
        }
        if paths.is_empty() {
            return None;
        }
        Some(json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0-sandbox"},
            "paths": paths,
            "components": {"schemas": {}},
        }))
    }

    /// Whether any type is served in the group (any version).
    pub fn serves_group(&self, group: &str) -> bool {
        self.types.iter().any(|t| t.group == group)
    }
}

/// Kubernetes version priority: v1 > v1beta2 > v1beta1 > v1alpha1.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let rest = v.strip_prefix('v').unwrap_or(v);
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        (3, major, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, major, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, major, n.parse().unwrap_or(0))
    } else {
        (0, major, 0)
    }
}

/// Split `apps/v1` into (`apps`, `v1`) and `v1` into (`""`, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// The resource types a CRD object serves (one per served version).
/// The structural schema of one CRD version, built once per process for the same schema (every CRD write
/// re-registers every CRD, and every test's sandbox installs the same Gateway API CRDs: their patterns and CEL
/// rules are compiled once).
fn schema_of(openapi: &Value, crd_name: &str, version: &str) -> Option<Arc<CrdSchema>> {
    type Cache = std::collections::HashMap<(String, String, u64), Arc<CrdSchema>>;
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Cache>> = std::sync::OnceLock::new();
    let text = serde_json::to_vec(openapi).unwrap_or_default();
    let key = (crd_name.to_string(), version.to_string(), crate::store::fnv(&text));
    let cache = CACHE.get_or_init(Default::default);
    if let Some(s) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        if s.source() == openapi {
            return Some(s.clone());
        }
    }
    let built = Arc::new(CrdSchema::from_openapi(openapi, crd_name, version).ok()?);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, built.clone());
    Some(built)
}

pub fn types_from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default().to_string();
    let names = &spec["names"];
    let plural = names["plural"].as_str().unwrap_or_default().to_string();
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return vec![];
    }
    let singular = names["singular"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let short_names: Vec<String> = names["shortNames"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let categories: Vec<String> = names["categories"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let annotations = crd["metadata"]["annotations"].as_object().cloned().unwrap_or_default();
    let crd_name = crd["metadata"]["name"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    for v in spec["versions"].as_array().map(Vec::as_slice).unwrap_or_default() {
        if v["served"].as_bool() != Some(true) {
            continue;
        }
        let Some(version) = v["name"].as_str() else {
            continue;
        };
        let status_subresource = v["subresources"]["status"].is_object();
        let mut subresources = Vec::new();
        if status_subresource {
            subresources.push("status".to_string());
        }
        out.push(ResourceType {
            group: group.clone(),
            version: version.to_string(),
            kind: kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            short_names: short_names.clone(),
            namespaced,
            verbs: ALL_VERBS.iter().map(|s| s.to_string()).collect(),
            subresources,
            categories: categories.clone(),
            crd: Some(CrdVersion {
                group: group.clone(),
                kind: kind.clone(),
                plural: plural.clone(),
                version: version.to_string(),
                schema: v["schema"]["openAPIV3Schema"]
                    .is_object()
                    .then(|| schema_of(&v["schema"]["openAPIV3Schema"], crd_name, version))
                    .flatten(),
                status_subresource,
                annotations: annotations.clone(),
                printer_columns: v["additionalPrinterColumns"].as_array().cloned().unwrap_or_default(),
            }),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferred_version_is_the_stable_one() {
        let mut r = Registry::builtin();
        let crd = json!({"metadata": {"name": "foos.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "foos", "kind": "Foo"},
            "versions": [{"name": "v1beta1", "served": true}, {"name": "v1", "served": true}, {"name": "v0", "served": false}]}});
        r.sync_crds(std::iter::once(&crd));
        let list = r.api_group_list();
        let g = list["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "example.com")
            .unwrap();
        assert_eq!(g["preferredVersion"]["version"], "v1");
        assert_eq!(g["versions"].as_array().unwrap().len(), 2);
        assert!(r.find("example.com", "v0", "foos").is_none());
    }

    #[test]
    fn discovery_lists_subresources_like_a_real_server() {
        let r = Registry::builtin();
        let list = r.api_resource_list("", "v1").unwrap();
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"pods/eviction"));
        assert!(names.contains(&"pods/status"));
        assert!(r.api_resource_list("gateway.networking.k8s.io", "v1").is_none());
    }
}
