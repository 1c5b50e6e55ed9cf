//! A real SMTP server for the tests: aiosmtpd (pinned in tests/smtp/requirements.txt and
//! installed into tests/smtp/.venv by scripts/test.sh) delivering into a Maildir of the
//! test's own, plus helpers that read headers and decoded text out of delivered messages.

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use crate::helpers::random_suffix;

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
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.dir.join("maildir"))
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn aiosmtpd");
        let child = self.child.insert(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("poll aiosmtpd") {
                self.child = None;
                panic!(
                    "aiosmtpd on port {} exited at start ({status}); its log:\n{}",
                    self.port,
                    self.log_tail()
                );
            }
            if greets(addr) {
                return;
            }
            if Instant::now() >= deadline {
                self.down();
                panic!(
                    "aiosmtpd on port {} did not answer within {START_TIMEOUT:?}; its log:\n{}",
                    self.port,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
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
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if Instant::now() >= deadline {
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
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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

/// The first header `name` (any case) of a message, unfolded, trimmed, with RFC 2047
/// encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) decoded.
pub fn header(raw: &str, name: &str) -> Option<String> {
    let (headers, _) = split_message(raw);
    headers
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| decode_encoded_words(&v))
}

/// The decoded text of a message: every text/* part that is not an attachment (walking
/// nested multiparts), quoted-printable or base64 undone, joined by newlines; line ends
/// are `\n`.
pub fn body_text(raw: &str) -> String {
    let mut parts = Vec::new();
    collect_text(raw, &mut parts);
    parts.join("\n")
}

/// Unfolded headers and the body of a message or MIME part, line ends made `\n`.
fn split_message(raw: &str) -> (Vec<(String, String)>, String) {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = if let Some(body) = raw.strip_prefix('\n') {
        ("", body)
    } else {
        raw.split_once("\n\n").unwrap_or((raw.as_str(), ""))
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.to_owned()));
        }
    }
    for (_, value) in &mut headers {
        *value = value.trim().to_owned();
    }
    (headers, body.to_owned())
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Appends the decoded text parts of a message or MIME part to `out`.
fn collect_text(raw: &str, out: &mut Vec<String>) {
    let (headers, body) = split_message(raw);
    let (mime, params) = parse_content_type(find_header(&headers, "Content-Type"));
    if mime.starts_with("multipart/") {
        if let Some((_, boundary)) = params.iter().find(|(k, _)| k == "boundary") {
            for part in split_multipart(&body, boundary) {
                collect_text(&part, out);
            }
        }
        return;
    }
    let attachment = find_header(&headers, "Content-Disposition")
        .is_some_and(|d| d.to_ascii_lowercase().starts_with("attachment"));
    if !mime.starts_with("text/") || attachment {
        return;
    }
    let charset = params
        .iter()
        .find(|(k, _)| k == "charset")
        .map_or("us-ascii", |(_, v)| v.as_str());
    let encoding = find_header(&headers, "Content-Transfer-Encoding")
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "quoted-printable" => decode_quoted_printable(&body),
        "base64" => decode_base64(&body),
        _ => body.into_bytes(),
    };
    out.push(decode_charset(&bytes, charset).replace("\r\n", "\n"));
}

/// The lowercased media type and the parameters (names lowercased, values unquoted) of a
/// Content-Type value; `text/plain` when there is none.
fn parse_content_type(value: Option<&str>) -> (String, Vec<(String, String)>) {
    let Some(value) = value else {
        return ("text/plain".into(), Vec::new());
    };
    // Split on `;` outside quoted strings.
    let mut fields = vec![String::new()];
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        let field = fields.last_mut().expect("at least one field");
        if escaped {
            field.push(c);
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == ';' && !quoted {
            fields.push(String::new());
        } else {
            field.push(c);
        }
    }
    let mime = fields[0].trim().to_ascii_lowercase();
    let params = fields[1..]
        .iter()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (mime, params)
}

/// The parts of a multipart body (preamble and epilogue dropped).
fn split_multipart(body: &str, boundary: &str) -> Vec<String> {
    let delimiter = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in body.split('\n') {
        // Transport padding after a delimiter is allowed.
        let trimmed = line.trim_end();
        if trimmed == delimiter || trimmed == close {
            if let Some(lines) = current.take() {
                parts.push(lines.join("\n"));
            }
            if trimmed == close {
                break;
            }
            current = Some(Vec::new());
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    if let Some(lines) = current {
        parts.push(lines.join("\n"));
    }
    parts
}

/// Quoted-printable (RFC 2045) to bytes: soft line breaks `=` removed, `=XX` decoded,
/// trailing whitespace on encoded lines dropped.
fn decode_quoted_printable(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut soft_break = true;
    for line in text.split('\n') {
        if !soft_break {
            out.push(b'\n');
        }
        let line = line.trim_end_matches([' ', '\t', '\r']);
        let (line, soft) = match line.strip_suffix('=') {
            Some(line) => (line, true),
            None => (line, false),
        };
        soft_break = soft;
        unescape_hex(line.as_bytes(), &mut out);
    }
    out
}

/// Copies `bytes` into `out`, turning each `=XX` into the byte 0xXX.
fn unescape_hex(bytes: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'=')
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if let Some(byte) = hex {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
}

/// Base64 to bytes, skipping line breaks, padding and anything else outside the alphabet.
fn decode_base64(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Bytes in `charset` to text (UTF-8 and ASCII; Latin-1; anything else read as UTF-8).
fn decode_charset(bytes: &[u8], charset: &str) -> String {
    match charset.to_ascii_lowercase().as_str() {
        "iso-8859-1" | "latin1" | "latin-1" => bytes.iter().copied().map(char::from).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Decodes the RFC 2047 encoded words of an unfolded header value; whitespace between two
/// encoded words is dropped, as the RFC says.
fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut pending_space = String::new();
    let mut after_encoded_word = false;
    let mut rest = value;
    while !rest.is_empty() {
        let space_len = rest.len() - rest.trim_start().len();
        if space_len > 0 {
            pending_space.push_str(&rest[..space_len]);
            rest = &rest[space_len..];
            continue;
        }
        let word_len = rest.find([' ', '\t']).unwrap_or(rest.len());
        let word = &rest[..word_len];
        rest = &rest[word_len..];
        match decode_encoded_word(word) {
            Some(decoded) => {
                if !after_encoded_word {
                    out.push_str(&pending_space);
                }
                out.push_str(&decoded);
                after_encoded_word = true;
            }
            None => {
                out.push_str(&pending_space);
                out.push_str(word);
                after_encoded_word = false;
            }
        }
        pending_space.clear();
    }
    out.push_str(&pending_space);
    out
}

/// `=?charset?B|Q?text?=` decoded, or None when `word` is not an encoded word.
fn decode_encoded_word(word: &str) -> Option<String> {
    let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut fields = inner.splitn(3, '?');
    let (charset, encoding, text) = (fields.next()?, fields.next()?, fields.next()?);
    // RFC 2231 allows a language after the charset: `utf-8*en`.
    let charset = charset.split('*').next().unwrap_or(charset);
    let bytes = match encoding {
        "B" | "b" => decode_base64(text),
        "Q" | "q" => {
            let mut bytes = Vec::with_capacity(text.len());
            unescape_hex(text.replace('_', " ").as_bytes(), &mut bytes);
            bytes
        }
        _ => return None,
    };
    Some(decode_charset(&bytes, charset))
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

#[test]
fn mime_helpers_read_lettre_shaped_messages() {
    // 7bit single part, LF line ends, header name case and folding.
    let raw = "subject: a\n\tb\nContent-Type: text/plain; charset=\"UTF-8\"\n\nhi =41\n";
    assert_eq!(header(raw, "Subject").as_deref(), Some("a\tb"));
    assert_eq!(body_text(raw), "hi =41\n");
    // No Content-Type: text/plain; an attachment in a multipart/mixed is skipped.
    assert_eq!(body_text("Subject: x\r\n\r\nplain"), "plain");
    let mixed = "Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n\
                 Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
                 a=3Db=\r\nc\r\n--XX\r\nContent-Type: text/csv\r\n\
                 Content-Disposition: attachment; filename=\"x.csv\"\r\n\r\n1,2\r\n--XX--\r\n";
    assert_eq!(body_text(mixed), "a=bc");
    // Encoded words next to plain words keep their spacing.
    assert_eq!(
        decode_encoded_words("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= from =?utf-8?B?w6k=?= x"),
        "Grüße from é x"
    );
}
