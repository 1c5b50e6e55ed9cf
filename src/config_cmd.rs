//! `inlet config`: prints every setting's effective value and where it came from.

use inlet_shared::config::{Config, report};

/// Prints the settings table on stdout (secrets as `<redacted>` or `<unset>`).
pub fn run(config: &Config) -> anyhow::Result<()> {
    print!("{}", report(config));
    Ok(())
}
