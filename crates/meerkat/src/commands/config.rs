//! `check-config` and `print-config`.
//!
//! Both run after the configuration was loaded and validated by [`super::run`], so a broken file
//! has already been reported (with its key) by the time they run.

use super::Failure;
use meerkat_config::Config;

/// `meerkat check-config`: the file loaded and validated.
pub fn check() -> Result<(), Failure> {
    println!("ok");
    Ok(())
}

/// `meerkat print-config`: the effective configuration as TOML.
pub fn print(config: &Config) -> Result<(), Failure> {
    let text = meerkat_config::to_toml_string(config)
        .map_err(|e| Failure::new(format!("cannot render the configuration: {e}")))?;
    print!("{text}");
    Ok(())
}
