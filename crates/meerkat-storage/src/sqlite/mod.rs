//! SQLite backend.

use crate::{Result, Storage};
use std::path::Path;

/// Opens (creating if needed) the database file at `path`, runs the migrations, and returns
/// every store backed by it.
pub async fn open(path: &Path) -> Result<Storage> {
    let _ = path;
    todo!("meerkat-storage helper")
}
