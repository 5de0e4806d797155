//! The PEM root-certificate bundle parsing `kubectl mesh doctor` does on `istio-ca-root-cert`
//! (`root-cert.pem`) and the injector webhook's `caBundle`.
//!
//! NOTE: the doctor code (`src/doctor/certs.rs`, `parse_pem_bundle`) was not merged into main
//! when this target was written, so it drives `x509_parser` the same way that code does: every
//! PEM block of the buffer (`Pem::iter_from_buffer`), each CERTIFICATE parsed as X.509, its
//! NotBefore/NotAfter/subject read; plus the raw input as one DER certificate (the base64
//! `caBundle` path). Once `kubectl_mesh::doctor` is in main, point this target at its parser.
//! Invariants: nothing panics, the block iterator terminates, and every parsed certificate
//! has readable validity and subject.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x509_parser::pem::Pem;
use x509_parser::prelude::*;

fn read_cert(cert: &X509Certificate<'_>) {
    let validity = cert.validity();
    let (nb, na) = (validity.not_before.timestamp(), validity.not_after.timestamp());
    // The doctor orders roots by NotBefore; both must be comparable numbers.
    let _ = nb.cmp(&na);
    let _ = cert.subject().to_string();
    let _ = cert.issuer().to_string();
    let _ = cert.is_ca();
    let _ = cert.basic_constraints();
    let _ = cert.raw_serial_as_string();
    for ext in cert.iter_extensions() {
        let _ = ext.parsed_extension();
    }
}

fuzz_target!(|data: &[u8]| {
    let mut blocks = 0usize;
    for item in Pem::iter_from_buffer(data) {
        blocks += 1;
        // Every block consumes at least one line: more blocks than bytes means a loop.
        assert!(blocks <= data.len() + 1, "PEM iterator does not terminate");
        let Ok(pem) = item else { continue };
        if pem.label != "CERTIFICATE" {
            continue;
        }
        if let Ok(cert) = pem.parse_x509() {
            read_cert(&cert);
        }
    }
    if let Ok((_, cert)) = parse_x509_certificate(data) {
        read_cert(&cert);
    }
});
