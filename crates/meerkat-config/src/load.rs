//! Reading configuration files.
//!
//! Parsing goes through `serde_path_to_error` so that every error carries the dotted path of the
//! key that caused it (`listen.c2s[0].port`), including unknown keys, which `deny_unknown_fields`
//! on every section turns into errors. TOML syntax errors carry no key; they get
//! [`ConfigError::Syntax`] with the line and column instead. After parsing, [`crate::validate`]
//! checks the rules across fields, so both loaders return only usable configurations.

use crate::Config;
use std::path::{Path, PathBuf};

/// A configuration that cannot be used. The message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{file}: {source}", file = file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not TOML at all (no key can be named).
    #[error("{file}: line {line}, column {column}: {message}", file = file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters) of the error.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// An unknown key, a bad value, or a broken rule across fields.
    #[error("{file}: key `{key}`: {message}", file = file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Dotted key path (`listen.c2s[0].port`).
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// Builds an [`ConfigError::Invalid`]; used by the validation rules.
    pub(crate) fn invalid(file: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid { file: file.to_path_buf(), key: key.into(), message: message.into() }
    }
}

/// Loads and validates a file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Io { file: path.to_path_buf(), source })?;
    parse_str(&text, path)
}

/// Parses and validates TOML text; `file` is used in error messages.
pub fn parse_str(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let deserializer = toml::Deserializer::new(text);
    let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        let position = inner.span().map(|span| line_column(text, span.start));
        // An empty path ("." in serde_path_to_error's rendering) means the error did not come
        // from any key: the text failed to parse as TOML before values were visited.
        if key == "." || key.is_empty() {
            let (line, column) = position.unwrap_or((1, 1));
            return ConfigError::Syntax {
                file: file.to_path_buf(),
                line,
                column,
                message: syntax_message(&inner),
            };
        }
        let mut message = inner.message().trim_end().to_string();
        if let Some((line, _)) = position {
            message.push_str(&format!(" (line {line})"));
        }
        ConfigError::Invalid { file: file.to_path_buf(), key, message }
    })?;
    crate::validate::validate(&config, file)?;
    Ok(config)
}

/// Renders a configuration as TOML, for `meerkat print-config`.
///
/// Keys that are unset (`tls.certfile` without a certificate) are left out, as TOML has no null.
pub fn to_toml_string(config: &Config) -> Result<String, toml::ser::Error> {
    toml::to_string(config)
}

/// The explanation of a TOML syntax error on one line. `toml` renders it under a header and a
/// source snippet with a caret; the header is replaced by our line and column, and the snippet
/// does not survive being put on one line, so only the explanation lines are kept.
fn syntax_message(err: &toml::de::Error) -> String {
    let rendered = err.to_string();
    let explanation: Vec<&str> = rendered
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.contains('|'))
        .collect();
    if explanation.is_empty() {
        let message = err.message().trim();
        if message.is_empty() {
            "invalid TOML".to_string()
        } else {
            message.to_string()
        }
    } else {
        explanation.join("; ")
    }
}

/// 1-based line and column (in characters) of a byte offset, for messages operators can follow
/// in an editor.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ConfigError {
        match parse_str(text, Path::new("meerkat.toml")) {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(e) => e,
        }
    }

    fn invalid_key(text: &str) -> (String, String) {
        match err(text) {
            ConfigError::Invalid { key, message, file } => {
                assert_eq!(file, Path::new("meerkat.toml"));
                (key, message)
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn empty_text_gives_the_defaults() {
        let config = parse_str("", Path::new("meerkat.toml")).expect("empty config is valid");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn partial_sections_keep_other_defaults() {
        let config = parse_str(
            "[general]\nhosts = [\"example.com\"]\n[limits]\nmax_stanza_bytes = 2048\n",
            Path::new("m.toml"),
        )
        .expect("valid");
        assert_eq!(config.general.hosts, vec!["example.com".to_string()]);
        assert_eq!(config.limits.max_stanza_bytes, 2048);
        assert_eq!(config.limits.max_xml_depth, Config::default().limits.max_xml_depth);
    }

    #[test]
    fn unknown_key_names_the_key_itself() {
        let (key, message) = invalid_key("[general]\nhostz = [\"a\"]\n");
        assert_eq!(key, "general.hostz");
        assert!(message.contains("unknown field `hostz`"), "{message}");
    }

    #[test]
    fn unknown_section_names_the_section() {
        let (key, _) = invalid_key("[generl]\nhosts = [\"a\"]\n");
        assert_eq!(key, "generl");
    }

    #[test]
    fn unknown_key_in_array_of_tables_has_index() {
        let (key, _) = invalid_key("[[listen.c2s]]\nport = 5222\n[[listen.c2s]]\nprot = 5223\n");
        assert_eq!(key, "listen.c2s[1].prot");
    }

    #[test]
    fn bad_value_names_the_key_and_displays_file_and_key() {
        let e = err("[limits]\nmax_stanza_bytes = \"big\"\n");
        let text = e.to_string();
        assert!(
            text.starts_with("meerkat.toml: key `limits.max_stanza_bytes`: invalid type"),
            "{text}"
        );
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn out_of_range_port_names_the_indexed_key() {
        let (key, _) = invalid_key("[[listen.c2s]]\nport = 70000\n");
        assert_eq!(key, "listen.c2s[0].port");
    }

    #[test]
    fn bad_enum_value_names_the_key() {
        let (key, message) = invalid_key("[[listen.c2s]]\ntls_mode = \"sometimes\"\n");
        assert_eq!(key, "listen.c2s[0].tls_mode");
        assert!(message.contains("sometimes"), "{message}");
    }

    #[test]
    fn bad_ip_names_the_key() {
        let (key, _) = invalid_key("[admin]\nip_address = \"localhost\"\n");
        assert_eq!(key, "admin.ip_address");
    }

    #[test]
    fn syntax_error_gives_line_and_column() {
        match err("[general]\nhosts = [\"a\"\n") {
            ConfigError::Syntax { line, file, .. } => {
                assert_eq!(file, Path::new("meerkat.toml"));
                assert!(line >= 2, "line {line}");
            }
            other => panic!("expected Syntax, got {other:?}"),
        }
    }

    #[test]
    fn syntax_error_message_is_one_line_and_not_empty() {
        let e = err("x = ");
        let text = e.to_string();
        assert!(text.starts_with("meerkat.toml: line 1, column 5: "), "{text}");
        assert!(!text.contains('\n'), "{text}");
        assert!(text.len() > "meerkat.toml: line 1, column 5: ".len(), "{text}");
    }

    #[test]
    fn missing_file_is_io_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("absent.toml");
        let e = load_file(&path).expect_err("missing file");
        assert!(matches!(e, ConfigError::Io { .. }));
        assert!(e.to_string().contains("absent.toml"), "{e}");
    }

    #[test]
    fn load_file_reads_and_validates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.toml");
        std::fs::write(&path, "[auth]\nscram_iterations = 10\n").expect("write");
        let e = load_file(&path).expect_err("invalid");
        let text = e.to_string();
        assert!(text.contains("m.toml: key `auth.scram_iterations`"), "{text}");
    }

    #[test]
    fn printed_config_parses_back_to_itself() {
        let mut config = Config::default();
        config.tls.certfile = Some("cert.pem".into());
        config.tls.keyfile = Some("key.pem".into());
        let text = to_toml_string(&config).expect("serialise");
        let back = parse_str(&text, Path::new("printed.toml")).expect("parse back");
        assert_eq!(back, config);
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncé d", 7), (2, 4));
        assert_eq!(line_column("x", 0), (1, 1));
    }
}
