//! The root-certificate parsing `kubectl mesh doctor` does: `parse_pem_bundle` on the
//! `root-cert.pem` of ConfigMap `istio-ca-root-cert`, `parse_ca_bundle` on the injector
//! webhook's base64 `caBundle`, and `parse_der`/`base64_decode` beneath them
//! (`mesh_core::doctor::certs`).
//!
//! The input is used three ways: as bundle text (lossy UTF-8), as a `caBundle` string, and as
//! DER bytes wrapped into a PEM block by an independent base64 encoder here (so X.509 parsing
//! gets raw bytes, and the doctor's base64 decoder is checked against the encoder).
//! Properties: nothing panics; one entry (certificate or error) per block, or one error when
//! there is no block; `current()` has the latest NotBefore; `der_set()` is sorted and
//! deduplicated; a DER input that `parse_der` accepts comes back out of the PEM bundle intact.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_core::doctor::certs::{base64_decode, parse_ca_bundle, parse_der, parse_pem_bundle, CertBundle};

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

fn base64_encode(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn check_bundle(text: &str, b: &CertBundle) {
    let blocks = text.matches(BEGIN).count();
    if blocks == 0 {
        assert!(b.certs.is_empty() && b.errors.len() == 1, "no block: {b:?}");
    } else {
        assert!(b.certs.len() + b.errors.len() <= blocks, "more results than blocks");
        assert!(!b.certs.is_empty() || !b.errors.is_empty(), "blocks without results");
    }
    match b.current() {
        Some(c) => assert!(b.certs.iter().all(|x| x.not_before <= c.not_before)),
        None => assert!(b.certs.is_empty()),
    }
    let set = b.der_set();
    assert!(
        set.windows(2).all(|w| w[0] < w[1]),
        "der_set not sorted and deduplicated"
    );
    assert!(set.len() <= b.certs.len());
    for c in &b.certs {
        // Parsing is deterministic: the stored DER gives the same certificate again.
        assert_eq!(parse_der(&c.der).as_ref(), Ok(c));
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let bundle = parse_pem_bundle(&text);
    check_bundle(&text, &bundle);
    let _ = parse_ca_bundle(&text);

    // The bytes as one DER certificate, wrapped the way a PEM file carries it.
    let b64 = base64_encode(data);
    assert_eq!(base64_decode(&b64).as_deref(), Ok(data), "base64 round trip");
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).expect("base64 is ASCII"))
        .collect();
    let pem = format!("{BEGIN}\n{}\n{END}\n", lines.join("\n"));
    let wrapped = parse_pem_bundle(&pem);
    check_bundle(&pem, &wrapped);
    match parse_der(data) {
        Ok(cert) => {
            assert_eq!(wrapped.certs, vec![cert.clone()]);
            assert!(wrapped.errors.is_empty());
            assert_eq!(parse_ca_bundle(&base64_encode(pem.as_bytes())).certs, vec![cert]);
        }
        Err(_) => assert!(wrapped.certs.is_empty() && wrapped.errors.len() == 1),
    }
});
