//! Kubernetes name rules (DNS-1123), checked before anything is sent.

/// A DNS-1123 label: namespaces, Service names. At most 63 characters of `[a-z0-9-]`, alphanumeric at both ends.
pub fn check_dns1123_label(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > 63 {
        return Err(format!("must be at most 63 characters (has {})", value.len()));
    }
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ends_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !ok_chars || !ends_ok(value.bytes().next()) || !ends_ok(value.bytes().last()) {
        return Err("must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character".into());
    }
    Ok(())
}

/// A DNS-1123 subdomain: most object names (HTTPRoutes, Deployments). At most 253 characters, dot-separated labels.
pub fn check_dns1123_subdomain(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > 253 {
        return Err(format!("must be at most 253 characters (has {})", value.len()));
    }
    for label in value.split('.') {
        check_dns1123_label(label).map_err(|_| {
            "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".to_string()
        })?;
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
