//! `kubectl mesh explain SERVICE`: which mesh route, rule and backends a request takes, by Gateway API precedence
//! across every route attached to the Service (see [`mesh_core::route::explain`]). Reads what `status` reads: one
//! LIST each of HTTPRoutes, Services and EndpointSlices in the namespace, nothing per object.
//!
//! Exit 0 when a rule (or no route at all) takes the request, 1 when the mesh rejects it (no rule matches) or the
//! Service does not exist, 2 for a malformed request.

use clap::Args;

use crate::cli::OutputArgs;
use crate::cmd::Ctx;
use crate::error::{MeshError, Result};
use mesh_core::opts::OutputFormat;
use mesh_core::render::to_format;
use mesh_core::route::explain::{explain, render_explain_table};
use mesh_core::route::precedence::HttpRequest;
use mesh_core::route::{validate_header_name, NamespaceState};
use mesh_kube::read::route::{load_states, Purpose};

/// The methods the HTTPRoute CRD allows in `matches[].method`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// The Service the request is sent to
    #[arg(value_name = "SERVICE")]
    pub service: String,

    /// A request header, NAME=VALUE or "NAME: VALUE"; repeatable
    #[arg(short = 'H', long = "header", value_name = "NAME=VALUE")]
    pub headers: Vec<String>,

    /// The request path; a ?query part becomes query params
    #[arg(long, value_name = "PATH", default_value = "/")]
    pub path: String,

    /// The request method
    #[arg(long, value_name = "METHOD", default_value = "GET")]
    pub method: String,

    /// A query param, NAME=VALUE; repeatable (after those of --path)
    #[arg(long = "query", value_name = "NAME=VALUE")]
    pub query: Vec<String>,

    /// The Service port the request is sent to (default: the port routes use, the first http one)
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(i32).range(1..=65535))]
    pub port: Option<i32>,

    #[command(flatten)]
    pub output: OutputArgs,
}

fn bad(message: String, hint: &str) -> MeshError {
    MeshError::usage_hint(message, hint)
}

fn parse_query(text: &str, out: &mut Vec<(String, String)>) {
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), v.to_string())),
            None => out.push((pair.to_string(), String::new())),
        }
    }
}

/// The request the flags describe, validated (usage errors exit 2).
pub fn request(args: &ExplainArgs) -> Result<HttpRequest> {
    let method = args.method.to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(bad(
            format!("invalid --method {:?}", args.method),
            &format!("HTTPRoute matches one of: {}", METHODS.join(", ")),
        ));
    }
    let (path, query_text) = match args.path.split_once('?') {
        Some((p, q)) => (p.to_string(), q),
        None => (args.path.clone(), ""),
    };
    if !path.starts_with('/') {
        return Err(bad(
            format!("invalid --path {:?}: it must start with /", args.path),
            "for example: --path /reviews/0",
        ));
    }
    let mut query = Vec::new();
    parse_query(query_text, &mut query);
    for q in &args.query {
        let Some((k, v)) = q.split_once('=') else {
            return Err(bad(
                format!("invalid --query {q:?}: expected NAME=VALUE"),
                "for example: --query page=2",
            ));
        };
        if k.is_empty() {
            return Err(bad(
                format!("invalid --query {q:?}: the name is empty"),
                "for example: --query page=2",
            ));
        }
        query.push((k.to_string(), v.to_string()));
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    for h in &args.headers {
        let split = h.find([':', '=']).map(|i| (&h[..i], &h[i + 1..]));
        let Some((name, value)) = split else {
            return Err(bad(
                format!("invalid header {h:?}: expected NAME=VALUE or \"NAME: VALUE\""),
                "for example: -H end-user=jason",
            ));
        };
        let name = name.trim();
        validate_header_name(name)?;
        let value = value.trim();
        if let Some(c) = value.chars().find(|c| c.is_control() && *c != '\t') {
            return Err(bad(
                format!("invalid header {h:?}: {c:?} is not allowed in a header value"),
                "use printable characters",
            ));
        }
        let lower = name.to_ascii_lowercase();
        if headers.iter().any(|(n, _)| *n == lower) {
            return Err(bad(
                format!("header {name:?} is given more than once"),
                "give each header once: how a repeated header is matched is implementation-specific (Gateway API)",
            ));
        }
        headers.push((lower, value.to_string()));
    }
    Ok(HttpRequest {
        method,
        path,
        headers,
        query,
        port: args.port,
    })
}

pub async fn run(ctx: Ctx, args: ExplainArgs) -> Result<u8> {
    mesh_core::names::check_dns1123_label(&args.service).map_err(|reason| MeshError::InvalidName {
        what: "Service name",
        name: args.service.clone(),
        reason,
        hint: None,
    })?;
    let req = request(&args)?;
    let cluster = ctx.cluster().await?;
    let ns = cluster.namespace.clone();
    let loaded = load_states(&cluster, Some(&ns), Purpose::Explain).await?;
    for w in &loaded.warnings {
        ctx.out.info(&format!("warning: {w}"));
    }
    let state = loaded
        .states
        .into_iter()
        .find(|s| s.namespace == ns)
        .unwrap_or_else(|| NamespaceState {
            namespace: ns.clone(),
            ..Default::default()
        });
    let explanation = explain(&state, &args.service, &req)?;
    let text = match ctx.out.format {
        OutputFormat::Json | OutputFormat::Yaml => to_format(&explanation, ctx.out.format)?,
        format => render_explain_table(&explanation, format == OutputFormat::Wide),
    };
    ctx.out.print(&text)?;
    Ok(if explanation.matched { 0 } else { 1 })
}
