//! The shipped `meerkat.example.toml` must stay equal to the defaults in code, key for key.

use meerkat_config::{load_file, Config};
use std::path::PathBuf;

fn example_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../meerkat.example.toml")
}

#[test]
fn example_config_loads_and_equals_the_defaults() {
    let config = load_file(&example_path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config, Config::default());
}

/// Equality of the parsed trees would pass with keys missing from the file (they take their
/// defaults); comparing the TOML trees also proves every key is written out.
#[test]
fn example_config_lists_every_key() {
    let text = std::fs::read_to_string(example_path()).expect("read example");
    let written: toml::Table = text.parse().expect("example is TOML");
    let defaults = toml::Table::try_from(Config::default()).expect("defaults serialise");
    assert_eq!(written, defaults);
}

/// The optional keys are absent from the defaults, so check the commented lines name them.
#[test]
fn example_config_mentions_optional_keys() {
    let text = std::fs::read_to_string(example_path()).expect("read example");
    assert!(text.contains("# certfile = "));
    assert!(text.contains("# keyfile = "));
    assert!(text.contains("# postgres_password_file = "));
    assert!(text.contains("# [[listen.http]]\n"));
    assert!(text.contains("# websocket_path = \"/ws-xmpp\""));
    assert!(text.contains("# bosh_path = \"/http-bind\""));
}
