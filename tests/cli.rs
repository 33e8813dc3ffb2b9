//! The `skiff` CLI end to end against a real server.

mod common;

use common::Server;
use serde_json::Value;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn deploy_invoke_list_get_logs_and_remove() {
    let server = Server::start();
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/hello-c");
    common::example("hello-c");
    let out = server.cli(&["deploy", manifest_dir.to_str().unwrap(), "--env", "GREETING=Hi", "--memory", "192"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("deployed hello-c version 1"));

    let out = server.cli(&["invoke", "hello-c", "--data", r#"{"name":"Ada"}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(result["message"], "Hi, Ada!");
    assert_eq!(result["memory_mb"], "192");

    let event = server.data_dir.join("event.json");
    std::fs::write(&event, r#"{"name":"File"}"#).unwrap();
    let out = server.cli(&["invoke", "hello-c", "--data", &format!("@{}", event.display())]);
    assert!(stdout(&out).contains("Hi, File!"));
    let out = server.cli_with_stdin(&["invoke", "hello-c", "--data", "-", "--log"], Some(br#"{"name":"Stdin"}"#));
    assert!(stdout(&out).contains("Hi, Stdin!"));
    assert!(stderr(&out).contains("REPORT RequestId:"), "--log prints the tail log: {}", stderr(&out));

    let out = server.cli(&["deploy", "--name", "trap", "--wasm", common::fixture("trap").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.cli(&["invoke", "trap"]);
    assert!(!out.status.success(), "a function error exits non-zero");
    assert!(stderr(&out).contains("Runtime.Unhandled") && stderr(&out).contains("the widget is broken"));
    assert!(stdout(&out).is_empty());

    let out = server.cli(&["ls"]);
    assert!(stdout(&out).starts_with("NAME"), "{}", stdout(&out));
    assert!(stdout(&out).contains("hello-c") && stdout(&out).contains("192 MB"));
    let out = server.cli(&["ls", "--json"]);
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let out = server.cli(&["get", "hello-c", "--json"]);
    let config: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(config["env"]["GREETING"], "Hi");

    let out = server.cli(&["logs", "hello-c"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).matches("START RequestId:").count(), 3, "{}", stdout(&out));
    assert!(stdout(&out).contains("hello-c: handling request"));

    let out = server.cli(&["rm", "hello-c"]);
    assert!(out.status.success());
    let out = server.cli(&["get", "hello-c"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ResourceNotFoundException"), "{}", stderr(&out));
}

#[test]
fn cli_errors_are_clear_and_exit_non_zero() {
    let server = Server::start();
    let bad_manifest = server.data_dir.join("skiff.toml");
    std::fs::write(&bad_manifest, "name = 'x'\nmemroy = 128\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["deploy".into(), bad_manifest.display().to_string()], "unknown field"),
        (vec!["deploy".into(), "--name".into(), "x".into(), "--wasm".into(), "/nonexistent.wasm".into()], "reading /nonexistent.wasm"),
        (vec!["deploy".into(), "--name".into(), "x".into(), "--env".into(), "NOEQUALS".into()], "KEY=VALUE"),
        (vec!["invoke".into(), "nope".into()], "Function not found"),
        (vec!["logs".into(), "nope".into()], "Function not found"),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = server.cli(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
    }
    let unreachable = std::process::Command::new(common::BIN)
        .args(["ls", "--url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!unreachable.status.success());
    assert!(stderr(&unreachable).contains("cannot reach the skiff server"));
}
