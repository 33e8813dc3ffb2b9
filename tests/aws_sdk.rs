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
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/boto3_invoke.py");
    let out = std::process::Command::new("python3").arg(script).arg(&server.url).output().unwrap();
    assert!(
        out.status.success(),
        "boto3 checks failed:\n{}{}",
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
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/boto3_control.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&server.url)
        .arg("skiff-examples/hello-rust:latest")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "control-plane checks failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}
