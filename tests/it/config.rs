//! `inlet`'s settings as operators give them: a `--config` file, environment variables that
//! override it, secrets in `*_FILE` files, and a bad value stopping the process with a hint.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::support::*;

/// A directory of the test's own, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("inlet-it-config-{}", random_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `inlet` with only the given `INLET_*` variables; returns exit code, stdout, stderr.
fn inlet(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_inlet"));
    cmd.args(args).stdin(Stdio::null());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("INLET_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run inlet");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `value source` of a setting's line in `inlet config`'s output.
fn row(out: &str, name: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in:\n{out}"));
    line.split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn inlet_config_shows_the_file_the_environment_over_it_and_redacted_secrets() {
    let dir = Scratch::new();
    let secret = format!("inlet_sk_{}", random_suffix());
    let key_file = dir.file("api_key", &format!("{secret}\n"));
    let db_password = format!("pw{}", random_suffix());
    let toml = dir.file(
        "inlet.toml",
        &format!(
            "listen = \"127.0.0.1:7101\"\nworker_batch = 32\nteam_name = \"Acme\"\n\
             database_url = \"postgres://inlet:{db_password}@db/inlet\"\n"
        ),
    );
    let (code, out, err) = inlet(
        &["--config", &toml, "config"],
        &[
            ("INLET_LISTEN", "127.0.0.1:7102"),
            ("INLET_BOOTSTRAP_API_KEY_FILE", &key_file),
        ],
    );
    assert_eq!(code, Some(0), "inlet config failed: {err}");
    assert_eq!(row(&out, "INLET_CONFIG"), format!("{toml} flag --config"));
    assert_eq!(
        row(&out, "INLET_WORKER_BATCH"),
        format!("32 file {toml} (worker_batch)")
    );
    assert_eq!(
        row(&out, "INLET_TEAM_NAME"),
        format!("Acme file {toml} (team_name)")
    );
    assert_eq!(row(&out, "INLET_LISTEN"), "127.0.0.1:7102 env INLET_LISTEN");
    assert_eq!(
        row(&out, "INLET_BOOTSTRAP_API_KEY"),
        "<redacted> env INLET_BOOTSTRAP_API_KEY_FILE"
    );
    assert_eq!(
        row(&out, "INLET_DATABASE_URL"),
        format!("<redacted> file {toml} (database_url)")
    );
    assert_eq!(row(&out, "INLET_AMQP_URL"), "<unset> default");
    assert_eq!(row(&out, "INLET_PREFETCH"), "1024 default");
    for leaked in [secret.as_str(), db_password.as_str()] {
        assert!(
            !out.contains(leaked) && !err.contains(leaked),
            "a secret leaked:\n{out}{err}"
        );
    }

    // The same file named by INLET_CONFIG, and a flag over the environment.
    let (code, out, err) = inlet(
        &["config", "--listen", "127.0.0.1:7103"],
        &[("INLET_CONFIG", &toml), ("INLET_LISTEN", "127.0.0.1:7102")],
    );
    assert_eq!(code, Some(0), "inlet config failed: {err}");
    assert_eq!(
        row(&out, "INLET_CONFIG"),
        format!("{toml} env INLET_CONFIG")
    );
    assert_eq!(row(&out, "INLET_LISTEN"), "127.0.0.1:7103 flag --listen");
}

#[test]
fn a_listen_port_alone_stops_serve_with_a_hint_on_one_line() {
    let (code, out, err) = inlet(&["serve"], &[("INLET_LISTEN", "8080")]);
    assert_eq!(code, Some(2), "stdout: {out}\nstderr: {err}");
    assert_eq!(
        err,
        "inlet: invalid value for INLET_LISTEN: expected host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080\n"
    );
}

#[test]
fn a_typo_in_the_file_and_a_secret_given_twice_stop_every_command() {
    let dir = Scratch::new();
    let toml = dir.file("inlet.toml", "worker_bacth = 4\n");
    let (code, _, err) = inlet(&["--config", &toml, "migrate"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        format!("inlet: unknown setting `worker_bacth` in {toml}; did you mean `worker_batch`?\n")
    );
    let secret_file = dir.file("db", "postgres://u:hunter2@db/inlet\n");
    let (code, _, err) = inlet(
        &["config"],
        &[
            ("INLET_DATABASE_URL", "postgres://u:hunter2@db/inlet"),
            ("INLET_DATABASE_URL_FILE", &secret_file),
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("both INLET_DATABASE_URL and INLET_DATABASE_URL_FILE"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}
