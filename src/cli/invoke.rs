use super::Client;
use anyhow::Context;
use base64::Engine as _;
use clap::Args;
use std::io::{Read, Write};
use std::process::ExitCode;

#[derive(Args)]
pub struct InvokeArgs {
    name: super::name::Name,
    /// The event: inline JSON, @FILE, or - for stdin.
    #[arg(long, short = 'd')]
    data: Option<String>,
    /// Queue the event and return at once (Lambda's Event invocation); prints the request id.
    #[arg(long = "async")]
    r#async: bool,
    /// With --async: URL that receives the final status as a POST.
    #[arg(long, requires = "async")]
    callback: Option<String>,
    /// Also print the invocation's log (its last 4 KB) on stderr.
    #[arg(long)]
    log: bool,
}

pub fn run(client: &Client, args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let payload = match args.data.as_deref() {
        None => Vec::new(),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("reading the event from stdin")?;
            buf
        }
        Some(d) if d.starts_with('@') => super::read_bounded(std::path::Path::new(&d[1..]), 6 << 20)?,
        Some(d) => d.as_bytes().to_vec(),
    };
    let mut req = client
        .request(reqwest::Method::POST, &format!("/2015-03-31/functions/{}/invocations", args.name))
        .header("X-Amz-Invocation-Type", if args.r#async { "Event" } else { "RequestResponse" })
        .header("X-Amz-Log-Type", if args.log { "Tail" } else { "None" })
        .body(payload);
    if let Some(url) = &args.callback {
        req = req.header("X-Callback-Url", url);
    }
    let resp = client.send(req)?;
    if args.r#async {
        let id = resp.headers().get("x-amzn-requestid").and_then(|v| v.to_str().ok()).unwrap_or_default();
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    }
    if args.log {
        if let Some(log) = resp.headers().get("x-amz-log-result").and_then(|v| v.to_str().ok()) {
            let text = base64::engine::general_purpose::STANDARD.decode(log).unwrap_or_default();
            eprint!("{}", String::from_utf8_lossy(&text));
        }
    }
    let function_error = resp.headers().contains_key("x-amz-function-error");
    let body = resp.bytes()?;
    if function_error {
        let err: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        eprintln!("{}: {}", err["errorType"].as_str().unwrap_or("Unhandled"), err["errorMessage"].as_str().unwrap_or(&String::from_utf8_lossy(&body)));
        return Ok(ExitCode::FAILURE);
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&body)?;
    if !body.ends_with(b"\n") && !body.is_empty() {
        out.write_all(b"\n")?;
    }
    Ok(ExitCode::SUCCESS)
}
