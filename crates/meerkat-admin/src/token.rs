//! The admin token file, `<data_dir>/admin.token`.
//!
//! The node writes a fresh random token at every start; the CLI reads it and sends it as a bearer
//! token. Whoever can read the file can administer the node, so it is created with mode 0600:
//! access to the admin API is then the same as file access to the data directory.
//!
//! The token is written to a temporary file first and renamed over the old one, so a CLI reading
//! during a restart sees either the old token or the new one, never half a token, and the old
//! file's permissions never carry over.

use rand::RngCore;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// File name of the token inside the data directory.
pub const FILE_NAME: &str = "admin.token";

/// Random bytes in a token (hex-encoded to twice as many characters).
pub const TOKEN_BYTES: usize = 32;

/// Path of the token file for a data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Writes a new random token to `data_dir/admin.token` (mode 0600), creating the directory if
/// needed and replacing any previous token, and returns it.
pub fn create(data_dir: &Path) -> io::Result<String> {
    fs::create_dir_all(data_dir)?;
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex(&bytes);

    let final_path = path(data_dir);
    let tmp_path = data_dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    // A leftover from a crashed start may exist with other permissions: start from nothing.
    match fs::remove_file(&tmp_path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let result = write_private(&tmp_path, token.as_bytes())
        .and_then(|()| fs::rename(&tmp_path, &final_path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp_path);
    }
    result.map(|()| token)
}

/// Reads the token the running node wrote to `data_dir/admin.token`.
///
/// An empty file is an error (`InvalidData`), since an empty bearer token would never be accepted.
pub fn read(data_dir: &Path) -> io::Result<String> {
    let text = fs::read_to_string(path(data_dir))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "admin token file is empty"));
    }
    Ok(token.to_string())
}

/// Creates `path` readable and writable by the owner only and writes `contents`.
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_writes_a_64_hex_digit_token_that_read_returns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("nested").join("data");
        let token = create(&data_dir).expect("create");
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(read(&data_dir).expect("read"), token);
    }

    #[test]
    fn create_replaces_the_token_each_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = create(dir.path()).expect("create");
        let second = create(dir.path()).expect("create again");
        assert_ne!(first, second);
        assert_eq!(read(dir.path()).expect("read"), second);
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)]);
    }

    #[cfg(unix)]
    #[test]
    fn token_file_is_private_even_over_a_public_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(path(dir.path()), "old").expect("write");
        fs::set_permissions(path(dir.path()), fs::Permissions::from_mode(0o644)).expect("chmod");
        create(dir.path()).expect("create");
        let mode = fs::metadata(path(dir.path())).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn read_fails_on_missing_or_empty_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(dir.path()).expect_err("missing").kind(), io::ErrorKind::NotFound);
        fs::write(path(dir.path()), "\n").expect("write");
        assert_eq!(read(dir.path()).expect_err("empty").kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn hex_encodes_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
