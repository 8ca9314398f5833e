//! Upload slots (XEP-0363 §5): what a client may name and announce, and the signed PUT URL
//! that carries the slot to the HTTP listener without any state kept between the two.
//!
//! A slot is `id` (16 random bytes, base64url), the file name, its exact size, an optional
//! content type, the owner's bare JID and an expiry time. The PUT URL carries all of them
//! and an HMAC-SHA-256 over them (`sig`), keyed with the node's upload key (the cluster
//! secret on a cluster member), so the listener verifies a PUT from the URL alone and nobody
//! can change the size, type, owner or expiry of a slot they were given:
//!
//! ```text
//! PUT  <base><prefix>/<id>/<filename>?e=<expires_s>&s=<size>&t=<type>&o=<owner>&sig=<mac>
//! GET  <base><prefix>/<id>/<filename>
//! ```
//! The GET URL names the file by its random id (128 bits: unguessable); the owner's JID only
//! appears in the PUT URL, which only the owner is given.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Longest file name accepted, in bytes (the usual file system limit).
pub const MAX_FILENAME_BYTES: usize = 255;
/// Longest content type accepted, in bytes.
pub const MAX_CONTENT_TYPE_BYTES: usize = 255;
/// Length of a slot id: 16 bytes in unpadded base64url.
pub const ID_CHARS: usize = 22;

/// The key slots are signed with.
#[derive(Clone)]
pub struct SlotKey(HmacSha256);

impl std::fmt::Debug for SlotKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlotKey(<redacted>)")
    }
}

impl SlotKey {
    /// The key derived from a secret (the cluster secret, a configured file, or random bytes).
    /// Derived rather than used as is, so the same cluster secret never keys two protocols.
    pub fn derive(secret: &[u8]) -> SlotKey {
        let mut m = HmacSha256::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(b"meerkat/http-upload/v1");
        let derived = m.finalize().into_bytes();
        SlotKey(
            HmacSha256::new_from_slice(&derived)
                .unwrap_or_else(|_| unreachable!("HMAC takes any key length")),
        )
    }

    fn mac(&self, slot: &Slot) -> HmacSha256 {
        let mut m = self.0.clone();
        // Fields separated by newlines, which none of them may contain (checked when the slot
        // is made, and a PUT naming such a field fails the MAC): the input is unambiguous.
        for field in [
            "v1",
            &slot.id,
            &slot.filename,
            &slot.expires_s.to_string(),
            &slot.size_bytes.to_string(),
            &slot.content_type,
            &slot.owner,
        ] {
            m.update(field.as_bytes());
            m.update(b"\n");
        }
        m
    }

    /// The signature of a slot, base64url.
    pub fn sign(&self, slot: &Slot) -> String {
        B64URL.encode(self.mac(slot).finalize().into_bytes())
    }

    /// True when `sig` is the slot's signature (compared in constant time).
    pub fn verify(&self, slot: &Slot, sig: &str) -> bool {
        let Ok(bytes) = B64URL.decode(sig) else { return false };
        self.mac(slot).verify_slice(&bytes).is_ok()
    }
}

/// What a PUT URL grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Random id, [`ID_CHARS`] base64url characters.
    pub id: String,
    /// File name as requested (validated by [`check_filename`]).
    pub filename: String,
    /// Exact size of the file.
    pub size_bytes: u64,
    /// Content type the PUT must carry (`""`: any).
    pub content_type: String,
    /// Bare JID of the account the bytes count against.
    pub owner: String,
    /// The PUT is refused after this time, seconds since the Unix epoch.
    pub expires_s: u64,
}

impl Slot {
    /// A fresh random id.
    pub fn new_id() -> String {
        B64URL.encode(rand::random::<[u8; 16]>())
    }

    /// Path and query of the PUT URL (after the public base URL).
    pub fn put_path(&self, prefix: &str, key: &SlotKey) -> String {
        format!(
            "{}?e={}&s={}&t={}&o={}&sig={}",
            self.get_path(prefix),
            self.expires_s,
            self.size_bytes,
            pct_encode(&self.content_type),
            pct_encode(&self.owner),
            key.sign(self)
        )
    }

    /// Path of the GET URL (after the public base URL).
    pub fn get_path(&self, prefix: &str) -> String {
        format!("{prefix}/{}/{}", self.id, pct_encode(&self.filename))
    }

    /// The slot a PUT names: its path parameters (already percent-decoded) and raw query.
    /// `None` when a field is missing or malformed; the signature is returned beside it.
    pub fn from_request(id: &str, filename: &str, query: &str) -> Option<(Slot, String)> {
        let (mut e, mut s, mut t, mut o, mut sig) = (None, None, None, None, None);
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=')?;
            let v = pct_decode(v)?;
            let field = match k {
                "e" => &mut e,
                "s" => &mut s,
                "t" => &mut t,
                "o" => &mut o,
                "sig" => &mut sig,
                _ => return None,
            };
            if field.replace(v).is_some() {
                return None;
            }
        }
        let slot = Slot {
            id: id.to_owned(),
            filename: filename.to_owned(),
            size_bytes: s?.parse().ok()?,
            content_type: t?,
            owner: o?,
            expires_s: e?.parse().ok()?,
        };
        Some((slot, sig?))
    }
}

/// True for an id this node could have made: exactly [`ID_CHARS`] base64url characters (so
/// it is safe as a file name too).
pub fn valid_id(id: &str) -> bool {
    id.len() == ID_CHARS && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why a requested file name is refused (`bad-request`), or `Ok`.
pub fn check_filename(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_FILENAME_BYTES {
        return Err("the file name must be 1 to 255 bytes");
    }
    if name == "." || name == ".." {
        return Err("the file name must not be . or ..");
    }
    if name.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err("the file name must not contain slashes or control characters");
    }
    Ok(())
}

/// Why a requested content type is refused (`bad-request`), or `Ok`: a `type/subtype` with
/// optional parameters, in printable ASCII (it is sent back as a header).
pub fn check_content_type(ct: &str) -> Result<(), &'static str> {
    let printable = ct.bytes().all(|b| (0x20..0x7f).contains(&b));
    let (ty, sub) = ct.split(';').next().unwrap_or_default().trim().split_once('/').unzip();
    let token = |s: Option<&str>| {
        s.is_some_and(|s| {
            !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
        })
    };
    if ct.len() > MAX_CONTENT_TYPE_BYTES || !printable || !token(ty) || !token(sub) {
        return Err("the content type must be a MIME type such as image/jpeg");
    }
    Ok(())
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (and `+` as a space, as in form-encoded queries); `None` for a
/// broken escape or a result that is not UTF-8.
pub fn pct_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> Slot {
        Slot {
            id: Slot::new_id(),
            filename: "très cool.jpg".into(),
            size_bytes: 1234,
            content_type: "image/jpeg".into(),
            owner: "alice@localhost".into(),
            expires_s: 1_900_000_000,
        }
    }

    #[test]
    fn put_url_round_trips_and_any_change_breaks_the_signature() {
        let key = SlotKey::derive(b"0123456789abcdef");
        let s = slot();
        assert!(valid_id(&s.id), "{}", s.id);
        let put = s.put_path("/upload", &key);
        let (path, query) = put.split_once('?').expect("query");
        assert_eq!(path, format!("/upload/{}/tr%C3%A8s%20cool.jpg", s.id));
        assert_eq!(path, s.get_path("/upload"));
        let (back, sig) = Slot::from_request(&s.id, &s.filename, query).expect("parses");
        assert_eq!(back, s);
        assert!(key.verify(&back, &sig));
        assert!(!SlotKey::derive(b"another-secret-16").verify(&back, &sig));
        for tampered in [
            Slot { size_bytes: 1235, ..s.clone() },
            Slot { expires_s: s.expires_s + 1, ..s.clone() },
            Slot { content_type: "text/html".into(), ..s.clone() },
            Slot { owner: "bob@localhost".into(), ..s.clone() },
            Slot { filename: "x.jpg".into(), ..s.clone() },
        ] {
            assert!(!key.verify(&tampered, &sig), "{tampered:?}");
        }
        assert!(!key.verify(&s, "not base64!"));
        // Missing, repeated and unknown parameters are refused.
        assert!(Slot::from_request(&s.id, &s.filename, "e=1&s=2&t=&o=a").is_none());
        assert!(Slot::from_request(&s.id, &s.filename, &format!("{query}&e=5")).is_none());
        assert!(Slot::from_request(&s.id, &s.filename, &format!("{query}&x=5")).is_none());
    }

    #[test]
    fn names_types_and_ids_are_checked() {
        assert!(check_filename("photo.jpg").is_ok());
        assert!(check_filename("très cool.jpg").is_ok());
        for bad in ["", ".", "..", "a/b", "a\\b", "a\nb", "a\u{0}b", &"x".repeat(256)] {
            assert!(check_filename(bad).is_err(), "{bad:?}");
        }
        assert!(check_content_type("image/jpeg").is_ok());
        assert!(check_content_type("text/plain; charset=utf-8").is_ok());
        for bad in ["", "jpeg", "image/", "/x", "a/b\r\nX: y", "é/x"] {
            assert!(check_content_type(bad).is_err(), "{bad:?}");
        }
        assert!(!valid_id("../../etc/passwd"));
        assert!(!valid_id("short"));
    }

    #[test]
    fn percent_coding() {
        assert_eq!(pct_encode("a b/é~"), "a%20b%2F%C3%A9~");
        assert_eq!(pct_decode("a%20b%2F%C3%A9~").as_deref(), Some("a b/é~"));
        assert_eq!(pct_decode("a+b").as_deref(), Some("a b"));
        assert_eq!(pct_decode("%zz"), None);
        assert_eq!(pct_decode("%4"), None);
        assert_eq!(pct_decode("%FF"), None);
    }
}
