//! The container image without a container engine: the built `inlet` run as the
//! Dockerfile's runtime stage runs it (its WORKDIR, its owner, USER, ENV, ENTRYPOINT and
//! CMD), then its HEALTHCHECK as that user, and the state found in the WORKDIR.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::random_suffix;

/// PATH of debian:bookworm-slim, the base of the runtime stage.
const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the Dockerfile's last stage says about running the image.
#[derive(Debug, Default)]
struct Runtime {
    workdir: Option<String>,
    user: Option<String>,
    env: Vec<(String, String)>,
    volumes: Vec<String>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    healthcheck: Option<Vec<String>>,
    runs: Vec<String>,
}

/// Instructions as (keyword, arguments): comment lines dropped, continuations joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (word, rest) = current
            .split_once(char::is_whitespace)
            .unwrap_or((&current, ""));
        out.push((word.to_uppercase(), rest.trim().to_owned()));
        current.clear();
    }
    out
}

/// Words split on blanks outside double quotes, the quotes removed.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = None::<String>;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => out.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    out
}

/// The argv of an exec-form (JSON) or shell-form command, as Docker runs it.
fn argv(args: &str) -> Vec<String> {
    if args.starts_with('[') {
        serde_json::from_str(args).unwrap_or_else(|e| panic!("bad JSON command {args}: {e}"))
    } else {
        vec!["/bin/sh".to_owned(), "-c".to_owned(), args.to_owned()]
    }
}

fn parse(text: &str) -> Runtime {
    let all = instructions(text);
    let last_from = all.iter().rposition(|(word, _)| word == "FROM");
    let last_from = last_from.expect("the Dockerfile has no FROM");
    let mut rt = Runtime::default();
    for (word, args) in &all[last_from + 1..] {
        match word.as_str() {
            "WORKDIR" => rt.workdir = Some(args.clone()),
            "USER" => rt.user = Some(args.clone()),
            "ENV" => {
                let words = words(args);
                if words.first().is_some_and(|w| !w.contains('=')) {
                    // The legacy `ENV KEY value` form: one variable, the rest is its value.
                    let (key, value) = args.split_once(char::is_whitespace).unwrap();
                    rt.env.push((key.to_owned(), value.trim().to_owned()));
                } else {
                    for pair in words {
                        let (key, value) = pair.split_once('=').unwrap();
                        rt.env.push((key.to_owned(), value.to_owned()));
                    }
                }
            }
            "VOLUME" => rt.volumes.extend(if args.starts_with('[') {
                argv(args)
            } else {
                words(args)
            }),
            "ENTRYPOINT" => rt.entrypoint = argv(args),
            "CMD" => rt.cmd = argv(args),
            "HEALTHCHECK" => {
                let command = words(args)
                    .into_iter()
                    .position(|w| w == "CMD")
                    .map(|_| args.split_once("CMD").unwrap().1.trim());
                let command = command.expect("HEALTHCHECK without CMD (NONE?)");
                rt.healthcheck = Some(argv(command));
            }
            "RUN" => rt.runs.push(args.clone()),
            _ => {}
        }
    }
    rt
}

/// `uid:gid` (numbers: a name would need the image's /etc/passwd).
fn ids(owner: &str) -> (u32, u32) {
    let (uid, gid) = owner.split_once(':').unwrap_or((owner, owner));
    let number = |s: &str| {
        s.parse::<u32>()
            .unwrap_or_else(|_| panic!("owner {owner:?} is not numeric uid:gid"))
    };
    (number(uid), number(gid))
}

/// The owner a RUN `chown` gives `path`, if one does; Docker creates WORKDIR as root.
fn chowned(runs: &[String], path: &str) -> Option<(u32, u32)> {
    for run in runs {
        let words = words(&run.replace("&&", " ; ").replace(';', " ; "));
        for (i, word) in words.iter().enumerate() {
            if word != "chown" {
                continue;
            }
            let mut rest = words[i + 1..]
                .iter()
                .take_while(|w| *w != ";")
                .filter(|w| !w.starts_with('-'));
            let Some(owner) = rest.next() else {
                continue;
            };
            if rest.any(|p| p.trim_end_matches('/') == path.trim_end_matches('/')) {
                return Some(ids(owner));
            }
        }
    }
    None
}

/// A folder under the system temp dir, removed when the test ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The server, killed if the test ends early.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `setpriv` switching to `uid:gid` with no supplementary groups, as the container's USER.
fn as_user(uid: u32, gid: u32, dir: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid", &uid.to_string(), "--regid", &gid.to_string()])
        .args(["--clear-groups", "--"])
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    cmd
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn the_image_serves_as_its_user_from_its_workdir_and_passes_its_healthcheck() {
    let dockerfile = concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile");
    let rt = parse(&fs::read_to_string(dockerfile).unwrap());
    let workdir = rt
        .workdir
        .clone()
        .expect("the runtime stage sets no WORKDIR");
    assert!(
        rt.volumes.contains(&workdir),
        "WORKDIR {workdir} is not a VOLUME: {:?}",
        rt.volumes
    );
    let (uid, gid) = ids(rt.user.as_deref().expect("the runtime stage sets no USER"));
    assert_ne!(uid, 0, "the image runs as root");
    let healthcheck = rt.healthcheck.clone().expect("no HEALTHCHECK");
    let program = rt.entrypoint.first().expect("no ENTRYPOINT").clone();
    let listen = rt
        .env
        .iter()
        .find(|(k, _)| k == "INLET_LISTEN")
        .map(|(_, v)| v.parse::<SocketAddr>().expect("INLET_LISTEN is an address"));
    let listen = listen.expect("no INLET_LISTEN: inlet would listen on loopback only");
    assert!(
        listen.ip().is_unspecified(),
        "{listen} is unreachable from outside the container"
    );

    let whoami = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&whoami.stdout).trim(),
        "0",
        "this test switches users with setpriv and must run as root"
    );
    let free = TcpListener::bind(("127.0.0.1", listen.port()));
    free.unwrap_or_else(|e| {
        panic!(
            "port {} is taken ({e}); the test uses the image's",
            listen.port()
        )
    });

    let scratch = Scratch(std::env::temp_dir().join(format!("inlet-image-{}", random_suffix())));
    let bin = scratch.0.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::set_permissions(&scratch.0, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    // The build's folders need not be open to the runtime user; a hard link (no open
    // writable descriptor, so no ETXTBSY at exec) or a copy puts the binary where it is.
    let exe = bin.join(&program);
    if fs::hard_link(env!("CARGO_BIN_EXE_inlet"), &exe).is_err() {
        fs::copy(env!("CARGO_BIN_EXE_inlet"), &exe).unwrap();
    }
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let state = scratch.0.join(workdir.trim_start_matches('/'));
    fs::create_dir_all(&state).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o755)).unwrap();
    if let Some((owner, group)) = chowned(&rt.runs, &workdir) {
        chown(&state, Some(owner), Some(group)).unwrap();
    }

    // The container's environment: the base image's PATH (the binary's folder standing for
    // /usr/local/bin) and the Dockerfile's ENV, nothing from this process.
    let mut env = vec![
        ("PATH".to_owned(), format!("{}:{BASE_PATH}", bin.display())),
        ("HOME".to_owned(), "/".to_owned()),
    ];
    env.extend(rt.env.iter().cloned());
    let log_path = scratch.0.join("inlet.log");
    let log_file = fs::File::create(&log_path).unwrap();
    let log = |what: &str| {
        format!(
            "{what}; its log:\n{}",
            fs::read_to_string(&log_path).unwrap()
        )
    };
    let child = as_user(uid, gid, &state, &env)
        .args(rt.entrypoint.iter().chain(&rt.cmd))
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("setpriv (util-linux) runs");
    let mut server = Server(child);

    let deadline = Instant::now() + Duration::from_secs(60);
    let target = SocketAddr::from(([127, 0, 0, 1], listen.port()));
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!(
                "{}",
                log(&format!("inlet {:?} exited with {status}", rt.cmd))
            );
        }
        if TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            log("inlet did not listen within 60 s")
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let check = as_user(uid, gid, &state, &env).args(&healthcheck).output();
    let check = check.unwrap();
    assert!(
        check.status.success(),
        "HEALTHCHECK {healthcheck:?} failed ({}): {}{}",
        check.status,
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    let db = state.join("data").join("inlet.db");
    let meta = fs::metadata(&db).unwrap_or_else(|e| panic!("{}", log(&format!("{db:?}: {e}"))));
    assert_eq!(
        (meta.uid(), meta.gid()),
        (uid, gid),
        "{db:?} has another owner"
    );

    // `docker stop`: SIGTERM, and a clean exit.
    let kill = Command::new("kill")
        .arg("-TERM")
        .arg(server.0.id().to_string())
        .status();
    assert!(kill.unwrap().success());
    let status = wait_exit(&mut server.0, Duration::from_secs(30));
    let status = status.unwrap_or_else(|| panic!("{}", log("no exit within 30 s of SIGTERM")));
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        log("SIGTERM did not end it cleanly")
    );
}

#[test]
fn the_dockerfile_parser_reads_both_forms() {
    let rt = parse(
        "FROM a AS build\nWORKDIR /src\nFROM b\n# c\nRUN mkdir -p /x \\\n && chown -R 7:8 /x\n\
         WORKDIR /x\nENV A=1 \\\n    B=\"two words\"\nENV C three words\nUSER 7:8\n\
         HEALTHCHECK --interval=1s CMD curl -f http://x/ || exit 1\nCMD [\"serve\"]\n",
    );
    assert_eq!(rt.workdir.as_deref(), Some("/x"));
    assert_eq!(chowned(&rt.runs, "/x"), Some((7, 8)));
    assert_eq!(chowned(&rt.runs, "/src"), None);
    let env: Vec<(&str, &str)> = rt
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env, [("A", "1"), ("B", "two words"), ("C", "three words")]);
    assert_eq!(
        rt.healthcheck.unwrap(),
        ["/bin/sh", "-c", "curl -f http://x/ || exit 1"]
    );
    assert_eq!(rt.cmd, ["serve"]);
}
