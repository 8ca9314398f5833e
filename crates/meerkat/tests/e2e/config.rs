//! Item 9: configuration errors name the key and the file, and stop the node from starting.

use crate::common::{free_port, run_meerkat};
use std::time::Duration;

async fn live_with(
    toml: &str,
) -> (crate::common::CtlOutput, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, toml).expect("write config");
    let out = run_meerkat(Some(&path), &["live"], Duration::from_secs(10)).await;
    (out, path, dir)
}

fn assert_names(out: &crate::common::CtlOutput, key: &str, file: &std::path::Path) {
    assert!(
        out.code.is_some(),
        "`meerkat live` with a bad config did not exit: {}",
        out.describe()
    );
    out.assert_failed();
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains(key), "error does not name the key `{key}`: {}", out.describe());
    let file_name = file.file_name().and_then(|f| f.to_str()).unwrap_or_default();
    assert!(
        all.contains(file_name),
        "error does not name the file {}: {}",
        file.display(),
        out.describe()
    );
}

#[tokio::test]
async fn unknown_top_level_key_is_an_error_naming_key_and_file() {
    let (out, path, _dir) = live_with(&format!(
        "[general]\nhosts = [\"localhost\"]\nbogus_setting = 1\n\n[admin]\nport = {}\n",
        free_port()
    ))
    .await;
    assert_names(&out, "bogus_setting", &path);
}

#[tokio::test]
async fn unknown_key_in_a_listener_is_an_error_naming_key_and_file() {
    let (out, path, _dir) =
        live_with(&format!("[[listen.c2s]]\nip_address = \"127.0.0.1\"\nprot = {}\n", free_port()))
            .await;
    assert_names(&out, "prot", &path);
}

#[tokio::test]
async fn unknown_section_is_an_error() {
    let (out, path, _dir) = live_with("[nonsense]\nx = 1\n").await;
    assert_names(&out, "nonsense", &path);
}

#[tokio::test]
async fn bad_value_is_an_error_naming_the_key() {
    let (out, path, _dir) = live_with("[limits]\nmax_stanza_bytes = \"lots\"\n").await;
    assert_names(&out, "max_stanza_bytes", &path);
}

#[tokio::test]
async fn missing_config_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("absent.toml");
    let out = run_meerkat(Some(&path), &["live"], Duration::from_secs(10)).await;
    out.assert_failed();
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("absent.toml"), "{}", out.describe());
}
