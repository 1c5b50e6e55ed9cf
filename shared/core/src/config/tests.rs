//! Unit tests of the settings' parsing, the registry's coverage and the report.

use std::cell::RefCell;
use std::collections::BTreeSet;

use super::registry::SETTINGS;
use super::*;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_are_embedded_mode() {
    let cfg = Config::from_vars(vars(&[])).unwrap();
    assert!(cfg.embedded_queue());
    assert_eq!(cfg.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(cfg.public_url, "http://127.0.0.1:8080");
    assert_eq!(cfg.email_from, "Inlet <inlet@localhost>");
    assert!(cfg.database_url.expose_secret().starts_with("sqlite:"));
    assert_eq!(cfg.max_body_bytes, 1024 * 1024);
    assert_eq!(cfg.body_timeout, Duration::from_secs(10));
    assert_eq!((cfg.worker_batch, cfg.worker_concurrency), (128, 4));
    assert_eq!(
        cfg.endpoint_url("int_x"),
        "http://127.0.0.1:8080/webhooks/int_x"
    );
}

#[test]
fn debug_output_redacts_secrets() {
    let cfg = Config::from_vars(vars(&[
        ("INLET_DATABASE_URL", "postgres://u:hunter2@db/inlet"),
        ("INLET_AMQP_URL", "amqp://u:rabbitpass@mq/%2f"),
        ("INLET_BOOTSTRAP_API_KEY", "inlet_sk_supersecret"),
    ]))
    .unwrap();
    let printed = format!("{cfg:?}");
    for secret in ["hunter2", "rabbitpass", "supersecret"] {
        assert!(!printed.contains(secret), "{secret} leaked in {printed}");
    }
}

#[test]
fn bad_values_name_the_variable() {
    let err = Config::from_vars(vars(&[("INLET_PREFETCH", "0")])).unwrap_err();
    assert_eq!(err.name, "INLET_PREFETCH");
    let err = Config::from_vars(vars(&[("INLET_WORKER_BATCH", "0")])).unwrap_err();
    assert_eq!(err.name, "INLET_WORKER_BATCH");
    let err = Config::from_vars(vars(&[("INLET_DATABASE_URL", "mysql://x")])).unwrap_err();
    assert_eq!(err.name, "INLET_DATABASE_URL");
    let err = Config::from_vars(vars(&[("INLET_RETRY_DELAYS_MS", "100,x")])).unwrap_err();
    assert_eq!(err.name, "INLET_RETRY_DELAYS_MS");
    let err = Config::from_vars(vars(&[("INLET_LISTEN", "nope")])).unwrap_err();
    assert_eq!(err.name, "INLET_LISTEN");
    let err = Config::from_vars(vars(&[("INLET_BODY_TIMEOUT_MS", "0")])).unwrap_err();
    assert_eq!(err.name, "INLET_BODY_TIMEOUT_MS");
    let err = Config::from_vars(vars(&[("INLET_TEMPLATE_MAX_BYTES", "0")])).unwrap_err();
    assert_eq!(err.name, "INLET_TEMPLATE_MAX_BYTES");
    let err = Config::from_vars(vars(&[("INLET_OPS_LISTEN", "nope")])).unwrap_err();
    assert_eq!(err.name, "INLET_OPS_LISTEN");
}

#[test]
fn cookies_are_secure_when_the_public_url_is_https() {
    let public = |url: &str| {
        Config::from_vars(vars(&[("INLET_PUBLIC_URL", url)]))
            .unwrap()
            .public_url_is_https()
    };
    assert!(public("https://inlet.example.com"));
    assert!(public("HTTPS://inlet.example.com/"));
    assert!(!public("http://inlet.example.com"));
    assert!(!public("https"));
    assert!(!Config::from_vars(vars(&[])).unwrap().public_url_is_https());
    assert_eq!(Config::from_vars(vars(&[])).unwrap().ops_listen, None);
}

#[test]
fn a_listen_address_without_host_gets_a_hint() {
    for name in ["INLET_LISTEN", "INLET_OPS_LISTEN", "INLET_WORKER_LISTEN"] {
        let err = Config::from_vars(vars(&[(name, "8080")])).unwrap_err();
        assert_eq!(err.name, name);
        assert_eq!(
            err.to_string(),
            format!(
                "invalid value for {name}: expected host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080"
            )
        );
    }
    let cfg = Config::from_vars(vars(&[("INLET_WORKER_LISTEN", "0.0.0.0:9100")])).unwrap();
    assert_eq!(cfg.worker_listen.map(|a| a.port()), Some(9100));
}

#[test]
fn amqps_and_its_tls_files() {
    let url = ("INLET_AMQP_URL", "amqps://u:p@mq:5671/%2f");
    let cfg = Config::from_vars(vars(&[
        url,
        ("INLET_AMQP_TLS_CA_FILE", "/etc/inlet/ca.pem"),
        ("INLET_AMQP_TLS_CERT_FILE", "/etc/inlet/client.pem"),
        ("INLET_AMQP_TLS_KEY_FILE", "/etc/inlet/client.key"),
    ]))
    .unwrap();
    assert!(!cfg.embedded_queue());
    assert_eq!(
        cfg.amqp_tls_ca_file.as_deref(),
        Some(std::path::Path::new("/etc/inlet/ca.pem"))
    );
    assert!(cfg.amqp_tls_cert_file.is_some() && cfg.amqp_tls_key_file.is_some());
    let plain = Config::from_vars(vars(&[("INLET_AMQP_URL", "amqp://mq/%2f")])).unwrap();
    assert_eq!(plain.amqp_tls_ca_file, None);

    let err = |pairs: &[(&str, &str)]| Config::from_vars(vars(pairs)).unwrap_err();
    let half = err(&[url, ("INLET_AMQP_TLS_CERT_FILE", "/c.pem")]);
    assert_eq!(half.name, "INLET_AMQP_TLS_CERT_FILE");
    assert!(half.reason.contains("INLET_AMQP_TLS_KEY_FILE"), "{half}");
    let half = err(&[url, ("INLET_AMQP_TLS_KEY_FILE", "/c.key")]);
    assert_eq!(half.name, "INLET_AMQP_TLS_KEY_FILE");
    let unused = err(&[
        ("INLET_AMQP_URL", "amqp://mq/%2f"),
        ("INLET_AMQP_TLS_CA_FILE", "/ca.pem"),
    ]);
    assert_eq!(unused.name, "INLET_AMQP_TLS_CA_FILE");
    let unused = err(&[("INLET_AMQP_TLS_CA_FILE", "/ca.pem")]);
    assert_eq!(unused.name, "INLET_AMQP_TLS_CA_FILE");
    let scheme = err(&[("INLET_AMQP_URL", "http://u:rabbitpass@mq")]);
    assert_eq!(scheme.name, "INLET_AMQP_URL");
    assert!(!scheme.to_string().contains("rabbitpass"));
}

#[test]
fn a_cluster_is_its_nodes_urls_separated_by_commas() {
    let nodes = "amqp://u:p@mq-a/%2f, amqp://u:p@mq-b/%2f,amqp://u:p@mq-c/%2f";
    let cfg = Config::from_vars(vars(&[("INLET_AMQP_URL", nodes)])).unwrap();
    assert!(!cfg.embedded_queue());
    assert_eq!(
        amqp_nodes(nodes),
        [
            "amqp://u:p@mq-a/%2f",
            "amqp://u:p@mq-b/%2f",
            "amqp://u:p@mq-c/%2f"
        ]
    );
    // Every node must be an AMQP URL; an empty list is none.
    for bad in ["amqp://mq-a/%2f,http://mq-b", " , ", "amqp://mq-a/%2f,mq-b"] {
        let e = Config::from_vars(vars(&[("INLET_AMQP_URL", bad)])).unwrap_err();
        assert_eq!(e.name, "INLET_AMQP_URL", "{bad}");
    }
    // TLS files apply when any node is amqps://.
    let tls = Config::from_vars(vars(&[
        ("INLET_AMQP_URL", "amqp://mq-a/%2f,amqps://mq-b/%2f"),
        ("INLET_AMQP_TLS_CA_FILE", "/ca.pem"),
    ]))
    .unwrap();
    assert!(tls.amqp_tls_ca_file.is_some());
}

#[test]
fn every_setting_read_is_registered_and_every_registered_one_is_read() {
    let asked = RefCell::new(BTreeSet::new());
    Config::read(&|name| {
        asked.borrow_mut().insert(name);
        None
    })
    .unwrap();
    let registered: BTreeSet<&str> = SETTINGS.iter().map(|s| s.name).collect();
    assert_eq!(asked.into_inner(), registered);
}

#[test]
fn every_field_is_shown_under_its_registered_name_and_secrets_are_typed_secret() {
    let cfg = Config::from_vars(vars(&[])).unwrap();
    let shown = cfg.shown();
    let names: Vec<&str> = shown.iter().map(|(name, _)| *name).collect();
    let registered: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
    assert_eq!(
        names, registered,
        "shown in another order or set than registered"
    );
    for (setting, (_, value)) in SETTINGS.iter().zip(&shown) {
        let typed_secret = matches!(value, report::Shown::Secret { .. });
        assert_eq!(setting.secret, typed_secret, "{}", setting.name);
    }
}

#[test]
fn the_report_redacts_secrets_and_shows_values_and_defaults() {
    let cfg = Config::from_vars(vars(&[
        ("INLET_DATABASE_URL", "postgres://u:hunter2@db/inlet"),
        ("INLET_SMTP_URL", "smtp://u:mailpass@smtp:587"),
        ("INLET_WORKER_BATCH", "64"),
    ]))
    .unwrap();
    let out = report(&cfg);
    for secret in ["hunter2", "mailpass", "postgres://", "smtp://"] {
        assert!(!out.contains(secret), "{secret} leaked in\n{out}");
    }
    let line = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        line("INLET_DATABASE_URL"),
        "INLET_DATABASE_URL <redacted> default"
    );
    assert_eq!(line("INLET_SMTP_URL"), "INLET_SMTP_URL <redacted> default");
    assert_eq!(line("INLET_AMQP_URL"), "INLET_AMQP_URL <unset> default");
    assert_eq!(
        line("INLET_BOOTSTRAP_API_KEY"),
        "INLET_BOOTSTRAP_API_KEY <unset> default"
    );
    assert_eq!(line("INLET_WORKER_BATCH"), "INLET_WORKER_BATCH 64 default");
    assert_eq!(
        line("INLET_BODY_TIMEOUT_MS"),
        "INLET_BODY_TIMEOUT_MS 10000 default"
    );
    assert_eq!(line("INLET_OPS_LISTEN"), "INLET_OPS_LISTEN <unset> default");
    assert_eq!(line("INLET_CONFIG"), "INLET_CONFIG <unset> default");
    assert_eq!(out.lines().count(), SETTINGS.len() + 2);
    // The registry's flag and the secret's type each redact on their own.
    assert_eq!(report::Shown::Secret { set: true }.text(), "<redacted>");
    assert_eq!(report::Shown::Secret { set: false }.text(), "<unset>");
}

#[test]
fn master_keys_parse_and_a_bad_one_is_named_without_its_value() {
    let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let cfg = Config::from_vars(vars(&[
        ("INLET_MASTER_KEY", hex),
        ("INLET_ALLOW_PLAINTEXT_SECRETS", "true"),
    ]))
    .unwrap();
    let key = cfg.master_key.as_ref().unwrap();
    assert_eq!(
        key.id(),
        crate::sealing::MasterKey::parse(hex).unwrap().id()
    );
    assert!(cfg.master_key_previous.is_none());
    assert!(cfg.allow_plaintext_secrets);
    assert!(!format!("{cfg:?}").contains(hex));
    let out = report(&cfg);
    assert!(!out.contains(hex), "{out}");
    assert!(out.contains("INLET_MASTER_KEY"), "{out}");

    let err = |pairs: &[(&str, &str)]| Config::from_vars(vars(pairs)).unwrap_err();
    let bad = err(&[("INLET_MASTER_KEY_PREVIOUS", "deadbeefdeadbeef")]);
    assert_eq!(bad.name, "INLET_MASTER_KEY_PREVIOUS");
    assert!(bad.reason.contains("32 bytes"), "{bad}");
    assert!(!bad.to_string().contains("deadbeef"), "{bad}");
    let bad = err(&[("INLET_ALLOW_PLAINTEXT_SECRETS", "yes")]);
    assert_eq!(bad.name, "INLET_ALLOW_PLAINTEXT_SECRETS");
    assert!(
        !Config::from_vars(vars(&[]))
            .unwrap()
            .allow_plaintext_secrets
    );
}
