//! The README's walkthroughs, followed in order against a fresh `inlet serve` by
//! `scripts/readme_walkthrough.py`: every answer the README shows must be what a reader gets.

use std::process::Command;

#[test]
fn the_readme_walkthroughs_work_when_followed_in_order() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("python3")
        .arg(format!("{root}/scripts/readme_walkthrough.py"))
        .args(["--binary", env!("CARGO_BIN_EXE_inlet")])
        .args(["--readme", &format!("{root}/README.md")])
        .output()
        .expect("python3 runs the README walkthrough");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("steps as written"), "{printed}");
}
