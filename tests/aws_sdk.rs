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
    assert!(out.status.success(), "{script} failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
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

/// With `--token`: access keys made by `skiff keys create`, SigV4 signatures verified (wrong
/// secret, altered body, old date, unknown key all refused with AWS's errors), a key limited to
/// invoking one function refused everything else, secrets never readable back nor stored in
/// the clear, and a removed key refused.
#[test]
fn signed_requests_are_verified_and_access_keys_are_limited_by_their_policy() {
    let server = Server::start_with(&["--token", "s3cret"]);
    let admin = |args: &[&str]| {
        let mut all = vec!["--token", "s3cret"];
        all.extend_from_slice(args);
        let out = server.cli(&all);
        assert!(out.status.success(), "skiff {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for (name, fixture) in [("echo", "echo"), ("trap", "trap")] {
        admin(&["deploy", "--name", name, "--wasm", common::fixture(fixture).to_str().unwrap()]);
    }
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("invoke-echo.json");
    let document = json!({ "Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:*:*:function:echo" }] });
    std::fs::write(&policy, document.to_string()).unwrap();
    let created: serde_json::Value = serde_json::from_str(&admin(&["--json", "keys", "create", "--name", "ci", "--policy", policy.to_str().unwrap()])).unwrap();
    let (id, secret) = (created["AccessKey"]["AccessKeyId"].as_str().unwrap(), created["AccessKey"]["SecretAccessKey"].as_str().unwrap());
    assert_eq!(created["AccessKey"]["UserName"], "ci");

    run_sdk_script("boto3_keys.py", &[&server.url, "s3cret", id, secret]);

    let listed = admin(&["--json", "keys", "ls"]);
    assert!(listed.contains(id) && !listed.contains(secret), "{listed}");
    for file in walk(&server.data_dir) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret is in the clear in {}", file.display());
    }
    let bad_policy = dir.path().join("bad.json");
    std::fs::write(&bad_policy, r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}]}"#).unwrap();
    let refused = server.cli(&["--token", "s3cret", "keys", "create", "--name", "x", "--policy", bad_policy.to_str().unwrap()]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("Condition"), "{refused:?}");

    admin(&["keys", "rm", id]);
    let revoked = std::process::Command::new("python3")
        .args([
            "-c",
            &format!(
                "import sys; sys.path.insert(0, 'tests/sdk'); import boto3, skiff_lambda\n\
             c = boto3.client('lambda', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='{id}', aws_secret_access_key='{secret}')\n\
             print(skiff_lambda.error_of(c.invoke, FunctionName='echo', Payload=b'{{}}'))",
                server.url
            ),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&revoked.stdout);
    assert!(answer.contains("403") && answer.contains("UnrecognizedClientException"), "{answer}{}", String::from_utf8_lossy(&revoked.stderr));
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Zip functions on the managed python3.11 runtime (the image scripts/build-functions.sh builds
/// from runtimes/python3.11), created and updated by boto3: Lambda's layout and environment,
/// CodeSha256 of the zip, versions keeping their code, Runtime.ImportModuleError, refused input.
#[test]
fn boto3_runs_zip_functions_on_the_managed_python_runtime() {
    let server = Server::start();
    run_sdk_script("boto3_zip.py", &[&server.url]);
}

/// Function URL configs managed by boto3 on a server with a token: `AuthType: NONE` opens
/// `/fn/NAME/` to callers without credentials, `AWS_IAM` (and no config at all) needs them, and
/// refused requests change nothing.
#[test]
fn boto3_manages_function_url_configs_and_who_may_call_the_url() {
    let server = Server::start_with(&["--token", "s3cret"]);
    let fixture = common::fixture("echo");
    let out = server.cli(&["--token", "s3cret", "deploy", "--name", "web", "--wasm", fixture.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    run_sdk_script("boto3_urls.py", &[&server.url, "s3cret", "web"]);
}
