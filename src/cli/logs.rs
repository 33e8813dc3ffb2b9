use super::Client;
use clap::Args;
use serde_json::Value;
use std::io::BufRead;
use std::process::ExitCode;

#[derive(Args)]
pub struct LogsArgs {
    name: super::name::Name,
    /// Keep streaming new invocation logs.
    #[arg(long, short = 'f')]
    follow: bool,
    /// How many recent invocations to show.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

pub fn run(client: &Client, args: LogsArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    let path = format!("/v1/functions/{}/logs?limit={}&follow={}", args.name, args.limit, args.follow);
    let resp = client.send(client.request(reqwest::Method::GET, &path))?;
    let print = |entry: &Value| {
        if as_json {
            println!("{entry}");
        } else if let Some(text) = entry["text"].as_str() {
            print!("{text}");
        } else if let Some(n) = entry["skipped"].as_u64() {
            eprintln!("... {n} log entries skipped (reader too slow)");
        }
    };
    if args.follow {
        for line in std::io::BufReader::new(resp).lines() {
            print(&serde_json::from_str(&line?)?);
        }
    } else {
        let body: Value = resp.json()?;
        for entry in body["entries"].as_array().map(Vec::as_slice).unwrap_or_default() {
            print(entry);
        }
    }
    Ok(ExitCode::SUCCESS)
}
