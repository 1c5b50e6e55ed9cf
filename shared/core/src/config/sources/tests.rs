//! Unit tests of the sources: precedence, the file's keys and values, `*_FILE` secrets.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret;

use super::*;

/// A directory of its own under the system's temporary one, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("inlet-config-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn named_by_flag() -> Origin {
    Origin::Flag { flag: "--config" }
}

fn load_file(path: &Path, env: &[(&str, &str)]) -> Result<Config, LoadError> {
    Loader::new()
        .file(path, named_by_flag())
        .env(env.iter().map(|(k, v)| (*k, *v)))
        .load()
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let dir = Scratch::new();
    let toml = dir.file(
        "inlet.toml",
        "listen = \"127.0.0.1:7001\"\nworker_batch = 32\nteam_name = \"From file\"\n",
    );
    let config = Loader::new()
        .file(&toml, named_by_flag())
        .env([
            ("INLET_LISTEN", "127.0.0.1:7002"),
            ("INLET_WORKER_BATCH", "64"),
            ("HOME", "/root"),
        ])
        .flag("INLET_LISTEN", "--listen", "127.0.0.1:7003")
        .load()
        .unwrap();
    assert_eq!(config.listen.port(), 7003);
    assert_eq!(config.worker_batch, 64);
    assert_eq!(config.team_name, "From file");
    assert_eq!(config.prefetch, 1024);
    let sources = &config.sources;
    assert_eq!(
        sources.origin("INLET_LISTEN"),
        &Origin::Flag { flag: "--listen" }
    );
    assert_eq!(
        sources.origin("INLET_WORKER_BATCH"),
        &Origin::Env {
            var: "INLET_WORKER_BATCH".into()
        }
    );
    assert_eq!(
        sources.origin("INLET_TEAM_NAME"),
        &Origin::File {
            path: toml.clone(),
            key: "team_name".into()
        }
    );
    assert_eq!(sources.origin("INLET_PREFETCH"), &Origin::Default);
    assert_eq!(
        sources.config_file(),
        Some((toml.as_path(), &named_by_flag()))
    );

    // Without the flag and the environment, the file's values stand.
    let config = load_file(&toml, &[]).unwrap();
    assert_eq!((config.listen.port(), config.worker_batch), (7001, 32));
    // An empty variable is unset: it does not hide the file's value.
    let config = load_file(&toml, &[("INLET_LISTEN", "")]).unwrap();
    assert_eq!(config.listen.port(), 7001);
}

#[test]
fn file_values_may_be_numbers_booleans_and_arrays() {
    let dir = Scratch::new();
    let toml = dir.file(
        "inlet.toml",
        "prefetch = 256\nretry_delays_ms = [100, \"200\"]\nkeep_requests = \"none\"\nrust_log = \"warn\"\nteam_name = true\n",
    );
    let config = load_file(&toml, &[]).unwrap();
    assert_eq!(config.prefetch, 256);
    assert_eq!(
        config.retry_delays,
        [Duration::from_millis(100), Duration::from_millis(200)]
    );
    assert_eq!(config.keep_requests, super::super::KeepRequests::None);
    assert_eq!(config.log_filter, "warn");
    assert_eq!(config.team_name, "true");

    for (text, found) in [
        ("worker_batch = 1.5\n", "a float"),
        ("[listen]\nhost = \"x\"\n", "a table"),
    ] {
        let err = load_file(&dir.file("bad.toml", text), &[]).unwrap_err();
        assert!(
            matches!(&err, LoadError::BadType { found: f, .. } if *f == found),
            "{err}"
        );
    }
}

#[test]
fn an_unknown_key_names_the_key_and_the_file_and_suggests_one() {
    let dir = Scratch::new();
    let toml = dir.file("inlet.toml", "listen = \"127.0.0.1:1\"\nwoker_batch = 4\n");
    let err = load_file(&toml, &[]).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "unknown setting `woker_batch` in {}; did you mean `worker_batch`?",
            toml.display()
        )
    );
    let toml = dir.file("upper.toml", "INLET_LISTEN = \"127.0.0.1:1\"\n");
    let err = load_file(&toml, &[]).unwrap_err().to_string();
    assert!(err.contains("did you mean `listen`?"), "{err}");
    let toml = dir.file("far.toml", "colour_scheme = \"dark\"\n");
    let err = load_file(&toml, &[]).unwrap_err().to_string();
    assert!(err.ends_with(&toml.display().to_string()), "{err}");
    // A non-secret has no `_file` form.
    let toml = dir.file("listen_file.toml", "listen_file = \"/x\"\n");
    assert!(matches!(
        load_file(&toml, &[]),
        Err(LoadError::UnknownKey { .. })
    ));
}

#[test]
fn a_missing_or_broken_file_is_a_clear_error_without_its_text() {
    let dir = Scratch::new();
    let missing = dir.0.join("nope.toml");
    let err = load_file(&missing, &[]).unwrap_err();
    assert!(matches!(err, LoadError::ReadFile { .. }));
    assert!(
        err.to_string().starts_with(&format!(
            "cannot read the configuration file {}: ",
            missing.display()
        )),
        "{err}"
    );
    let toml = dir.file(
        "broken.toml",
        "listen = \"127.0.0.1:1\"\ndatabase_url = \"postgres://u:hunter2@db\n",
    );
    let err = load_file(&toml, &[]).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:2:", toml.display())), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_bad_value_names_where_it_was_set() {
    let dir = Scratch::new();
    let toml = dir.file("inlet.toml", "listen = \"8080\"\n");
    let hint = "expected host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080";
    let err = load_file(&toml, &[]).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("invalid value for listen in {}: {hint}", toml.display())
    );
    let err = load_file(&toml, &[("INLET_LISTEN", "9090")])
        .unwrap_err()
        .to_string();
    assert_eq!(err, format!("invalid value for INLET_LISTEN: {hint}"));
    let err = Loader::new()
        .flag("INLET_LISTEN", "--listen", "x")
        .load()
        .unwrap_err()
        .to_string();
    assert_eq!(err, format!("invalid value for --listen: {hint}"));
}

#[test]
fn secrets_come_from_their_file_less_one_newline() {
    let dir = Scratch::new();
    let db = dir.file("db", "postgres://u:hunter2@db/inlet\n");
    let key = dir.file("key", "inlet_sk_two_newlines\n\n");
    let smtp = dir.file("smtp", "smtp://u:p@mail:587\r\n");
    let toml = dir.file(
        "inlet.toml",
        &format!("smtp_url_file = {:?}\n", smtp.display().to_string()),
    );
    let db_var = db.display().to_string();
    let key_var = key.display().to_string();
    let config = load_file(
        &toml,
        &[
            ("INLET_DATABASE_URL_FILE", &db_var),
            ("INLET_BOOTSTRAP_API_KEY_FILE", &key_var),
        ],
    )
    .unwrap();
    assert_eq!(
        config.database_url.expose_secret(),
        "postgres://u:hunter2@db/inlet"
    );
    let api_key = config.bootstrap_api_key.as_ref().map(|k| k.expose_secret());
    assert_eq!(api_key, Some("inlet_sk_two_newlines\n"));
    let smtp_url = config.smtp_url.as_ref().map(|k| k.expose_secret());
    assert_eq!(smtp_url, Some("smtp://u:p@mail:587"));
    assert_eq!(
        config.sources.origin("INLET_DATABASE_URL"),
        &Origin::Env {
            var: "INLET_DATABASE_URL_FILE".into()
        }
    );
    let out = super::super::report(&config);
    assert!(
        !out.contains("hunter2") && !out.contains("inlet_sk"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("INLET_DATABASE_URL ") && l.contains("<redacted>")),
        "{out}"
    );
}

#[test]
fn a_secret_set_both_ways_in_one_layer_is_an_error() {
    let dir = Scratch::new();
    let db = dir.file("db", "postgres://db/inlet\n");
    let db_var = db.display().to_string();
    let err = Loader::new()
        .env([
            ("INLET_DATABASE_URL", "postgres://db/other"),
            ("INLET_DATABASE_URL_FILE", db_var.as_str()),
        ])
        .load()
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "both INLET_DATABASE_URL and INLET_DATABASE_URL_FILE are set in the environment; set only one"
    );
    let toml = dir.file(
        "inlet.toml",
        &format!("amqp_url = \"amqp://mq\"\namqp_url_file = {db_var:?}\n"),
    );
    let err = load_file(&toml, &[]).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "both amqp_url and amqp_url_file are set in {}; set only one",
            toml.display()
        )
    );
    // Across layers the higher one wins, and the lower one's file is not even read.
    let toml = dir.file("lower.toml", "database_url_file = \"/nonexistent/db\"\n");
    let config = load_file(&toml, &[("INLET_DATABASE_URL", "postgres://db/env")]).unwrap();
    assert_eq!(config.database_url.expose_secret(), "postgres://db/env");
}

#[test]
fn an_unreadable_or_empty_secret_file_names_its_variable_not_its_content() {
    let dir = Scratch::new();
    let err = Loader::new()
        .env([("INLET_UNSUBSCRIBE_SECRET_FILE", "/nonexistent/secret")])
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot read /nonexistent/secret (INLET_UNSUBSCRIBE_SECRET_FILE): "),
        "{err}"
    );
    let empty = dir.file("empty", "\n");
    let empty_var = empty.display().to_string();
    let err = Loader::new()
        .env([("INLET_UNSUBSCRIBE_SECRET_FILE", empty_var.as_str())])
        .load()
        .unwrap_err();
    assert!(matches!(err, LoadError::EmptySecret { .. }), "{err}");
    let bad = dir.file("db", "mysql://u:hunter2@db\n");
    let bad_var = bad.display().to_string();
    let err = Loader::new()
        .env([("INLET_DATABASE_URL_FILE", bad_var.as_str())])
        .load()
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "invalid value for INLET_DATABASE_URL (read from INLET_DATABASE_URL_FILE): expected a sqlite:// or postgres:// URL"
    );
}
