//! `inlet` run as operators run it, in child processes: started with only the settings the
//! test gives, stopped by SIGTERM or SIGKILL, and killed if the test ends early.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::TEST_MASTER_KEY;
use super::eventually::poll_blocking;

/// The environment as given, with the tests' master key added for PostgreSQL unless the
/// test names `INLET_MASTER_KEY` itself (an empty value leaves it unset).
fn with_master_key<'a>(env: &'a [(&'a str, String)]) -> Vec<(&'a str, String)> {
    let mut env = env.to_vec();
    let postgres = env
        .iter()
        .any(|(k, v)| *k == "INLET_DATABASE_URL" && v.starts_with("postgres"));
    if postgres && !env.iter().any(|(k, _)| *k == "INLET_MASTER_KEY") {
        env.push(("INLET_MASTER_KEY", TEST_MASTER_KEY.to_owned()));
    }
    env
}

/// A child process killed if the test ends early.
pub struct Process {
    name: &'static str,
    child: Option<Child>,
}

impl Process {
    pub fn spawn(name: &'static str, args: &[&str], env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_inlet"));
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("INLET_")) {
            cmd.env_remove(k);
        }
        for (k, v) in with_master_key(env) {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start inlet {name}: {e}"));
        Self {
            name,
            child: Some(child),
        }
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "could not signal {}", self.name);
        let exit = poll_blocking(Duration::from_secs(30), || child.try_wait().expect("wait"));
        let exit = exit.unwrap_or_else(|| panic!("{} did not stop after SIGTERM", self.name));
        exit.code()
    }

    /// The child's process id, to read its `/proc/<pid>` entries.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .unwrap_or_else(|| panic!("{} was already stopped", self.name))
    }

    /// SIGKILL: no shutdown, no acks; unacknowledged messages must come back.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill");
            child.wait().expect("wait");
        }
    }

    /// Runs an `inlet` command to completion; returns its exit code and stdout.
    pub fn run(args: &[&str], env: &[(&str, String)]) -> (Option<i32>, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_inlet"));
        cmd.args(args).stdin(Stdio::null()).stderr(Stdio::inherit());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("INLET_")) {
            cmd.env_remove(k);
        }
        for (k, v) in with_master_key(env) {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run inlet");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port nothing listens on right now, for a child process to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
