//! `kubectl mesh version`: the plugin's version and, unless `--client`, the API server's.

use clap::Args;
use serde_json::{json, Value};

use crate::cli::OutputArgs;
use crate::cmd::Ctx;
use crate::error::Result;
use mesh_core::opts::OutputFormat;
use mesh_core::render::to_format;
use mesh_core::resource::NAMESPACES;

#[derive(Debug, Clone, Args)]
pub struct VersionArgs {
    /// Only the plugin's version; do not contact the cluster
    #[arg(long)]
    pub client: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn client_version() -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    })
}

pub async fn run(ctx: Ctx, args: VersionArgs) -> Result<u8> {
    let mut doc = json!({ "clientVersion": client_version() });
    if !args.client {
        let cluster = ctx.cluster().await?;
        let server = cluster.get_raw(&NAMESPACES, "/version").await?;
        doc["serverVersion"] = server;
    }
    let text = match ctx.out.format {
        OutputFormat::Json | OutputFormat::Yaml => to_format(&doc, ctx.out.format)?,
        _ => {
            let mut s = format!("Client Version: v{}\n", env!("CARGO_PKG_VERSION"));
            if let Some(v) = doc.pointer("/serverVersion/gitVersion").and_then(Value::as_str) {
                s.push_str(&format!("Server Version: {v}\n"));
            }
            s
        }
    };
    ctx.out.print(&text)?;
    Ok(0)
}
