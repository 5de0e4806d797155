//! kubectl's duration syntax (Go's `time.ParseDuration`): `30s`, `1m30s`, `1.5h`, `250ms`, `0`.
//!
//! `--request-timeout` additionally accepts a bare integer as seconds, as kubectl does.

use std::time::Duration;

/// Parse a Go-style duration. Units: ns, us (µs), ms, s, m, h. A bare `0` is allowed; other bare numbers are
/// accepted as seconds only when `bare_seconds` is set.
pub fn parse_duration(input: &str, bare_seconds: bool) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s.starts_with('-') {
        return Err(format!("invalid duration {input:?}: must not be negative"));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        if bare_seconds {
            let n: u64 = s
                .parse()
                .map_err(|_| format!("invalid duration {input:?}: too large"))?;
            return Ok(Duration::from_secs(n));
        }
        return Err(format!("invalid duration {input:?}: missing unit (e.g. 30s, 5m, 1h)"));
    }
    let mut total_nanos: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if num_len == 0 {
            return Err(format!("invalid duration {input:?}: expected a number at {rest:?}"));
        }
        let (num, after) = rest.split_at(num_len);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration {input:?}: bad number {num:?}"))?;
        let unit_len = after
            .chars()
            .take_while(|c| c.is_alphabetic() || *c == 'µ')
            .map(char::len_utf8)
            .sum();
        let (unit, after) = after.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "invalid duration {input:?}: missing unit after {num:?} (e.g. 30s, 5m, 1h)"
                ))
            }
            other => {
                return Err(format!(
                    "invalid duration {input:?}: unknown unit {other:?} (use ns, us, ms, s, m, h)"
                ))
            }
        };
        total_nanos += value * scale;
        rest = after;
    }
    if !total_nanos.is_finite() || total_nanos > 1e9 * 60.0 * 60.0 * 24.0 * 365.0 * 100.0 {
        return Err(format!("invalid duration {input:?}: too large"));
    }
    Ok(Duration::from_nanos(total_nanos as u64))
}

/// kubectl-like duration text: `30s`, `1m30s`, `250ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kubectl_durations() {
        let cases = [
            ("0", Duration::ZERO),
            ("30s", Duration::from_secs(30)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5h", Duration::from_secs(5400)),
            ("250ms", Duration::from_millis(250)),
            ("2h45m", Duration::from_secs(2 * 3600 + 45 * 60)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text, false).unwrap(), want, "{text}");
        }
        assert_eq!(parse_duration("5", true).unwrap(), Duration::from_secs(5));
    }

    #[test]
    fn rejects_malformed_durations() {
        for bad in [
            "",
            "-1s",
            "5",
            "s",
            "1x",
            "1.2.3s",
            "abc",
            "10 s",
            "1e9h",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad, false).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn formats_like_kubectl() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
