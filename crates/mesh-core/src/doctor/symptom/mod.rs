//! `doctor --error TEXT`: recognise the failure text a user pasted (curl output, an Envoy 503 body, an Istio
//! access-log line, a client library's exception), say which [`Pattern`] it is, which checks it calls for, and
//! which Service and namespace it names.
//!
//! What Envoy writes, from its sources (envoyproxy/envoy):
//! - the reset body, `source/common/router/router.cc` `Filter::onUpstreamReset`: `upstream connect error or
//!   disconnect/reset before headers. ` + `retried and the latest ` (after retries) + `reset reason: ` + the
//!   reason (`source/common/http/utility.cc` `resetReasonToString`: `local connection failure`, `remote
//!   connection failure`, `connection timeout`, `connection termination`, `overflow`, `protocol error`, … and,
//!   in older Envoys, `connection failure`) + `, transport failure reason: ` + the TLS error
//!   (`source/common/tls/ssl_socket.cc`: `TLS_error:|268435581:SSL routines:OPENSSL_internal:
//!   CERTIFICATE_VERIFY_FAILED:TLS_error_end`, older `TLS error: 268435581:SSL routines:…`) or the connect error
//!   (`delayed connect error: 111` / `: Connection refused`);
//! - the same as response-code details, spaces replaced by `_`: `upstream_reset_before_response_started{
//!   connection_termination}`;
//! - local replies: `no healthy upstream` (UH), `upstream request timeout` (UT), a 404 with an empty body
//!   (`route_not_found`, NR), `RBAC: access denied` (`rbac_access_denied_matched_policy[…]`);
//! - response flags (`source/common/stream_info/utility.h`): only read where an access log puts them — right
//!   after the status code that follows the quoted request line of Istio's text log, or as the value of a
//!   `response_flags` key — so `UH`, `NR`, `UC` in prose never match.
//!
//! No regular expressions: the text is whitespace-collapsed (users paste wrapped lines) and probed for phrases
//! (case-insensitive, word-bounded, `_` read as a space), tokens (case-sensitive, bounded) and access-log
//! fields. Pure.

pub mod scope;

use std::collections::BTreeSet;

use serde::Serialize;

use crate::names::check_dns1123_label;

/// One failure pattern: its stable id (CLI/JSON contract, like check ids), what triggers it (for the list
/// printed when nothing matches), the checks it calls for, and what to say when they find nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    pub id: &'static str,
    pub trigger: &'static str,
    /// Check ids, in no particular order (they run in the registry's order). Ids whose check is not registered
    /// (it lands with another issue) are left out at run time.
    pub checks: &'static [&'static str],
    /// Printed when the called-for checks find nothing.
    pub note: &'static str,
}

/// Every pattern, in priority order: the first that matches is the symptom's pattern.
pub const PATTERNS: &[Pattern] = &[
    Pattern {
        id: "tls-verify-failed",
        trigger: "CERTIFICATE_VERIFY_FAILED",
        checks: &[
            "stale-sidecar-cert",
            "stale-sidecar-cert-deep",
            "root-cert-mismatch",
            "proxy-version-skew",
        ],
        note: "the proxy does not trust the peer's certificate: a sidecar older than the current root, or a root that differs between namespaces or clusters",
    },
    Pattern {
        id: "tls-wrong-version",
        trigger: "WRONG_VERSION_NUMBER",
        checks: &["sidecar-missing", "ambient-and-sidecar", "mtls-plaintext-callers"],
        note: "one side spoke TLS, the other plaintext: a destination without a sidecar, or a DestinationRule with tls.mode toward a plaintext port (doctor does not read DestinationRules)",
    },
    Pattern {
        id: "rbac-denied",
        trigger: "RBAC: access denied",
        checks: &["mtls-plaintext-callers", "sidecar-missing", "waypoint-not-ready"],
        note: "an AuthorizationPolicy denied the request (403); policies with principals or namespaces need mTLS, which plaintext callers lack (doctor does not read AuthorizationPolicies)",
    },
    Pattern {
        id: "route-not-found",
        trigger: "flag NR, route_not_found, or Envoy's 404 with an empty body",
        checks: &[
            "route-parent-invalid",
            "route-not-accepted",
            "gamma-parent-group",
            "gamma-parent-headless",
            "route-no-catch-all",
            "gateway-not-programmed",
        ],
        note: "no route rule matched the request: when routes are attached to a Service, requests that match none of them are rejected",
    },
    Pattern {
        id: "no-healthy-upstream",
        trigger: "no healthy upstream, flag UH",
        checks: &[
            "route-backend-unready",
            "backend-selector-unmatched",
            "route-backend-missing",
            "pods-not-ready",
        ],
        note: "the destination has no ready endpoint; see the target's ready endpoints",
    },
    Pattern {
        id: "connection-refused",
        trigger: "connection refused, ECONNREFUSED, delayed connect error: 111",
        checks: &[
            "route-backend-unready",
            "pods-not-ready",
            "gateway-not-programmed",
            "gateway-no-address",
            "route-backend-port",
        ],
        note: "nothing listens on the address and port: no endpoints behind a ClusterIP, a wrong targetPort, or a gateway without an address",
    },
    Pattern {
        id: "connection-termination",
        trigger: "reset reason: connection termination, flag UC",
        checks: &["mtls-plaintext-callers", "sidecar-missing", "ztunnel-ready", "pods-not-ready"],
        note: "if it is intermittent under load, the usual cause is the upstream's keep-alive/idle timeout being shorter than the proxy's (istio/istio#31393, #55138), which doctor cannot see",
    },
    Pattern {
        id: "upstream-connect-failure",
        trigger: "reset reason: (remote|local) connection failure, connection timeout, flag UF",
        // Envoy with envoyproxy/envoy#44149 and before #45014 reports a certificate verify failure as a bare
        // `remote connection failure` (envoyproxy/envoy#45011): the certificate checks are called for too.
        checks: &[
            "pods-not-ready",
            "route-backend-unready",
            "mtls-plaintext-callers",
            "route-backend-port",
            "stale-sidecar-cert",
            "root-cert-mismatch",
        ],
        note: "the connection to the endpoint failed before HTTP: the endpoint went away, nothing listens on its port, or a TLS handshake failed without a reason in the text (some Envoy versions drop CERTIFICATE_VERIFY_FAILED, envoyproxy/envoy#45011)",
    },
    Pattern {
        id: "upstream-timeout",
        trigger: "upstream request timeout, flag UT",
        checks: &["pods-not-ready", "route-backend-unready"],
        note: "the backend answered too slowly for the route's or the proxy's timeout",
    },
    Pattern {
        id: "retry-limit",
        trigger: "flag URX",
        checks: &["pods-not-ready", "route-backend-unready"],
        note: "every retry failed; the last upstream answer is what the client got",
    },
    Pattern {
        id: "upstream-reset",
        trigger: "upstream connect error or disconnect/reset before headers (another reason)",
        checks: &["pods-not-ready", "route-backend-unready"],
        note: "the upstream reset the request before answering",
    },
];

/// The pattern with this id.
pub fn pattern(id: &str) -> Option<&'static Pattern> {
    PATTERNS.iter().find(|p| p.id == id)
}

/// "tls-verify-failed (CERTIFICATE_VERIFY_FAILED), …": what `--error` knows, for the no-match error.
pub fn known_patterns() -> String {
    PATTERNS
        .iter()
        .map(|p| format!("{} ({})", p.id, p.trigger))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A Service the text names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub service: String,
    /// `None` when the text names the Service without a namespace (`http://reviews:9080/`): the command fills
    /// in `-n` or the context's namespace.
    pub namespace: Option<String>,
    pub port: Option<u16>,
    /// The text it was read from (`outbound|9080||reviews.istio-demo.svc.cluster.local`).
    pub source: String,
}

/// The request line of an access log, when the text has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestLine {
    pub method: String,
    pub path: String,
}

/// What [`recognise`] read from a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognised {
    /// The highest-priority pattern that matched.
    pub pattern: &'static Pattern,
    /// Every pattern that matched, in priority order.
    pub matched: Vec<&'static str>,
    pub targets: Vec<Target>,
    /// Hosts the text names that are not Services of a cluster (`httpbin.org`, `auth.example.com`).
    pub external: Vec<String>,
    /// Excerpts (at most 160 characters) around each hit.
    pub evidence: Vec<String>,
    /// Facts read from the text worth saying whatever the checks find (a SAN rejection, the AuthorizationPolicy
    /// named in the details, an unmapped reset reason).
    pub notes: Vec<String>,
    pub request: Option<RequestLine>,
    /// Lines of text read.
    pub lines: usize,
}

/// No known pattern in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecognised {
    pub lines: usize,
}

/// Envoy's response flags (`source/common/stream_info/utility.h`, `ResponseFlagUtils`).
const FLAGS: &[&str] = &[
    "DC", "LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "URX", "NR", "DI", "FI", "RL", "UAEX", "RLSE", "SI", "IH",
    "DPE", "UMSDR", "RFCF", "NFCF", "DT", "UPE", "NC", "OM", "DF", "DO",
];

/// Reset reasons (`source/common/http/utility.cc` `resetReasonToString`, and the older `connection failure`),
/// longest first so a prefix never wins over the full reason.
const RESET_REASONS: &[&str] = &[
    "http/1 premature upstream half close",
    "remote error with connect request",
    "remote refused stream reset",
    "local refused stream reset",
    "remote connection failure",
    "local connection failure",
    "remote reset (no error)",
    "overload manager reset",
    "connection termination",
    "connection failure",
    "connection timeout",
    "protocol error",
    "remote reset",
    "local reset",
    "overflow",
];

const CONNECT_FAILURES: &[&str] = &[
    "remote connection failure",
    "local connection failure",
    "connection failure",
    "connection timeout",
];

/// The text, whitespace-collapsed, with the lower-cased copies the phrase probe searches.
struct Text {
    t: String,
    /// ASCII-lower-cased `t` (same byte offsets).
    lower: String,
    /// `lower` with `_` read as a space (same byte offsets).
    lower_us: String,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

impl Text {
    fn new(text: &str) -> Text {
        let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let lower = t.to_ascii_lowercase();
        let lower_us = lower.replace('_', " ");
        Text { t, lower, lower_us }
    }

    fn bounded(hay: &str, at: usize, len: usize) -> bool {
        let b = hay.as_bytes();
        let before = at.checked_sub(1).map(|i| b[i]);
        let after = b.get(at + len).copied();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    }

    /// Offset of a word-bounded, case-insensitive `p` (with `_` read as a space).
    fn phrase(&self, p: &str) -> Option<usize> {
        let p = p.to_ascii_lowercase();
        for hay in [&self.lower, &self.lower_us] {
            let mut from = 0;
            while let Some(i) = hay[from..].find(&p) {
                let at = from + i;
                if Self::bounded(hay, at, p.len()) {
                    return Some(at);
                }
                from = at + 1;
            }
        }
        None
    }

    /// Offset of a case-sensitive `s` whose neighbours are not letters or digits (`_`, `:` and `|` bound it).
    fn token(&self, s: &str) -> Option<usize> {
        let mut from = 0;
        while let Some(i) = self.t[from..].find(s) {
            let at = from + i;
            if Self::bounded(&self.t, at, s.len()) {
                return Some(at);
            }
            from = at + 1;
        }
        None
    }

    /// At most 160 characters around `at`, on character boundaries.
    fn excerpt(&self, at: usize) -> String {
        let start = floor_char(&self.t, at.saturating_sub(60));
        let end = floor_char(&self.t, (at + 100).min(self.t.len()));
        let mut s = String::new();
        if start > 0 {
            s.push('…');
        }
        s.push_str(&self.t[start..end]);
        if end < self.t.len() {
            s.push('…');
        }
        s
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Strip one layer of quoting and punctuation from an access-log token.
fn strip(tok: &str) -> &str {
    tok.trim_matches(|c| matches!(c, '"' | '\'' | '[' | ']' | ','))
}

/// A response-flags value: `-`, or flags joined by `,` (Envoy joins them so, in enum order).
fn parse_flags(v: &str) -> Option<Vec<&'static str>> {
    if v == "-" {
        return Some(Vec::new());
    }
    v.split(',')
        .map(|part| FLAGS.iter().find(|f| **f == part).copied())
        .collect()
}

/// What access-log fields say.
#[derive(Default)]
struct LogFacts {
    /// Each flags field, with its offset in the text.
    flags: Vec<(Vec<&'static str>, usize)>,
    /// Response-code details values.
    details: Vec<String>,
    /// Authority values.
    authorities: Vec<String>,
    requests: Vec<RequestLine>,
}

const HTTP_LINE_ENDS: [&str; 4] = ["HTTP/1.0\"", "HTTP/1.1\"", "HTTP/2\"", "HTTP/3\""];

fn status_token(tok: &str) -> bool {
    tok == "0" || (tok.len() == 3 && tok.bytes().all(|b| b.is_ascii_digit()) && ("100"..="599").contains(&tok))
}

/// Read Istio's text access log (`[TIME] "METHOD PATH PROTO" STATUS FLAGS DETAILS …`, TCP lines `"- - -" 0 FLAGS`)
/// and `key: value` / `key=value` logs (JSON encoding) for flags, details, authority and the request.
fn log_facts(text: &Text) -> LogFacts {
    let mut facts = LogFacts::default();
    let t = &text.t;
    // Token offsets in `t` (split on single spaces: `t` is whitespace-collapsed).
    let mut toks: Vec<(&str, usize)> = Vec::new();
    let mut pos = 0;
    for tok in t.split(' ') {
        toks.push((tok, pos));
        pos += tok.len() + 1;
    }
    // Status positions: a status code right after a quoted request line (`"GET /x HTTP/1.1" 503`) or a TCP
    // line's `"- - -" 0`.
    let starts: Vec<(usize, bool)> = (1..toks.len())
        .filter_map(|i| {
            if !status_token(strip(toks[i].0)) {
                return None;
            }
            let prev = toks[i - 1].0;
            let http = HTTP_LINE_ENDS.iter().any(|e| prev.ends_with(e));
            let tcp = prev == "-\"" && i >= 3 && toks[i - 2].0 == "-" && toks[i - 3].0 == "\"-";
            (http || tcp).then_some((i, http))
        })
        .collect();
    for (n, &(i, http)) in starts.iter().enumerate() {
        if let Some((f, at)) = toks.get(i + 1) {
            if let Some(flags) = parse_flags(strip(f)) {
                facts.flags.push((flags, *at));
            }
        }
        if let Some((d, _)) = toks.get(i + 2) {
            facts.details.push(strip(d).to_string());
        }
        if http && i >= 3 {
            let method = toks[i - 3].0.trim_start_matches(['"', '\'']);
            if !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()) {
                facts.requests.push(RequestLine {
                    method: method.to_string(),
                    path: toks[i - 2].0.to_string(),
                });
            }
        }
        // The fields of this line: up to the next line's request line (three tokens before its status).
        let end = starts.get(n + 1).map_or(toks.len(), |(next, _)| next.saturating_sub(3));
        let quoted = quoted_fields(&toks[(i + 1).min(end)..end]);
        // The authority is the second-to-last quoted field, before the upstream host (Istio's and Envoy's
        // default formats both end their quoted fields with "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%").
        if quoted.len() >= 2 {
            let a = &quoted[quoted.len() - 2];
            if a != "-" && !a.is_empty() {
                facts.authorities.push(a.clone());
            }
        }
    }
    for (key, value, at) in key_values(text) {
        match key {
            "response_flags" => {
                if let Some(flags) = parse_flags(&value) {
                    facts.flags.push((flags, at));
                }
            }
            "response_code_details" => facts.details.push(value),
            "authority" if value != "-" => facts.authorities.push(value),
            _ => {}
        }
    }
    facts
}

/// The quoted fields among `toks` (a field opened by `"` runs to the token that closes it), unquoted.
fn quoted_fields(toks: &[(&str, usize)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut open: Option<Vec<&str>> = None;
    for (tok, _) in toks {
        match &mut open {
            Some(parts) => {
                parts.push(tok);
                if tok.ends_with('"') {
                    out.push(parts.join(" ").trim_matches('"').to_string());
                    open = None;
                }
            }
            None if tok.starts_with('"') => {
                if tok.len() >= 2 && tok.ends_with('"') {
                    out.push(tok.trim_matches('"').to_string());
                } else {
                    open = Some(vec![tok]);
                }
            }
            None => {}
        }
    }
    out
}

/// `key: value`, `"key":"value"` and `key=value` pairs of the keys an access log in JSON or logfmt has, with the
/// value's offset.
fn key_values(text: &Text) -> Vec<(&'static str, String, usize)> {
    const KEYS: [&str; 3] = ["response_flags", "response_code_details", "authority"];
    let (t, lower) = (&text.t, &text.lower);
    let b = t.as_bytes();
    let mut out = Vec::new();
    for key in KEYS {
        let mut from = 0;
        while let Some(i) = lower[from..].find(key) {
            let at = from + i;
            from = at + key.len();
            if at > 0 && (is_word(b[at - 1]) || b[at - 1] == b'_') {
                continue;
            }
            let mut j = at + key.len();
            if b.get(j).is_some_and(|c| is_word(*c) || *c == b'_') {
                continue;
            }
            if b.get(j) == Some(&b'"') {
                j += 1;
            }
            while b.get(j) == Some(&b' ') {
                j += 1;
            }
            if !matches!(b.get(j), Some(b':') | Some(b'=')) {
                continue;
            }
            j += 1;
            while b.get(j) == Some(&b' ') {
                j += 1;
            }
            let (value, at_value) = if b.get(j) == Some(&b'"') {
                let start = j + 1;
                let end = t[start..].find('"').map_or(t.len(), |e| start + e);
                (&t[start..end], start)
            } else {
                let end = t[j..].find([' ', ',', '}']).map_or(t.len(), |e| j + e);
                (&t[j..end], j)
            };
            if !value.is_empty() {
                out.push((key, value.to_string(), at_value));
            }
        }
    }
    out
}

/// Reset reasons the text states, in the body (`reset reason: …`) or the details (`…started{connection_termination…}`).
fn reset_reasons(text: &Text) -> Vec<(&'static str, usize)> {
    let mut out = Vec::new();
    let marker = "reset reason: ";
    let mut from = 0;
    while let Some(i) = text.lower[from..].find(marker) {
        let at = from + i + marker.len();
        from = at;
        if let Some(r) = RESET_REASONS.iter().find(|r| text.lower[at..].starts_with(*r)) {
            out.push((*r, at));
        }
    }
    for prefix in [
        "upstream_reset_before_response_started{",
        "upstream_reset_after_response_started{",
    ] {
        let mut from = 0;
        while let Some(i) = text.lower[from..].find(prefix) {
            let at = from + i + prefix.len();
            from = at;
            let inner = &text.lower_us[at..];
            let end = inner.find([',', '|', '}']).unwrap_or(inner.len());
            let reason = &inner[..end];
            if let Some(r) = RESET_REASONS.iter().find(|r| **r == reason) {
                out.push((*r, at));
            }
        }
    }
    out
}

/// Recognise a pasted failure text. `Err` when no pattern matches (the command exits 2 listing them).
pub fn recognise(text: &str) -> Result<Recognised, Unrecognised> {
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    let tx = Text::new(text);
    let facts = log_facts(&tx);
    let reasons = reset_reasons(&tx);
    let has_flag = |flag: &str| facts.flags.iter().find(|(f, _)| f.contains(&flag)).map(|(_, at)| *at);
    let first = |hits: &[Option<usize>]| hits.iter().flatten().min().copied();
    let reason_hit = |set: &[&str]| reasons.iter().find(|(r, _)| set.contains(r)).map(|(_, at)| *at);
    let details_hit = |names: &[&str]| -> Option<usize> {
        names.iter().find_map(|n| {
            facts
                .details
                .iter()
                .any(|d| d == n || d.starts_with(&format!("{n}{{")) || d.starts_with(&format!("{n}[")))
                .then(|| tx.t.find(n))
                .flatten()
        })
    };

    let mut hits: Vec<(&'static str, usize)> = Vec::new();
    let tls_verify = first(&[tx.token("CERTIFICATE_VERIFY_FAILED"), tx.token("268435581")]);
    let wrong_version = first(&[tx.token("WRONG_VERSION_NUMBER"), tx.token("268435703")]);
    let rbac = first(&[
        tx.phrase("RBAC: access denied"),
        tx.lower
            .match_indices("rbac_access_denied")
            .map(|(i, _)| i)
            .find(|i| *i == 0 || !is_word(tx.lower.as_bytes()[i - 1])),
    ]);
    let envoy_404 = {
        let status = first(&[
            tx.phrase("HTTP/1.1 404"),
            tx.phrase("HTTP/1.0 404"),
            tx.phrase("HTTP/2 404"),
            tx.phrase("HTTP/3 404"),
        ]);
        let server = tx.phrase("server: envoy").or(tx.phrase("server: istio-envoy"));
        let empty = tx.phrase("content-length: 0");
        status.filter(|_| server.is_some() && empty.is_some())
    };
    let route_not_found = first(&[
        has_flag("NR"),
        tx.token("route_not_found"),
        tx.token("route_configuration_not_found"),
        tx.token("filter_chain_not_found"),
        envoy_404,
    ]);
    let no_healthy = first(&[tx.phrase("no healthy upstream"), has_flag("UH")]);
    let refused = first(&[
        tx.phrase("connection refused"),
        tx.token("ECONNREFUSED"),
        tx.phrase("connect error: 111"),
        tx.phrase("couldn't connect to server"),
    ]);
    let termination = first(&[reason_hit(&["connection termination"]), has_flag("UC")]);
    let connect_failure = first(&[
        reason_hit(CONNECT_FAILURES),
        has_flag("UF"),
        tx.phrase("immediate connect error"),
        tx.phrase("delayed connect error"),
    ])
    .filter(|_| tls_verify.is_none() && wrong_version.is_none() && refused.is_none());
    let timeout = first(&[
        tx.phrase("upstream request timeout"),
        has_flag("UT"),
        details_hit(&["response_timeout", "upstream_per_try_timeout"]),
    ]);
    let retry_limit = facts
        .flags
        .iter()
        .find(|(f, _)| f.contains(&"URX") && !f.iter().any(|x| matches!(*x, "UF" | "UC" | "UH")))
        .map(|(_, at)| *at);
    let reset_text = first(&[
        tx.phrase("upstream connect error or disconnect/reset before headers"),
        tx.lower.find("upstream_reset_before_response_started"),
        tx.lower.find("upstream_reset_after_response_started"),
    ]);
    let unmapped: Vec<&str> = reasons
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| *r != "connection termination" && !CONNECT_FAILURES.contains(r))
        .collect();

    for (id, hit) in [
        ("tls-verify-failed", tls_verify),
        ("tls-wrong-version", wrong_version),
        ("rbac-denied", rbac),
        ("route-not-found", route_not_found),
        ("no-healthy-upstream", no_healthy),
        ("connection-refused", refused),
        ("connection-termination", termination),
        ("upstream-connect-failure", connect_failure),
        ("upstream-timeout", timeout),
        ("retry-limit", retry_limit),
    ] {
        if let Some(at) = hit {
            hits.push((id, at));
        }
    }
    if let Some(at) = reset_text {
        if !unmapped.is_empty() || (reasons.is_empty() && hits.is_empty()) {
            hits.push(("upstream-reset", at));
        }
    }
    let Some(&(first_id, _)) = hits.first() else {
        return Err(Unrecognised { lines });
    };
    let pattern = pattern(first_id).expect("every hit names a pattern");

    let mut notes = Vec::new();
    if tls_verify.is_some() && tx.phrase("verify SAN list").is_some() {
        notes.push(
            "the certificate was rejected for its subject alternative names, not its issuer: the trust domain or a DestinationRule's subjectAltNames (doctor reads neither)".to_string(),
        );
    }
    for r in &unmapped {
        let mut note = format!("Envoy's reset reason: {r}");
        if *r == "protocol error" {
            note.push_str(
                " (502): a port protocol mismatch — check the Service port's name or appProtocol (http, http2, grpc, tcp)",
            );
        } else if *r == "overflow" {
            note.push_str(": a circuit breaker (DestinationRule connectionPool limits) rejected the request");
        }
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    for d in &facts.details {
        if let Some(policy) = rbac_policy(d) {
            notes.push(format!("denied by {policy} (from the response details)"));
        }
    }
    if rbac.is_some() && facts.details.is_empty() {
        if let Some(policy) = tx
            .lower
            .find("rbac_access_denied_matched_policy[")
            .and_then(|i| rbac_policy(tx.t[i..].split([' ', '"', ',']).next().unwrap_or("")))
        {
            notes.push(format!("denied by {policy} (from the response details)"));
        }
    }

    let (targets, external) = targets(&tx, &facts);
    for host in &external {
        notes.push(format!(
            "{host} is not a Service of a cluster (an external host): doctor cannot check it"
        ));
    }
    let mut evidence: Vec<String> = Vec::new();
    for (_, at) in &hits {
        let e = tx.excerpt(*at);
        if !evidence.contains(&e) {
            evidence.push(e);
        }
    }
    Ok(Recognised {
        pattern,
        matched: hits.iter().map(|(id, _)| *id).collect(),
        targets,
        external,
        evidence,
        notes,
        request: facts.requests.into_iter().next(),
        lines,
    })
}

/// `rbac_access_denied_matched_policy[ns[default]-policy[layer7-authz]-rule[0]]` → `AuthorizationPolicy
/// default/layer7-authz` (`source/extensions/filters/common/rbac/utility.cc`, Istio's policy names).
fn rbac_policy(details: &str) -> Option<String> {
    let inner = details.strip_prefix("rbac_access_denied_matched_policy[")?;
    let ns = inner.strip_prefix("ns[")?;
    let (ns, rest) = ns.split_once(']')?;
    let name = rest.strip_prefix("-policy[")?;
    let (name, _) = name.split_once(']')?;
    Some(format!("AuthorizationPolicy {ns}/{name}"))
}

/// Characters of a host name or address in a text.
fn host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-'
}

fn is_ip(host: &str) -> bool {
    (host.contains('.') && host.bytes().all(|b| b.is_ascii_digit() || b == b'.')) || host.contains(':')
}

/// A host as a Service: `name.ns.svc[.…]`, `name.ns`, or `name`. `Err(())` = an external host, `Ok(None)` = not
/// a host at all (IP, localhost, `-`).
#[allow(clippy::result_unit_err)]
fn service_of(host: &str) -> Result<Option<(String, Option<String>)>, ()> {
    let host = host.trim_end_matches('.');
    if host.is_empty() || host == "-" || host == "localhost" || is_ip(host) {
        return Ok(None);
    }
    let labels: Vec<&str> = host.split('.').collect();
    let valid = |l: &str| check_dns1123_label(l).is_ok();
    if let Some(svc) = labels.iter().position(|l| *l == "svc") {
        if svc == 2 && valid(labels[0]) && valid(labels[1]) {
            return Ok(Some((labels[0].to_string(), Some(labels[1].to_string()))));
        }
        return Ok(None);
    }
    match labels.as_slice() {
        [name] if valid(name) => Ok(Some((name.to_string(), None))),
        [name, ns] if valid(name) && valid(ns) => Ok(Some((name.to_string(), Some(ns.to_string())))),
        _ => Err(()),
    }
}

/// `host[:port]` → (host, port).
fn split_port(s: &str) -> (&str, Option<u16>) {
    match s.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, p.parse().ok()),
        _ => (s, None),
    }
}

/// The Services the text names (see the module docs for the forms), and the external hosts it names.
fn targets(tx: &Text, facts: &LogFacts) -> (Vec<Target>, Vec<String>) {
    let t = &tx.t;
    let mut found: Vec<(String, Option<String>, Option<u16>, String)> = Vec::new();
    let mut external: Vec<String> = Vec::new();
    let add =
        |host: &str, port: Option<u16>, source: &str, found: &mut Vec<_>, external: &mut Vec<String>| match service_of(
            host,
        ) {
            Ok(Some((name, ns))) => found.push((name, ns, port, source.to_string())),
            Ok(None) => {}
            Err(()) => {
                if !external.iter().any(|e| e == host) {
                    external.push(host.to_string());
                }
            }
        };
    let end_of = |from: usize| -> usize {
        t[from..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '}' | ']' | ')' | ';'))
            .map_or(t.len(), |e| from + e)
    };
    // 1. Outbound clusters: outbound|PORT|SUBSET|HOST.
    for (i, _) in t.match_indices("outbound|") {
        let tok = &t[i..end_of(i)];
        let parts: Vec<&str> = tok.split('|').collect();
        if let [_, port, _, host] = parts.as_slice() {
            add(host, port.parse().ok(), tok, &mut found, &mut external);
        }
    }
    // 2. SNI: outbound_.PORT_.SUBSET_.HOST.
    for (i, _) in t.match_indices("outbound_.") {
        let tok = &t[i..end_of(i)];
        let parts: Vec<&str> = tok.splitn(4, "_.").collect();
        if let [_, port, _, host] = parts.as_slice() {
            add(host, port.parse().ok(), tok, &mut found, &mut external);
        }
    }
    // 3. FQDNs: name.ns.svc[.cluster.local][:port].
    for (i, _) in t.match_indices(".svc") {
        let start = t[..i].rfind(|c: char| !host_char(c)).map_or(0, |s| s + 1);
        if start > 0 && matches!(t.as_bytes()[start - 1], b'|' | b'.' | b'_') {
            continue; // part of a cluster or SNI, read above
        }
        let end = t[i..]
            .find(|c: char| !host_char(c) && c != ':')
            .map_or(t.len(), |e| i + e);
        let span = t[start..end].trim_end_matches([':', '.']);
        let (host, port) = split_port(span);
        add(host, port, span, &mut found, &mut external);
    }
    // 4. URLs: http(s)://HOST[:PORT]/PATH.
    for scheme in ["http://", "https://"] {
        for (i, _) in tx.lower.match_indices(scheme) {
            let from = i + scheme.len();
            let end = t[from..]
                .find(|c: char| !(host_char(c) || c == ':'))
                .map_or(t.len(), |e| from + e);
            let (host, port) = split_port(&t[from..end]);
            if host.contains(".svc") {
                continue;
            }
            let url_end = end_of(i);
            add(host, port, &t[i..url_end], &mut found, &mut external);
        }
    }
    // 5. Authority fields, Host headers, curl's "Failed to connect to HOST port PORT".
    for a in &facts.authorities {
        let (host, port) = split_port(a);
        if !host.contains(".svc") {
            add(host, port, a, &mut found, &mut external);
        }
    }
    if let Some(i) = tx.phrase("host:") {
        let from = i + "host:".len();
        let rest = t[from..].trim_start();
        let value = rest.split(' ').next().unwrap_or("");
        let (host, port) = split_port(value);
        if !host.contains(".svc") && !host.is_empty() {
            add(host, port, &format!("Host: {value}"), &mut found, &mut external);
        }
    }
    if let Some(i) = tx.phrase("failed to connect to") {
        let rest: Vec<&str> = t[i + "failed to connect to".len()..].split(' ').collect();
        // ["", HOST, "port", PORT, …]
        if rest.len() > 3 && rest[2] == "port" {
            let port = rest[3].trim_end_matches(|c: char| !c.is_ascii_digit());
            add(
                rest[1],
                port.parse().ok(),
                &format!("Failed to connect to {} port {port}", rest[1]),
                &mut found,
                &mut external,
            );
        }
    }
    // A bare name takes the namespace of the qualified names when they all agree.
    let namespaces: BTreeSet<&String> = found.iter().filter_map(|(_, ns, _, _)| ns.as_ref()).collect();
    let only_ns = (namespaces.len() == 1)
        .then(|| namespaces.iter().next().map(|s| s.to_string()))
        .flatten();
    let mut out: Vec<Target> = Vec::new();
    for (name, ns, port, source) in found {
        let ns = ns.or_else(|| only_ns.clone());
        match out.iter_mut().find(|t| t.service == name && t.namespace == ns) {
            Some(existing) => {
                if existing.port.is_none() {
                    existing.port = port;
                }
            }
            None => out.push(Target {
                service: name,
                namespace: ns,
                port,
                source,
            }),
        }
    }
    (out, external)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<&'static str> {
        recognise(text).map(|r| r.matched).unwrap_or_default()
    }

    #[test]
    fn flags_count_only_in_their_log_field() {
        let line = |flags: &str| {
            format!("[2026-11-23T12:00:00.000Z] \"GET /x HTTP/1.1\" 503 {flags} via_upstream - \"-\" 0 0 1 - \"-\" \"curl/8\" \"id\" \"a:80\" \"-\" outbound|80||a.b.svc.cluster.local - 10.0.0.1:80 10.0.0.2:1 - default")
        };
        assert_eq!(ids(&line("UF,URX")), ["upstream-connect-failure"]);
        assert_eq!(ids(&line("URX,UF")), ["upstream-connect-failure"]);
        assert_eq!(ids(&line("URX")), ["retry-limit"]);
        assert_eq!(ids(&line("UH")), ["no-healthy-upstream"]);
        assert_eq!(ids(&line("NR")), ["route-not-found"]);
        assert_eq!(ids(&line("UC")), ["connection-termination"]);
        assert_eq!(ids(&line("UT")), ["upstream-timeout"]);
        assert!(ids(&line("-")).is_empty());
        assert!(ids(&line("UFO")).is_empty(), "not a flag");
        assert_eq!(
            ids(r#"{"response_flags":"UH","authority":"x"}"#),
            ["no-healthy-upstream"]
        );
        assert_eq!(ids("level=info response_flags=NR path=/x"), ["route-not-found"]);
        assert_eq!(ids(r#"{"response_flags": "UC"}"#), ["connection-termination"]);
        // Prose, quoted authorities and ids that contain the letters are not flags.
        assert!(ids("The UH-60 pilot said NR of retries was UF-ish; UC Berkeley.").is_empty());
        assert!(ids(r#""NR" "UH" 503"#).is_empty());
        assert!(ids("request 0b60ced5-NR5e-45e5 UC failed").is_empty());
        // A TCP line.
        assert_eq!(
            ids(
                r#"[2021-03-16T09:30:47.919Z] "- - -" 0 UF,URX - - "-" 0 0 2285 - "-" "-" "-" "-" "127.0.0.1:12950" inbound|12950|| - 10.244.0.31:12950 10.244.0.1:11504 - -"#
            ),
            ["upstream-connect-failure"]
        );
    }

    #[test]
    fn whitespace_and_line_ends_do_not_matter() {
        let wrapped =
            "upstream connect error or disconnect/reset before headers. reset reason:\r\n\tconnection\r\ntermination";
        assert_eq!(ids(wrapped), ["connection-termination"]);
    }

    #[test]
    fn combinations_follow_priority() {
        let both = "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end";
        assert_eq!(ids(both), ["tls-verify-failed"]);
        let wrong = r#""GET /x HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{remote_connection_failure|TLS_error:|268435703:SSL_routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end}"#;
        assert_eq!(ids(wrong), ["tls-wrong-version"]);
        let refused = "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused";
        assert_eq!(ids(refused), ["connection-refused"]);
        let proto = "upstream connect error or disconnect/reset before headers. reset reason: protocol error";
        let r = recognise(proto).unwrap();
        assert_eq!(r.pattern.id, "upstream-reset");
        assert!(r
            .notes
            .iter()
            .any(|n| n.contains("protocol error") && n.contains("appProtocol")));
    }

    #[test]
    fn targets_come_from_clusters_fqdns_urls_and_authorities() {
        let t = |text: &str| {
            let (tx, facts) = {
                let tx = Text::new(text);
                let facts = log_facts(&tx);
                (tx, facts)
            };
            targets(&tx, &facts)
        };
        let (ts, _) = t("outbound|9080||reviews.istio-demo.svc.cluster.local");
        assert_eq!(
            ts,
            [Target {
                service: "reviews".into(),
                namespace: Some("istio-demo".into()),
                port: Some(9080),
                source: "outbound|9080||reviews.istio-demo.svc.cluster.local".into()
            }]
        );
        let (ts, _) = t("outbound_.8000_._.httpbin.foo.svc.cluster.local");
        assert_eq!(
            (ts[0].service.as_str(), ts[0].namespace.as_deref(), ts[0].port),
            ("httpbin", Some("foo"), Some(8000))
        );
        let (ts, _) = t("calling reviews.istio-demo.svc:9080 failed");
        assert_eq!(
            (ts[0].service.as_str(), ts[0].namespace.as_deref(), ts[0].port),
            ("reviews", Some("istio-demo"), Some(9080))
        );
        let (ts, _) = t("GET http://reviews.istio-demo:9080/reviews/0 failed");
        assert_eq!(
            (ts[0].service.as_str(), ts[0].namespace.as_deref(), ts[0].port),
            ("reviews", Some("istio-demo"), Some(9080))
        );
        let (ts, _) = t("during [POST] to [ http://service-a/api/{} ] :");
        assert_eq!(
            (ts[0].service.as_str(), ts[0].namespace.as_deref()),
            ("service-a", None)
        );
        let (ts, _) = t("curl: (7) Failed to connect to reviews port 9080 after 0 ms: Connection refused");
        assert_eq!((ts[0].service.as_str(), ts[0].port), ("reviews", Some(9080)));
        // Never targets: inbound clusters, IPs, localhost, invalid labels, external hosts.
        let (ts, ext) = t("inbound|8080|| http://10.0.0.1:80/ http://localhost/ outbound|7600||keycloak-headless.our_ns.svc.cluster.local https://auth.kubefrog.fr/x outbound|8080||freighter.starfleet.mesh");
        assert!(ts.is_empty(), "{ts:?}");
        assert_eq!(ext, ["freighter.starfleet.mesh", "auth.kubefrog.fr"]);
        // A bare name takes the namespace the qualified names agree on.
        let (ts, _) = t(
            r#"[2026-11-23T12:00:01.000Z] "GET /reviews/1 HTTP/1.1" 503 UH no_healthy_upstream - "-" 0 19 0 - "-" "curl/8.5.0" "1" "reviews:9080" "-" outbound|9080||reviews-v3.istio-demo.svc.cluster.local - 10.43.123.7:9080 10.42.0.12:56331 - default"#,
        );
        let names: Vec<(&str, Option<&str>)> = ts
            .iter()
            .map(|t| (t.service.as_str(), t.namespace.as_deref()))
            .collect();
        assert_eq!(
            names,
            [("reviews-v3", Some("istio-demo")), ("reviews", Some("istio-demo"))]
        );
    }

    #[test]
    fn rbac_details_name_the_policy() {
        let r = recognise(r#"{"response_code_details": "rbac_access_denied_matched_policy[ns[default]-policy[layer7-authz]-rule[0]]", "response_flags": "-"}"#).unwrap();
        assert_eq!(r.pattern.id, "rbac-denied");
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("AuthorizationPolicy default/layer7-authz")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn every_pattern_calls_for_checks_and_has_a_unique_id() {
        let mut ids: Vec<&str> = PATTERNS.iter().map(|p| p.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), PATTERNS.len());
        for p in PATTERNS {
            assert!(!p.checks.is_empty() && !p.note.is_empty(), "{}", p.id);
            for c in p.checks {
                let known = crate::doctor::CHECKS.iter().any(|k| k.id == *c)
                    || crate::doctor::registry::RESERVED_CODES.iter().any(|(_, id, _)| id == c);
                assert!(known, "pattern {} calls for unknown check {c}", p.id);
            }
        }
    }
}
