//! `skiff keys create|ls|rm`: access keys for AWS SDKs and the AWS CLI, each limited by an IAM
//! policy document. A key's secret is printed once, when it is created.

use super::functions::text;
use super::{table, Client};
use anyhow::Context;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; `--json` prints AWS's CreateAccessKey answer (the only time the secret is shown).
    Create {
        #[arg(long)]
        name: String,
        /// An IAM policy document (JSON): what the key may do.
        #[arg(long)]
        policy: PathBuf,
    },
    /// List keys (never their secrets).
    Ls,
    /// Delete a key: requests signed with it are refused from then on.
    Rm { id: super::name::Name },
}

pub fn run(client: &Client, args: KeysArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    match args.command {
        KeysCommand::Create { name, policy } => {
            let text_of = super::read_text(&policy)?;
            let document: Value = serde_json::from_str(&text_of).with_context(|| format!("{} is not JSON", policy.display()))?;
            let created: Value = client.send(client.request(Method::POST, "/v1/keys").json(&json!({ "name": name, "policy": document })))?.json()?;
            if as_json {
                let mut shown = created.clone();
                if let Some(key) = shown["AccessKey"].as_object_mut() {
                    key.remove("Policy");
                }
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                let key = &created["AccessKey"];
                println!("access key id:     {}", text(&key["AccessKeyId"]));
                println!("secret access key: {}", text(&key["SecretAccessKey"]));
                println!("(the secret is shown only now)");
            }
        }
        KeysCommand::Ls => {
            let listed: Value = client.send(client.request(Method::GET, "/v1/keys"))?.json()?;
            let keys = listed["AccessKeyMetadata"].as_array().cloned().unwrap_or_default();
            if as_json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                let rows: Vec<Vec<String>> = keys.iter().map(|k| vec![text(&k["UserName"]), text(&k["AccessKeyId"]), text(&k["CreateDate"])]).collect();
                table::print(&["NAME", "ACCESS KEY ID", "CREATED"], &rows);
            }
        }
        KeysCommand::Rm { id } => {
            client.send(client.request(Method::DELETE, &format!("/v1/keys/{id}")))?;
            println!("removed access key {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
