//! `skiff publish`, `skiff versions` and `skiff alias set|ls|rm`: published versions and
//! aliases, through the Lambda API's routes on the same server (one implementation behind the
//! CLI and the AWS tools).

use super::functions::text;
use super::{table, Client};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::process::ExitCode;

const FUNCTIONS: &str = "/2015-03-31/functions";

#[derive(Args)]
pub struct PublishArgs {
    name: super::name::Name,
    /// The version's description (the function's by default).
    #[arg(long)]
    description: Option<String>,
}

#[derive(Args)]
pub struct AliasArgs {
    #[command(subcommand)]
    command: AliasCommand,
}

#[derive(Subcommand)]
enum AliasCommand {
    /// Point an alias at a version (`$LATEST` or a number), creating it if needed.
    Set {
        function: String,
        alias: String,
        version: String,
        /// Send this share of the alias's calls to another published version: `VERSION=WEIGHT`
        /// (e.g. `3=0.1`). Without it, the alias routes every call to VERSION.
        #[arg(long)]
        weight: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List a function's aliases.
    Ls { function: super::name::Name },
    /// Remove an alias (the versions stay).
    Rm { function: super::name::Name, alias: super::name::Name },
}

pub fn publish(client: &Client, args: PublishArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    let version = publish_version(client, &args.name, args.description.as_deref())?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&version)?);
    } else {
        println!("published {} version {}", args.name, text(&version["Version"]));
    }
    Ok(ExitCode::SUCCESS)
}

/// `$LATEST` and the published versions, oldest first.
pub fn list(client: &Client, name: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let versions = all_pages(client, &format!("{FUNCTIONS}/{name}/versions"), "Versions")?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&versions)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> =
        versions.iter().map(|v| vec![text(&v["Version"]), text(&v["CodeSha256"]), text(&v["LastModified"]), text(&v["Description"])]).collect();
    table::print(&["VERSION", "CODE SHA256", "MODIFIED", "DESCRIPTION"], &rows);
    Ok(ExitCode::SUCCESS)
}

/// Publishes `$LATEST` of `name` (an unchanged function gets the version it has); returns
/// Lambda's description of the version.
pub(super) fn publish_version(client: &Client, name: &str, description: Option<&str>) -> anyhow::Result<Value> {
    let body = match description {
        Some(d) => json!({ "Description": d }),
        None => json!({}),
    };
    let path = format!("{FUNCTIONS}/{name}/versions");
    Ok(client.send(client.request(Method::POST, &path).json(&body))?.json()?)
}

/// What an alias is to route to: a version, others with their shares, a description.
pub(super) struct AliasRouting {
    pub version: String,
    pub weights: Vec<(String, f64)>,
    pub description: Option<String>,
}

/// Points `function:alias` as `routing` says, creating it if needed; returns Lambda's
/// description of the alias.
pub(super) fn set_alias(client: &Client, function: &str, alias: &str, routing: AliasRouting) -> anyhow::Result<Value> {
    let weights: Map<String, Value> = routing.weights.into_iter().map(|(v, w)| (v, w.into())).collect();
    let mut body = Map::new();
    body.insert("FunctionVersion".into(), routing.version.into());
    body.insert("RoutingConfig".into(), json!({ "AdditionalVersionWeights": weights }));
    if let Some(d) = routing.description {
        body.insert("Description".into(), d.into());
    }
    let path = format!("{FUNCTIONS}/{function}/aliases/{alias}");
    let exists = client.request(Method::GET, &path).send().context("reaching the server")?.status().is_success();
    let request = if exists {
        client.request(Method::PUT, &path)
    } else {
        body.insert("Name".into(), alias.into());
        client.request(Method::POST, &format!("{FUNCTIONS}/{function}/aliases"))
    };
    Ok(client.send(request.json(&body))?.json()?)
}

pub fn alias(client: &Client, args: AliasArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    match args.command {
        AliasCommand::Set { function, alias, version, weight, description } => {
            let weights = weight.as_deref().map(parse_weight).transpose()?.into_iter().collect();
            let shown = set_alias(client, &function, &alias, AliasRouting { version, weights, description })?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                println!("{function}:{alias} -> {}", routing(&shown));
            }
        }
        AliasCommand::Ls { function } => {
            let aliases = all_pages(client, &format!("{FUNCTIONS}/{function}/aliases"), "Aliases")?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&aliases)?);
            } else {
                let rows: Vec<Vec<String>> = aliases.iter().map(|a| vec![text(&a["Name"]), routing(a), text(&a["Description"])]).collect();
                table::print(&["ALIAS", "ROUTES TO", "DESCRIPTION"], &rows);
            }
        }
        AliasCommand::Rm { function, alias } => {
            client.send(client.request(Method::DELETE, &format!("{FUNCTIONS}/{function}/aliases/{alias}")))?;
            println!("removed {function}:{alias}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `3=0.1` into the version and its weight.
fn parse_weight(raw: &str) -> anyhow::Result<(String, f64)> {
    let Some((version, weight)) = raw.split_once('=') else {
        bail!("--weight {raw:?}: expected VERSION=WEIGHT, e.g. 3=0.1");
    };
    let weight: f64 = weight.parse().with_context(|| format!("--weight {raw:?}: {weight:?} is not a number"))?;
    Ok((version.to_string(), weight))
}

/// `1` or `1 (0.9), 2 (0.1)`.
pub(super) fn routing(alias: &Value) -> String {
    let primary = text(&alias["FunctionVersion"]);
    let Some(weights) = alias["RoutingConfig"]["AdditionalVersionWeights"].as_object().filter(|w| !w.is_empty()) else {
        return primary;
    };
    let others: f64 = weights.values().filter_map(Value::as_f64).sum();
    let mut parts = vec![format!("{primary} ({:.2})", 1.0 - others)];
    parts.extend(weights.iter().map(|(v, w)| format!("{v} ({:.2})", w.as_f64().unwrap_or_default())));
    parts.join(", ")
}

/// Every item of a paged Lambda listing.
fn all_pages(client: &Client, path: &str, field: &str) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut request = client.request(Method::GET, path);
        if let Some(m) = &marker {
            request = request.query(&[("Marker", m)]);
        }
        let page: Value = client.send(request)?.json()?;
        items.extend(page[field].as_array().cloned().unwrap_or_default());
        match page["NextMarker"].as_str() {
            Some(next) => marker = Some(next.to_string()),
            None => return Ok(items),
        }
    }
}
