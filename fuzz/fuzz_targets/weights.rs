//! `kubectl mesh shift SERVICE VERSION=PERCENT…` argument parsing on arbitrary argument lists.
//!
//! The input is split on `\n` into arguments (lossy UTF-8, so arbitrary bytes become
//! U+FFFD): the first is the Service, the rest are weights. Neither `parse_weights` nor
//! `ShiftRequest::new` may panic, and whatever they accept must hold the invariants the
//! planners rely on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_core::route::{parse_weights, validate_dns_label, ShiftRequest};

fn check_weights(args: &[String], weights: &[(String, u32)]) {
    assert!(!weights.is_empty(), "Ok with no weights from {args:?}");
    assert_eq!(weights.len(), args.len(), "one weight per argument: {args:?}");
    let mut sum = 0u32;
    for (i, (version, pct)) in weights.iter().enumerate() {
        assert!(*pct <= 100, "percent {pct} out of range from {args:?}");
        sum += pct;
        assert!(!version.is_empty(), "empty version from {args:?}");
        assert!(
            validate_dns_label(version).is_ok(),
            "version {version:?} is not a DNS label"
        );
        assert!(
            weights[..i].iter().all(|(v, _)| v != version),
            "repeated version {version:?} from {args:?}"
        );
        // Each weight comes from its own argument, in order.
        let (v, _) = args[i].split_once('=').expect("accepted argument without '='");
        assert_eq!(v.trim(), version, "version of argument {i} in {args:?}");
    }
    assert!(sum <= 100, "sum {sum} over 100 from {args:?}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts: Vec<String> = text.split('\n').map(str::to_string).collect();
    let service = parts.remove(0);

    // All parts as weights (the Service argument too), then the command's split.
    let mut all = vec![service.clone()];
    all.extend(parts.iter().cloned());
    for args in [&all, &parts] {
        match parse_weights(args) {
            Ok(w) => check_weights(args, &w),
            Err(e) => {
                let _ = (e.to_string(), e.hint());
            }
        }
    }

    match ShiftRequest::new(&service, &parts) {
        Ok(req) => {
            assert_eq!(req.service, service);
            assert!(validate_dns_label(&req.service).is_ok());
            check_weights(&parts, &req.weights);
            for (v, _) in &req.weights {
                let backend = format!("{}-{v}", req.service);
                assert!(
                    validate_dns_label(&backend).is_ok(),
                    "backend {backend:?} is not a DNS label"
                );
            }
            assert_eq!(parse_weights(&parts).ok(), Some(req.weights.clone()));
            assert!(req.route_name.is_none() && !req.force && !req.create_backends);
        }
        Err(e) => {
            let _ = (e.to_string(), e.hint());
        }
    }
});
