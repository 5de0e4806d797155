//! `Status` error bodies with the reasons, codes and messages a real API server answers, so clients
//! (kubectl, kube-rs, our plugin) take the same error paths against the sandbox as against a cluster.

use serde_json::{json, Value};

/// One entry of `details.causes` (e.g. a schema violation on a field).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, `FieldValueTooLong`,
    /// `FieldValueTooMany`, `FieldValueTypeInvalid`, `FieldValueDuplicate`, `FieldValueForbidden`, …
    pub reason: String,
    /// Human message, e.g. `Invalid value: 2000000: spec.rules[0].backendRefs[0].weight in body should be less than or equal to 1000000`.
    pub message: String,
    /// Field path, e.g. `spec.rules[0].backendRefs[0].weight`.
    pub field: String,
}

impl Cause {
    /// Build a cause.
    pub fn new(reason: impl Into<String>, field: impl Into<String>, message: impl Into<String>) -> Self {
        Cause {
            reason: reason.into(),
            message: message.into(),
            field: field.into(),
        }
    }

    fn to_json(&self) -> Value {
        json!({"reason": self.reason, "message": self.message, "field": self.field})
    }
}

/// An API error answered as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Status `reason`.
    pub reason: String,
    /// Status `message`.
    pub message: String,
    /// Status `details` (name, group, kind, causes), if any.
    pub details: Option<Box<Value>>,
    /// `Retry-After` seconds, if any.
    pub retry_after: Option<u32>,
    /// `metadata.continue` of the Status (the 410 of an expired continue token carries one to resume with).
    pub list_continue: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// Any status.
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.into(),
            message: message.into(),
            details: None,
            retry_after: None,
            list_continue: None,
        }
    }

    fn with_details(mut self, name: &str, group: &str, kind: &str) -> Self {
        let mut d = json!({});
        if !name.is_empty() {
            d["name"] = json!(name);
        }
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        d["kind"] = json!(kind);
        self.details = Some(Box::new(d));
        self
    }

    /// 404 `pods "x" not found`.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        let q = qualified(group, plural);
        ApiError::new(404, "NotFound", format!("{q} \"{name}\" not found")).with_details(name, group, plural)
    }

    /// 404 for a path nothing serves (`the server could not find the requested resource`).
    pub fn no_route() -> Self {
        let mut e = ApiError::new(404, "NotFound", "the server could not find the requested resource");
        e.details = Some(Box::new(json!({})));
        e
    }

    /// 409 `pods "x" already exists`.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        let q = qualified(group, plural);
        ApiError::new(409, "AlreadyExists", format!("{q} \"{name}\" already exists")).with_details(name, group, plural)
    }

    /// 409 optimistic-concurrency conflict with the real message.
    pub fn conflict(group: &str, plural: &str, name: &str) -> Self {
        let q = qualified(group, plural);
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {q} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
        .with_details(name, group, plural)
    }

    /// 422 Invalid with causes: `HTTPRoute.gateway.networking.k8s.io "x" is invalid: [a, b]`.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let qk = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let joined: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
        let msg = if joined.len() == 1 {
            format!("{qk} \"{name}\" is invalid: {}", joined[0])
        } else {
            format!("{qk} \"{name}\" is invalid: [{}]", joined.join(", "))
        };
        let mut e = ApiError::new(422, "Invalid", msg).with_details(name, group, kind);
        if let Some(d) = e.details.as_mut() {
            d["causes"] = Value::Array(causes.iter().map(Cause::to_json).collect());
        }
        e
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(verb: &str, qualified: &str) -> Self {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{verb} is not supported on resources of kind \"{qualified}\""),
        )
    }

    /// 415 UnsupportedMediaType for a patch type the resource does not accept.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        let mut e = ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})"),
        );
        e.details = Some(Box::new(json!({})));
        e
    }

    /// 415 for a patch type the resource does not take (strategic merge on a custom resource), worded as
    /// kube-apiserver words it.
    pub fn unsupported_patch_type() -> Self {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        )
    }

    /// 410 Gone / Expired (stale continue token or watch resourceVersion).
    pub fn gone(message: impl Into<String>) -> Self {
        ApiError::new(410, "Expired", message)
    }

    /// 403 Forbidden with the real RBAC message.
    pub fn forbidden(user: &str, verb: &str, group: &str, resource: &str, name: &str, namespace: Option<&str>) -> Self {
        let head = if name.is_empty() {
            resource.to_string()
        } else {
            format!("{resource} \"{name}\"")
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let q = resource.split('/').next().unwrap_or(resource);
        ApiError::new(
            403,
            "Forbidden",
            format!("{head} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}"),
        )
        .with_details(name, group, q)
    }

    /// The `Status` JSON body.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        });
        // kube-apiserver leaves `reason` out when it has none (e.g. the 500 of a server-side apply that
        // names a field the schema lacks).
        if !self.reason.is_empty() {
            s["reason"] = json!(self.reason);
        }
        if let Some(c) = &self.list_continue {
            s["metadata"]["continue"] = json!(c);
        }
        if let Some(d) = &self.details {
            s["details"] = (**d).clone();
        }
        if let Some(r) = self.retry_after {
            let d = s["details"].as_object().cloned().unwrap_or_default();
            s["details"] = Value::Object(d);
            s["details"]["retryAfterSeconds"] = json!(r);
        }
        s["code"] = json!(self.code);
        s
    }
}

/// `plural` or `plural.group`.
pub fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

/// A success `Status` (what DELETE of some kinds and evictions answer).
pub fn success_status(code: u16) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_message_matches_the_api_server() {
        let e = ApiError::conflict("gateway.networking.k8s.io", "httproutes", "reviews");
        assert_eq!(
            e.message,
            "Operation cannot be fulfilled on httproutes.gateway.networking.k8s.io \"reviews\": the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!(e.to_status()["code"], 409);
    }

    #[test]
    fn forbidden_message_matches_rbac() {
        let e = ApiError::forbidden("test", "list", "", "pods", "", Some("istio-demo"));
        assert_eq!(
            e.message,
            "pods is forbidden: User \"test\" cannot list resource \"pods\" in API group \"\" in the namespace \"istio-demo\""
        );
    }
}
