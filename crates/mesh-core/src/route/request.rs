//! Validated requests for the route planners.
//!
//! Arguments arrive as typed strings; these constructors check them once (weights, names,
//! header syntax the API server would reject with 422) so planners never see raw input.

use super::error::UsageError;
use super::RouteKind;
use crate::names::check_dns1123_label;

/// The header `route-user` matches on unless `--header` says otherwise.
pub const DEFAULT_USER_HEADER: &str = "end-user";

/// A validated `kubectl mesh shift` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftRequest {
    pub service: String,
    /// (version, percent); percents sum to at most 100.
    pub weights: Vec<(String, u32)>,
    pub route_name: Option<String>,
    pub force: bool,
    pub create_backends: bool,
    /// `--kind`: which route kind to edit (`None`: the one that attaches).
    pub kind: Option<RouteKind>,
    /// The caller only prints a patch (`--emit-patch`): a GitOps-managed route is not refused.
    pub gitops_ok: bool,
}

impl ShiftRequest {
    /// Validate `SERVICE` and `VERSION=PERCENT` arguments; flags default to off.
    pub fn new(service: &str, weight_args: &[String]) -> Result<ShiftRequest, UsageError> {
        validate_dns_label(service)?;
        let weights = parse_weights(weight_args)?;
        for (v, _) in &weights {
            validate_dns_label(&format!("{service}-{v}"))?;
        }
        Ok(ShiftRequest {
            service: service.to_string(),
            weights,
            route_name: None,
            force: false,
            create_backends: false,
            kind: None,
            gitops_ok: false,
        })
    }
}

/// Parse `v1=90 v3=10`: whole percents 0..=100, sum at most 100, versions unique DNS-1123 labels.
pub fn parse_weights(args: &[String]) -> Result<Vec<(String, u32)>, UsageError> {
    if args.is_empty() {
        return Err(UsageError::NoWeights);
    }
    let mut out: Vec<(String, u32)> = Vec::with_capacity(args.len());
    for arg in args {
        let Some((version, value)) = arg.split_once('=') else {
            return Err(UsageError::MalformedWeight { arg: arg.clone() });
        };
        let version = version.trim();
        let value = value.trim();
        if version.is_empty() {
            return Err(UsageError::EmptyVersion { arg: arg.clone() });
        }
        validate_dns_label(version)?;
        let value = value.strip_suffix('%').unwrap_or(value);
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(UsageError::NotANumber {
                arg: arg.clone(),
                value: value.to_string(),
            });
        }
        let n: u64 = value.parse().unwrap_or(u64::MAX);
        if n > 100 {
            return Err(UsageError::OutOfRange {
                arg: arg.clone(),
                value: n,
            });
        }
        if out.iter().any(|(v, _)| v == version) {
            return Err(UsageError::RepeatedVersion {
                version: version.to_string(),
            });
        }
        out.push((version.to_string(), n as u32));
    }
    let sum: u32 = out.iter().map(|(_, w)| w).sum();
    if sum > 100 {
        return Err(UsageError::SumOver100 { sum });
    }
    Ok(out)
}

/// A Service name (or a version that becomes part of one) must be a DNS-1123 label
/// ([`crate::names::check_dns1123_label`], the one checker).
pub fn validate_dns_label(name: &str) -> Result<(), UsageError> {
    check_dns1123_label(name).map_err(|reason| UsageError::InvalidServiceName {
        name: name.to_string(),
        reason,
    })
}

/// Gateway API header match name: `^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$`, at most 256 characters.
pub fn validate_header_name(name: &str) -> Result<(), UsageError> {
    let bad = |reason: &str| {
        Err(UsageError::InvalidHeaderName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 256 {
        return bad("it is longer than 256 characters");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(*c)))
    {
        return bad(&format!("{c:?} is not allowed in a header name"));
    }
    Ok(())
}

/// Header match value: non-empty, at most 4096 characters, no CR/LF/NUL or control characters.
pub fn validate_header_value(value: &str) -> Result<(), UsageError> {
    let bad = |reason: &str| {
        Err(UsageError::InvalidHeaderValue {
            value: value.to_string(),
            reason: reason.to_string(),
        })
    };
    if value.is_empty() {
        return bad("it is empty");
    }
    if value.chars().count() > 4096 {
        return bad("it is longer than 4096 characters");
    }
    if value.chars().any(|c| c.is_control()) {
        return bad("control characters (CR, LF, NUL, …) are not allowed");
    }
    Ok(())
}

/// A validated `kubectl mesh route-user` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteUserRequest {
    pub service: String,
    pub user: String,
    /// Target version; `None` only with `remove`.
    pub version: Option<String>,
    pub header: String,
    pub remove: bool,
    pub route_name: Option<String>,
    pub force: bool,
    pub create_backends: bool,
    /// `--kind`.
    pub kind: Option<RouteKind>,
    /// `--emit-patch`: a GitOps-managed route is not refused.
    pub gitops_ok: bool,
}

/// A validated `kubectl mesh undo` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRequest {
    pub service: String,
    /// `--to-revision N` (`None`: the revision before the current one).
    pub to_revision: Option<u64>,
    pub route_name: Option<String>,
    pub kind: Option<RouteKind>,
    /// Skip the readiness check and controller/GitOps refusals (existence is always checked).
    pub force: bool,
    /// `--emit-patch`.
    pub gitops_ok: bool,
    /// Restoring what served traffic moments ago (`--rollback-on-failure`): readiness is not enforced, existence
    /// still is.
    pub skip_ready: bool,
}

impl RestoreRequest {
    /// Validate SERVICE; flags default to off.
    pub fn new(service: &str, to_revision: Option<u64>) -> Result<RestoreRequest, UsageError> {
        validate_dns_label(service)?;
        Ok(RestoreRequest {
            service: service.to_string(),
            to_revision,
            route_name: None,
            kind: None,
            force: false,
            gitops_ok: false,
            skip_ready: false,
        })
    }
}

impl RouteUserRequest {
    /// Validate SERVICE, USER (header value), VERSION and HEADER; other flags default to off.
    pub fn new(
        service: &str,
        user: &str,
        version: Option<&str>,
        header: Option<&str>,
        remove: bool,
    ) -> Result<RouteUserRequest, UsageError> {
        validate_dns_label(service)?;
        validate_header_value(user)?;
        let header = header.unwrap_or(DEFAULT_USER_HEADER);
        validate_header_name(header)?;
        match version {
            Some(v) => {
                validate_dns_label(v)?;
                validate_dns_label(&format!("{service}-{v}"))?;
            }
            None if !remove => return Err(UsageError::MissingVersion { user: user.to_string() }),
            None => {}
        }
        Ok(RouteUserRequest {
            service: service.to_string(),
            user: user.to_string(),
            version: version.map(str::to_string),
            header: header.to_string(),
            remove,
            route_name: None,
            force: false,
            create_backends: false,
            kind: None,
            gitops_ok: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn weights_parse_in_order() {
        assert_eq!(
            parse_weights(&args(&["v1=90", "v3=10"])).unwrap(),
            vec![("v1".to_string(), 90), ("v3".to_string(), 10)]
        );
        assert_eq!(parse_weights(&args(&["v3=20"])).unwrap(), vec![("v3".to_string(), 20)]);
        assert_eq!(
            parse_weights(&args(&["v1=0", "v2=100"])).unwrap(),
            vec![("v1".to_string(), 0), ("v2".to_string(), 100)]
        );
    }

    #[test]
    fn weights_reject_bad_input_with_clear_errors() {
        type Case = (&'static [&'static str], fn(&UsageError) -> bool);
        let cases: &[Case] = &[
            (&[], |e| matches!(e, UsageError::NoWeights)),
            (&["v1"], |e| matches!(e, UsageError::MalformedWeight { .. })),
            (&["=50"], |e| matches!(e, UsageError::EmptyVersion { .. })),
            (&["v1=abc"], |e| matches!(e, UsageError::NotANumber { .. })),
            (&["v1=-5"], |e| matches!(e, UsageError::NotANumber { .. })),
            (&["v1=1.5"], |e| matches!(e, UsageError::NotANumber { .. })),
            (&["v1="], |e| matches!(e, UsageError::NotANumber { .. })),
            (&["v1=101"], |e| matches!(e, UsageError::OutOfRange { value: 101, .. })),
            (&["v1=99999999999999999999999"], |e| {
                matches!(e, UsageError::OutOfRange { .. })
            }),
            (&["v1=60", "v2=50"], |e| {
                matches!(e, UsageError::SumOver100 { sum: 110 })
            }),
            (&["v1=10", "v1=20"], |e| matches!(e, UsageError::RepeatedVersion { .. })),
            (&["V1=10"], |e| matches!(e, UsageError::InvalidServiceName { .. })),
            (&["v_1=10"], |e| matches!(e, UsageError::InvalidServiceName { .. })),
            (&["-v1=10"], |e| matches!(e, UsageError::InvalidServiceName { .. })),
        ];
        for (input, check) in cases {
            let err = parse_weights(&args(input)).unwrap_err();
            assert!(check(&err), "{input:?} gave {err:?}");
            assert!(err.hint().is_some());
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn shift_request_rejects_too_long_backend_names() {
        let long = "a".repeat(61);
        let err = ShiftRequest::new(&long, &args(&["v1=100"])).unwrap_err();
        assert!(matches!(err, UsageError::InvalidServiceName { ref name, .. } if name.ends_with("-v1")));
        assert!(ShiftRequest::new("reviews", &args(&["v1=100"])).is_ok());
    }

    #[test]
    fn header_names_and_values_are_checked_like_the_api_server() {
        assert!(validate_header_name("end-user").is_ok());
        assert!(validate_header_name("x-b3_id~!").is_ok());
        assert!(validate_header_name("end user").is_err());
        assert!(validate_header_name("end:user").is_err());
        assert!(validate_header_name("").is_err());
        assert!(validate_header_name(&"a".repeat(257)).is_err());
        assert!(validate_header_name(&"a".repeat(256)).is_ok());
        assert!(validate_header_value("jason").is_ok());
        assert!(validate_header_value("").is_err());
        assert!(validate_header_value("a\r\nb").is_err());
        assert!(validate_header_value("a\0b").is_err());
        assert!(validate_header_value(&"x".repeat(4097)).is_err());
        assert!(validate_header_value(&"x".repeat(4096)).is_ok());
    }

    #[test]
    fn route_user_needs_a_version_unless_removing() {
        let e = RouteUserRequest::new("reviews", "jason", None, None, false).unwrap_err();
        assert!(matches!(e, UsageError::MissingVersion { .. }));
        let r = RouteUserRequest::new("reviews", "jason", None, None, true).unwrap();
        assert_eq!(r.header, "end-user");
        let r = RouteUserRequest::new("reviews", "jason", Some("v2"), Some("x-user"), false).unwrap();
        assert_eq!(r.version.as_deref(), Some("v2"));
        assert_eq!(r.header, "x-user");
    }
}
