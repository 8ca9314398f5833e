//! The admin address file, `<data_dir>/admin.addr`.
//!
//! `[admin] port = 0` lets the OS choose the admin port (tests run many nodes side by side), but
//! then the CLI cannot learn the port from the configuration. The node writes the address it
//! actually bound here after binding; the CLI reads it when the configured port is 0.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// File name of the address file inside the data directory.
pub const FILE_NAME: &str = "admin.addr";

/// Path of the address file for a data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Records the bound admin address, creating the directory if needed. Written to a temporary
/// file and renamed, so a reader never sees half an address.
pub fn write(data_dir: &Path, addr: SocketAddr) -> io::Result<()> {
    fs::create_dir_all(data_dir)?;
    let tmp = data_dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    fs::write(&tmp, format!("{addr}\n"))?;
    fs::rename(&tmp, path(data_dir)).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Reads the address the running node recorded.
pub fn read(data_dir: &Path) -> io::Result<SocketAddr> {
    let text = fs::read_to_string(path(data_dir))?;
    text.trim().parse().map_err(|e| {
        io::Error::new(io::ErrorKind::InvalidData, format!("bad admin address {text:?}: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr: SocketAddr = "[::1]:4321".parse().expect("addr");
        write(&dir.path().join("d"), addr).expect("write");
        assert_eq!(read(&dir.path().join("d")).expect("read"), addr);
    }

    #[test]
    fn read_rejects_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(path(dir.path()), "nonsense").expect("write");
        assert_eq!(read(dir.path()).expect_err("garbage").kind(), io::ErrorKind::InvalidData);
    }
}
