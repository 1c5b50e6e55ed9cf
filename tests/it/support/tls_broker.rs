//! A RabbitMQ node of the test binary's own whose only listener is TLS with client
//! certificates required, and the certificates made for it (a CA, the broker's, a client's).
//! One node serves every TLS test; it stops when the test binary ends, however it ends.
//!
//! The node runs under a small shell that holds the read end of a pipe whose write end this
//! process keeps: when the process exits (or the broker is dropped) the pipe closes and the
//! shell stops the node with SIGTERM, then removes its directory.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{free_port, random_suffix};

const START_TIMEOUT: Duration = Duration::from_secs(60);

fn server_script() -> PathBuf {
    std::env::var_os("INLET_TEST_RABBITMQ_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/lib/rabbitmq/bin/rabbitmq-server".into())
}

/// Starts the node, stops it when the pipe on its standard input closes, then cleans up.
const SUPERVISOR: &str = r#"
"$INLET_RABBITMQ_SERVER" >"$INLET_BROKER_DIR/server.log" 2>&1 &
server=$!
echo "$server" >"$INLET_BROKER_DIR/server.pid"
read -r _ || true
kill -TERM "$server" 2>/dev/null
wait "$server"
rm -rf "$INLET_BROKER_DIR"
"#;

/// PEM files in the broker's directory.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

pub struct TlsBroker {
    pub port: u16,
    pub node: String,
    pub files: TlsFiles,
    dir: PathBuf,
    supervisor: Mutex<Option<(Child, ChildStdin)>>,
}

impl TlsBroker {
    /// The node shared by this test binary, started on first use.
    pub fn shared() -> &'static TlsBroker {
        static BROKER: OnceLock<TlsBroker> = OnceLock::new();
        BROKER.get_or_init(TlsBroker::start)
    }

    /// `amqps://` URL of the default vhost, by host name (the broker's certificate is
    /// for `localhost`).
    pub fn url(&self) -> String {
        format!("amqps://guest:guest@localhost:{}/%2f", self.port)
    }

    /// A vhost of the caller's own (guest may use it), so tests sharing the node never
    /// consume each other's messages; returns its `amqps://` URL.
    pub fn vhost(&self) -> String {
        let name = format!("inlet-tls-{}", random_suffix());
        self.ctl(&["add_vhost", &name]);
        self.ctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        format!("amqps://guest:guest@localhost:{}/{name}", self.port)
    }

    fn ctl(&self, args: &[&str]) {
        let ctl = server_script().with_file_name("rabbitmqctl");
        let out = Command::new(&ctl)
            .args(["-n", &self.node, "-q"])
            .args(args)
            .env("HOME", self.dir.join("home"))
            .env("RABBITMQ_CONF_ENV_FILE", self.dir.join("rabbitmq-env.conf"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", ctl.display()));
        assert!(
            out.status.success(),
            "rabbitmqctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start() -> Self {
        let script = server_script();
        assert!(
            script.exists(),
            "RabbitMQ's server is required at {} (apt-get install rabbitmq-server, or set \
             INLET_TEST_RABBITMQ_SERVER)",
            script.display()
        );
        let dir = std::env::temp_dir().join(format!("inlet-tls-broker-{}", random_suffix()));
        std::fs::create_dir_all(&dir).expect("broker directory");
        let files = write_certificates(&dir);
        let port = free_port();
        let dist_port = free_port();
        let node = format!("inlet-tls-{}@localhost", std::process::id());
        let config = dir.join("rabbitmq.conf");
        std::fs::write(
            &config,
            format!(
                "listeners.tcp = none\n\
                 listeners.ssl.default = 127.0.0.1:{port}\n\
                 ssl_options.cacertfile = {ca}\n\
                 ssl_options.certfile = {cert}\n\
                 ssl_options.keyfile = {key}\n\
                 ssl_options.verify = verify_peer\n\
                 ssl_options.fail_if_no_peer_cert = true\n",
                ca = files.ca.display(),
                cert = dir.join("broker.pem").display(),
                key = dir.join("broker.key").display(),
            ),
        )
        .expect("rabbitmq.conf");
        // Nothing of the machine's own node (its env file, plugins, advanced config) applies.
        std::fs::write(dir.join("rabbitmq-env.conf"), "").expect("env file");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("plugins file");
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("home");
        let path = |name: &str| dir.join(name).into_os_string();

        let mut child = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .env("INLET_RABBITMQ_SERVER", &script)
            .env("INLET_BROKER_DIR", &dir)
            .env("HOME", &home)
            .env("RABBITMQ_NODENAME", &node)
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("RABBITMQ_CONF_ENV_FILE", path("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", &config)
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", path("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", path("mnesia"))
            .env("RABBITMQ_LOG_BASE", path("log"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the RabbitMQ node's supervisor shell");
        let stdin = child.stdin.take().expect("piped stdin");
        let broker = Self {
            port,
            node,
            files,
            dir,
            supervisor: Mutex::new(Some((child, stdin))),
        };
        broker.await_listener();
        broker
    }

    /// Waits for the TLS port; fails with the node's log if the node stops or never listens.
    fn await_listener(&self) {
        let started = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if !self.server_alive() || started.elapsed() > START_TIMEOUT {
                panic!(
                    "the TLS RabbitMQ node {} did not open port {} within {:?}:\n{}",
                    self.node,
                    self.port,
                    started.elapsed(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// False once the server script has exited (its pid file names it once started).
    fn server_alive(&self) -> bool {
        match std::fs::read_to_string(self.dir.join("server.pid")) {
            Ok(pid) => Path::new("/proc").join(pid.trim()).exists(),
            Err(_) => true,
        }
    }

    fn log_tail(&self) -> String {
        let mut log = String::new();
        if let Ok(mut file) = std::fs::File::open(self.dir.join("server.log")) {
            let _ = file.read_to_string(&mut log);
        }
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        let taken = self.supervisor.lock().map(|mut s| s.take());
        if let Ok(Some((mut child, stdin))) = taken {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// A CA, the broker's certificate (for `localhost`) and a client certificate, as PEM files.
fn write_certificates(dir: &Path) -> TlsFiles {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Inlet test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();

    let leaf = |name: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (broker_cert, broker_key) = leaf("localhost");
    let (client_cert, client_key) = leaf("inlet");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    write("broker.pem", &broker_cert);
    write("broker.key", &broker_key);
    TlsFiles {
        ca: write("ca.pem", &ca.pem()),
        client_cert: write("client.pem", &client_cert),
        client_key: write("client.key", &client_key),
    }
}
