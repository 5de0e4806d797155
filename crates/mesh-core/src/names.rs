//! Kubernetes name rules (DNS-1123), checked before anything is sent.

/// Why a name is not a valid Kubernetes name, in the API server's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters (has {len})")]
    TooLong { len: usize, max: usize },
    #[error("must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character")]
    Label,
    #[error("must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")]
    Subdomain,
}

/// A DNS-1123 label: namespaces, Service names. At most 63 characters of `[a-z0-9-]`, alphanumeric at both ends.
pub fn check_dns1123_label(value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::Empty);
    }
    if value.len() > 63 {
        return Err(NameError::TooLong {
            len: value.len(),
            max: 63,
        });
    }
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ends_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !ok_chars || !ends_ok(value.bytes().next()) || !ends_ok(value.bytes().last()) {
        return Err(NameError::Label);
    }
    Ok(())
}

/// A DNS-1123 subdomain: most object names (HTTPRoutes, Deployments). At most 253 characters, dot-separated labels.
pub fn check_dns1123_subdomain(value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::Empty);
    }
    if value.len() > 253 {
        return Err(NameError::TooLong {
            len: value.len(),
            max: 253,
        });
    }
    for label in value.split('.') {
        check_dns1123_label(label).map_err(|_| NameError::Subdomain)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_follow_dns1123() {
        for ok in ["istio-demo", "a", "x1", "default"] {
            assert!(check_dns1123_label(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "Istio", "a_b", "a.b", &"a".repeat(64), "ü"] {
            assert!(check_dns1123_label(bad).is_err(), "{bad}");
        }
        assert!(check_dns1123_subdomain("reviews.v1").is_ok());
        assert!(check_dns1123_subdomain("reviews..v1").is_err());
    }
}
