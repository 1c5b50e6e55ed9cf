//! Runs one of `tests/sdk`'s test files — the official `loops` SDK driving a running Inlet —
//! with Node's test runner, and checks that every test in it passed.

use std::process::Command;

/// Runs `tests/sdk/<file>` with `env` (the API root, the key, …); fails the calling test
/// unless exactly `tests` tests ran and none failed. Returns Node's output.
pub async fn run_sdk_file(
    file: &'static str,
    env: Vec<(&'static str, String)>,
    tests: usize,
) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk");
    assert!(
        dir.join("node_modules/loops").exists(),
        "the loops SDK is not installed: run `npm ci --prefix tests/sdk` (./scripts/test.sh does)"
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", file])
            .current_dir(dir)
            .envs(env)
            .output()
            .expect("Node.js is required for the SDK tests")
    })
    .await
    .expect("the SDK test ran");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success()
            && stdout.contains(&format!("# pass {tests}\n"))
            && stdout.contains("# fail 0"),
        "{file} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
