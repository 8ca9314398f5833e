//! Cache of SCRAM keys per (mechanism, user, salt, iterations), RFC 5802 §5.1.
//!
//! In memory for the run, and optionally in a file so later runs (and worker processes) skip
//! PBKDF2 entirely. The file holds one entry per line:
//! `MECH USER SALT_B64 ITERATIONS SALTED_PASSWORD_B64 CLIENT_KEY_B64 SERVER_KEY_B64`.
//! SaltedPassword is password-equivalent for that salt, so the file is created mode 0600; it is
//! meant for throw-away load-test accounts only.
//!
//! New entries are appended with one `write` each on a file opened with `O_APPEND`, so several
//! worker processes can share one file without interleaving lines. A duplicate line (two
//! processes deriving the same key) is harmless: loading keeps the last one.

use super::scram::{ScramHash, ScramKeys};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Cache lookup key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    hash: ScramHash,
    user: String,
    salt: Vec<u8>,
    iterations: u32,
}

/// Derived SCRAM keys shared between logins and processes.
#[derive(Debug, Default)]
pub struct KeyCache {
    // A std mutex: held only for a map lookup or insert, never across an await.
    map: Mutex<HashMap<CacheKey, Arc<ScramKeys>>>,
    file: Option<Mutex<std::fs::File>>,
}

impl KeyCache {
    /// An in-memory cache only.
    pub fn in_memory() -> Self {
        KeyCache::default()
    }

    /// A cache backed by `path`: loads its entries (a missing file is an empty cache; malformed
    /// lines are skipped) and appends new ones to it.
    pub fn with_file(path: &Path) -> anyhow::Result<Self> {
        let mut map = HashMap::new();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for line in text.lines() {
                    if let Some((k, v)) = parse_line(line) {
                        map.insert(k, Arc::new(v));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(anyhow::anyhow!("reading SCRAM key cache {}: {e}", path.display()))
            }
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts
            .open(path)
            .map_err(|e| anyhow::anyhow!("opening SCRAM key cache {}: {e}", path.display()))?;
        Ok(KeyCache { map: Mutex::new(map), file: Some(Mutex::new(file)) })
    }

    /// Number of cached entries.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when nothing is cached.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cached keys for this user, salt and iteration count.
    pub fn get(
        &self,
        hash: ScramHash,
        user: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Option<Arc<ScramKeys>> {
        let key = CacheKey { hash, user: user.to_owned(), salt: salt.to_vec(), iterations };
        self.map.lock().ok()?.get(&key).cloned()
    }

    /// Stores keys, appending them to the cache file if there is one. A failed file write only
    /// loses the persistence of this entry, so it is reported and otherwise ignored.
    pub fn insert(
        &self,
        hash: ScramHash,
        user: &str,
        salt: &[u8],
        iterations: u32,
        keys: Arc<ScramKeys>,
    ) {
        if let Some(file) = &self.file {
            // Users with whitespace cannot be written in this line format; they stay in memory.
            if !user.is_empty() && !user.contains(char::is_whitespace) {
                let line = format!(
                    "{} {} {} {} {} {} {}\n",
                    hash.mechanism(),
                    user,
                    B64.encode(salt),
                    iterations,
                    B64.encode(&keys.salted_password),
                    B64.encode(&keys.client_key),
                    B64.encode(&keys.server_key)
                );
                if let Ok(mut f) = file.lock() {
                    if let Err(e) = f.write_all(line.as_bytes()) {
                        eprintln!("warning: SCRAM key cache write failed: {e}");
                    }
                }
            }
        }
        let key = CacheKey { hash, user: user.to_owned(), salt: salt.to_vec(), iterations };
        if let Ok(mut m) = self.map.lock() {
            m.insert(key, keys);
        }
    }
}

fn parse_line(line: &str) -> Option<(CacheKey, ScramKeys)> {
    let mut it = line.split_ascii_whitespace();
    let hash = ScramHash::from_mechanism(it.next()?)?;
    let user = it.next()?.to_owned();
    let salt = B64.decode(it.next()?).ok()?;
    let iterations = it.next()?.parse().ok()?;
    let salted_password = B64.decode(it.next()?).ok()?;
    let client_key = B64.decode(it.next()?).ok()?;
    let server_key = B64.decode(it.next()?).ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((
        CacheKey { hash, user, salt, iterations },
        ScramKeys { salted_password, client_key, server_key },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmpp::scram::derive_keys;

    #[test]
    fn file_round_trip_and_bad_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys");
        std::fs::write(&path, "garbage line\nSCRAM-SHA-256 u bad!b64 1 a b c\n").expect("write");
        let keys = Arc::new(derive_keys(ScramHash::Sha256, b"pw", b"salt", 2));
        {
            let c = KeyCache::with_file(&path).expect("open");
            assert!(c.is_empty());
            c.insert(ScramHash::Sha256, "alice", b"salt", 2, keys.clone());
            c.insert(ScramHash::Sha256, "with space", b"salt", 2, keys.clone());
            assert_eq!(c.len(), 2);
        }
        let c = KeyCache::with_file(&path).expect("reopen");
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(ScramHash::Sha256, "alice", b"salt", 2).as_deref(), Some(&*keys));
        assert!(c.get(ScramHash::Sha256, "alice", b"salt", 3).is_none());
        assert!(c.get(ScramHash::Sha1, "alice", b"salt", 2).is_none());
    }
}
