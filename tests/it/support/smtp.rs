//! A real SMTP server for the tests: aiosmtpd (pinned in tests/smtp/requirements.txt and
//! installed into tests/smtp/.venv by scripts/test.sh) delivering into a Maildir of the
//! test's own; `mime` reads headers and decoded text out of what it delivered.

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use super::eventually::{poll, poll_blocking};
use super::{body_text, header, random_suffix};

const INSTALL_HINT: &str = "./scripts/test.sh installs it (python3 -m venv tests/smtp/.venv && \
     tests/smtp/.venv/bin/pip install -r tests/smtp/requirements.txt)";

/// How long `up` waits for the server to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The venv's python, checked once to import aiosmtpd; panics saying how to install it.
fn python() -> &'static Path {
    static CHECKED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/.venv/bin/python");
        if !python.exists() {
            return Err(format!("{} is missing", python.display()));
        }
        let out = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        if out.status.success() {
            Ok(python)
        } else {
            Err(format!(
                "aiosmtpd is not installed in tests/smtp/.venv ({})",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
            ))
        }
    });
    match checked {
        Ok(python) => python,
        Err(e) => panic!("the SMTP test server needs aiosmtpd: {e}; {INSTALL_HINT}"),
    }
}

/// An aiosmtpd process on 127.0.0.1 storing every message it accepts in a fresh Maildir.
/// Messages carry the envelope as added headers `X-MailFrom` and `X-RcptTo`.
/// Dropping it kills the process and removes its directory.
pub struct SmtpServer {
    port: u16,
    /// The aiosmtpd handler class (`-c`).
    handler: &'static str,
    /// Temp dir holding `maildir/` and the server's log `aiosmtpd.log`.
    dir: PathBuf,
    child: Option<Child>,
}

impl SmtpServer {
    /// Starts aiosmtpd on 127.0.0.1 on a free port, delivering into a fresh Maildir in a temp dir.
    pub fn start() -> SmtpServer {
        let mut server = Self::reserve();
        server.up();
        server
    }

    /// Like [`SmtpServer::start`], but every recipient whose address starts with `bounce`
    /// is refused at RCPT with `550 5.1.1 Mailbox unavailable` (tests/smtp/refusing.py).
    pub fn refusing_bounces() -> SmtpServer {
        let mut server = Self::reserve();
        server.handler = "refusing.RefuseBounces";
        server.up();
        server
    }

    /// Reserves a free port but does not start the server yet (for "SMTP down, then up" tests).
    pub fn reserve() -> SmtpServer {
        python();
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            listener.local_addr().expect("local addr").port()
        };
        let dir = std::env::temp_dir().join(format!("inlet-smtp-{}", random_suffix()));
        for sub in ["new", "cur", "tmp"] {
            fs::create_dir_all(dir.join("maildir").join(sub)).expect("create the Maildir");
        }
        SmtpServer {
            port,
            handler: "aiosmtpd.handlers.Mailbox",
            dir,
            child: None,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server process on the same port and Maildir; waits until it greets
    /// with `220` (panics after 10 s, showing the server's log).
    pub fn up(&mut self) {
        self.down();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the SMTP server log");
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-d", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", self.handler])
            .arg(self.dir.join("maildir"))
            .env("PYTHONUNBUFFERED", "1")
            .env(
                "PYTHONPATH",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp"),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn aiosmtpd");
        let child = self.child.insert(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let started = poll_blocking(START_TIMEOUT, || {
            match child.try_wait().expect("poll aiosmtpd") {
                Some(status) => Some(Err(status)),
                None => greets(addr).then_some(Ok(())),
            }
        });
        match started {
            Some(Ok(())) => {}
            Some(Err(status)) => {
                self.child = None;
                panic!(
                    "aiosmtpd on port {} exited at start ({status}); its log:\n{}",
                    self.port,
                    self.log_tail()
                );
            }
            None => {
                self.down();
                panic!(
                    "aiosmtpd on port {} did not answer within {START_TIMEOUT:?}; its log:\n{}",
                    self.port,
                    self.log_tail()
                );
            }
        }
    }

    /// Stops the server process (kill + wait); the port stays reserved in the struct.
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// All messages delivered so far (Maildir new/ + cur/), raw RFC 5322 text, sorted by
    /// file mtime.
    pub fn messages(&self) -> Vec<String> {
        let maildir = self.dir.join("maildir");
        let mut files: Vec<(SystemTime, PathBuf)> = ["new", "cur"]
            .iter()
            .filter_map(|sub| fs::read_dir(maildir.join(sub)).ok())
            .flatten()
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let modified = entry.metadata().ok()?.modified().ok()?;
                Some((modified, entry.path()))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, path)| {
                let bytes = fs::read(&path).expect("read a delivered message");
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .collect()
    }

    /// Polls until at least `n` messages are there, or panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        let arrived = poll(timeout, || async {
            let messages = self.messages();
            (messages.len() >= n).then_some(messages)
        })
        .await;
        arrived.unwrap_or_else(|| {
            let messages = self.messages();
            let subjects: Vec<String> = messages
                .iter()
                .map(|m| header(m, "Subject").unwrap_or_default())
                .collect();
            panic!(
                "expected at least {n} email(s) at {} within {timeout:?}, got {} \
                 (subjects: {subjects:?}); server log:\n{}",
                self.url(),
                messages.len(),
                self.log_tail()
            );
        })
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("aiosmtpd.log")
    }

    /// The end of the server's log, for failure messages.
    fn log_tail(&self) -> String {
        let log = fs::read(self.log_path()).unwrap_or_default();
        let log = String::from_utf8_lossy(&log);
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.down();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Whether an SMTP server at `addr` answers with a `220` greeting.
fn greets(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut greeting = [0u8; 4];
    stream.read_exact(&mut greeting).is_ok() && greeting.starts_with(b"220")
}

/// Sends `raw` to the server with Python's smtplib (from the same venv).
fn send_with_smtplib(port: u16, from: &str, to: &str, raw: &str) {
    use std::io::Write;
    const SEND: &str = "import smtplib, sys\n\
        with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10) as s:\n    \
            s.sendmail(sys.argv[2], [sys.argv[3]], sys.stdin.buffer.read())\n";
    let mut child = Command::new(python())
        .args(["-c", SEND, &port.to_string(), from, to])
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn smtplib");
    child
        .stdin
        .take()
        .expect("smtplib stdin")
        .write_all(raw.as_bytes())
        .expect("write the message to smtplib");
    let status = child.wait().expect("wait for smtplib");
    assert!(status.success(), "smtplib failed to send: {status}");
}

/// A multipart/alternative message shaped like lettre's: a base64 text/plain part and a
/// quoted-printable text/html part, with a folded, RFC 2047-encoded Subject.
fn sample_message(sequence: &str) -> String {
    // The text part is the base64 of "Grüße, Ada!\r\nYour plan is <b>pro</b>; this sentence
    // makes the part wrap.\r\n", wrapped at 76 columns like lettre does.
    [
        "From: Inlet <noreply@inlet.test>",
        "To: Ada <ada@example.test>",
        "Subject: Welcome to Inlet,",
        " =?utf-8?q?caf=C3=A9_?=",
        "\t=?utf-8?b?4piV?=",
        &format!("X-Sequence: {sequence}"),
        "MIME-Version: 1.0",
        "Content-Type: multipart/alternative;",
        " boundary=\"inlet=_b0undary\"",
        "",
        "This is a multi-part message in MIME format.",
        "--inlet=_b0undary",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        "R3LDvMOfZSwgQWRhIQ0KWW91ciBwbGFuIGlzIDxiPnBybzwvYj47IHRoaXMgc2VudGVuY2UgbWFr",
        "ZXMgdGhlIHBhcnQgd3JhcC4NCg==",
        "--inlet=_b0undary",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "<p style=3D\"color: #333\">Your plan is &lt;b&gt;pro&lt;/b&gt; and this para=",
        "graph is long enough that quoted-printable had to break it softly, caf=C3=",
        "=A9 included.</p>",
        "--inlet=_b0undary--",
        "",
    ]
    .join("\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_harness_receives_a_message() {
    let mut server = SmtpServer::start();
    assert_eq!(server.url(), format!("smtp://127.0.0.1:{}", server.port()));
    let (from, to) = ("noreply@inlet.test", "ada@example.test");

    send_with_smtplib(server.port(), from, to, &sample_message("1"));
    let got = server.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let raw = &got[0];
    assert_eq!(
        header(raw, "subject").as_deref(),
        Some("Welcome to Inlet, café ☕")
    );
    assert_eq!(header(raw, "To").as_deref(), Some("Ada <ada@example.test>"));
    assert_eq!(header(raw, "X-RcptTo").as_deref(), Some(to));
    assert_eq!(header(raw, "X-Missing"), None);
    let body = body_text(raw);
    assert!(
        body.contains("Grüße, Ada!\nYour plan is <b>pro</b>; this sentence makes the part wrap.\n"),
        "{body}"
    );
    assert!(
        body.contains(
            "<p style=\"color: #333\">Your plan is &lt;b&gt;pro&lt;/b&gt; and this paragraph \
             is long enough that quoted-printable had to break it softly, café included.</p>"
        ),
        "{body}"
    );
    assert!(
        !body.contains("multi-part message"),
        "preamble leaked: {body}"
    );

    server.down();
    let addr = SocketAddr::from(([127, 0, 0, 1], server.port()));
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "the SMTP server still accepts connections after down()"
    );
    server.up();
    send_with_smtplib(server.port(), from, to, &sample_message("2"));
    let got = server.wait_for(2, Duration::from_secs(10)).await;
    let sequence: Vec<_> = got.iter().map(|m| header(m, "X-Sequence")).collect();
    assert_eq!(sequence, [Some("1".into()), Some("2".into())]);
}
