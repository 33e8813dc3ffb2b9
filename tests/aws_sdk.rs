//! An unmodified AWS SDK (boto3, installed by scripts/install-deps.sh) invokes functions through
//! the gateway: wire format, headers and exception mapping as a real Lambda client sees them.

mod common;

use common::Server;
use serde_json::json;

#[test]
fn boto3_invokes_and_gets_lambda_shaped_errors() {
    let server = Server::start();
    server.deploy_fixture("echo", "echo", json!({}));
    server.deploy_fixture("trap", "trap", json!({}));
    run_sdk_script("boto3_invoke.py", &[&server.url]);
}

/// Runs `tests/sdk/SCRIPT ARGS` and expects it to finish with "all checks passed".
fn run_sdk_script(script: &str, args: &[&str]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk").join(script);
    let out = std::process::Command::new("python3").arg(path).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}

/// The Lambda control plane driven by unmodified boto3 and the AWS CLI: life cycle, waiters,
/// paging, stale revisions, conflicts, bad fields, reserved concurrency 0 and event settings.
#[test]
fn boto3_and_the_aws_cli_manage_functions() {
    let server = Server::start();
    run_sdk_script("boto3_control.py", &[&server.url, "skiff-examples/hello-rust:latest"]);
}

/// Published versions and aliases driven by boto3 and the AWS CLI: each version keeps its code,
/// a weighted alias splits calls by its weights, and what an alias uses cannot be deleted.
#[test]
fn boto3_publishes_versions_and_routes_through_weighted_aliases() {
    let server = Server::start();
    server.deploy_fixture("canary", "echo", json!({}));
    let trap = common::fixture("trap");
    run_sdk_script("boto3_versions.py", &[&server.url, "canary", trap.to_str().unwrap()]);
}
