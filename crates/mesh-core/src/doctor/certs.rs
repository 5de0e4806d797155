//! Reading Istio root certificates: the PEM bundle in `istio-ca-root-cert` (`root-cert.pem`,
//! possibly several roots during a rotation, possibly with text between them) and the base64
//! `caBundle` of the sidecar-injector webhook.
//!
//! The "current" root is the one with the latest NotBefore: a sidecar whose istio-proxy started
//! before it cannot have loaded it (istio/istio#36723, #44932).

use jiff::Timestamp;

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// One parsed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCert {
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub subject: String,
    /// DER bytes (identity for comparing bundles).
    pub der: Vec<u8>,
}

/// Result of reading a PEM bundle: every certificate that parsed, and one error per block
/// that did not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertBundle {
    pub certs: Vec<RootCert>,
    pub errors: Vec<String>,
}

impl CertBundle {
    /// The certificate with the latest NotBefore.
    pub fn current(&self) -> Option<&RootCert> {
        self.certs.iter().max_by_key(|c| c.not_before)
    }

    /// Sorted DER set, for comparing bundles regardless of order.
    pub fn der_set(&self) -> Vec<&[u8]> {
        let mut v: Vec<&[u8]> = self.certs.iter().map(|c| c.der.as_slice()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Decode standard base64 (whitespace ignored, padding optional).
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    fn val(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a') as u32 + 26),
            b'0'..=b'9' => Some((c - b'0') as u32 + 52),
            b'+' | b'-' => Some(62),
            b'/' | b'_' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in text.as_bytes() {
        if c.is_ascii_whitespace() || c == b'=' {
            continue;
        }
        let v = val(c).ok_or_else(|| format!("invalid base64 character {:?}", c as char))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

fn asn1_to_ts(t: &x509_parser::time::ASN1Time) -> Option<Timestamp> {
    Timestamp::from_second(t.timestamp()).ok()
}

/// Parse one DER certificate.
pub fn parse_der(der: &[u8]) -> Result<RootCert, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let validity = cert.validity();
    let not_before = asn1_to_ts(&validity.not_before).ok_or("NotBefore out of range")?;
    let not_after = asn1_to_ts(&validity.not_after).ok_or("NotAfter out of range")?;
    Ok(RootCert {
        not_before,
        not_after,
        subject: cert.subject().to_string(),
        der: der.to_vec(),
    })
}

/// Parse every `CERTIFICATE` PEM block in `text`; anything outside blocks is ignored.
pub fn parse_pem_bundle(text: &str) -> CertBundle {
    let mut bundle = CertBundle::default();
    let mut rest = text;
    let mut index = 0;
    while let Some(start) = rest.find(BEGIN) {
        index += 1;
        let after = &rest[start + BEGIN.len()..];
        let Some(end) = after.find(END) else {
            bundle
                .errors
                .push(format!("certificate {index}: no END CERTIFICATE line"));
            break;
        };
        let body = &after[..end];
        rest = &after[end + END.len()..];
        match base64_decode(body).and_then(|der| parse_der(&der)) {
            Ok(cert) => bundle.certs.push(cert),
            Err(e) => bundle.errors.push(format!("certificate {index}: {e}")),
        }
    }
    if index == 0 {
        bundle.errors.push("no PEM CERTIFICATE block found".to_string());
    }
    bundle
}

/// Parse a webhook `caBundle` (base64 of a PEM bundle).
pub fn parse_ca_bundle(b64: &str) -> CertBundle {
    match base64_decode(b64) {
        Ok(bytes) => parse_pem_bundle(&String::from_utf8_lossy(&bytes)),
        Err(e) => CertBundle {
            certs: Vec::new(),
            errors: vec![format!("caBundle: {e}")],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip_known_values() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVs\nbG8h").unwrap(), b"hello!");
        assert!(base64_decode("a*b").is_err());
    }

    #[test]
    fn garbage_only_is_an_error_not_a_panic() {
        let b = parse_pem_bundle("hello");
        assert!(b.certs.is_empty());
        assert_eq!(b.errors.len(), 1);
        let b = parse_pem_bundle("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        assert!(b.certs.is_empty());
        assert!(b.errors[0].contains("certificate 1"));
    }
}
