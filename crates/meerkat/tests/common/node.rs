//! Node.js packages of the interop tests (`tests/interop/<name>/`), pinned by their
//! `package-lock.json` and installed with `npm ci` when `node_modules` lacks them
//! (scripts/test does it up front).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `tests/interop/<name>` of the repository.
pub fn package_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop").join(name)
}

/// True when `cmd args` runs and exits 0.
pub fn works(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd).args(args).output().is_ok_and(|o| o.status.success())
}

/// Node.js and npm present, and `dir/node_modules/<module>` installed (by `npm ci` if
/// missing); an error says what to install.
pub fn ready(dir: &Path, module: &str) -> Result<(), String> {
    let missing = "Node.js and npm are needed: `apt-get install -y nodejs npm` \
                   (scripts/test does this when run as root)";
    if !works("node", &["--version"]) || !works("npm", &["--version"]) {
        return Err(missing.into());
    }
    if dir.join("node_modules").join(module).is_dir() {
        return Ok(());
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("npm ci: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`npm ci` in {} failed (registry unreachable?):\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}
