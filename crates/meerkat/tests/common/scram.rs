//! The client side of SCRAM (RFC 5802), with SHA-1 and SHA-256 (RFC 7677), without channel
//! binding (gs2 header `n,,`).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};

/// Hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
}

fn hmac(h: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    match h {
        Hash::Sha1 => {
            let mut m = Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Hash::Sha256 => {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
    }
}

fn digest(h: Hash, data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match h {
        Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
        Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
    }
}

fn salted_password(h: Hash, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    match h {
        Hash::Sha1 => {
            let mut out = [0u8; 20];
            pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.as_bytes(), salt, iterations, &mut out);
            out.to_vec()
        }
        Hash::Sha256 => {
            let mut out = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, iterations, &mut out);
            out.to_vec()
        }
    }
}

/// `saslname` escaping of RFC 5802 §5.1.
fn saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// One SCRAM exchange in progress.
#[derive(Debug)]
pub struct ScramClient {
    hash: Hash,
    password: String,
    client_nonce: String,
    client_first_bare: String,
    /// Set by [`ScramClient::client_final`]: the signature the server must send back.
    expected_server_signature: Option<Vec<u8>>,
    /// Channel binding for -PLUS: type name and data (RFC 5802 §6, RFC 9266, RFC 5929).
    binding: Option<(String, Vec<u8>)>,
}

impl ScramClient {
    /// Starts an exchange for `user`.
    pub fn new(hash: Hash, user: &str, password: &str) -> Self {
        let client_nonce = crate::common::unique("n").replace('_', "");
        let client_first_bare = format!("n={},r={}", saslname(user), client_nonce);
        ScramClient {
            hash,
            password: password.to_string(),
            client_nonce,
            client_first_bare,
            expected_server_signature: None,
            binding: None,
        }
    }

    /// Starts a -PLUS exchange bound to the TLS channel with `kind` and its `data`.
    pub fn with_channel_binding(mut self, kind: &str, data: Vec<u8>) -> Self {
        self.binding = Some((kind.to_string(), data));
        self
    }

    fn gs2_header(&self) -> String {
        match &self.binding {
            Some((kind, _)) => format!("p={kind},,"),
            None => "n,,".to_string(),
        }
    }

    /// The client-first-message (with gs2 header).
    pub fn client_first(&self) -> String {
        format!("{}{}", self.gs2_header(), self.client_first_bare)
    }

    /// Answers the server-first-message with the client-final-message.
    pub fn client_final(&mut self, server_first: &str) -> Result<String, String> {
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for part in server_first.split(',') {
            if let Some(v) = part.strip_prefix("r=") {
                nonce = Some(v.to_string());
            } else if let Some(v) = part.strip_prefix("s=") {
                salt = Some(B64.decode(v).map_err(|e| format!("salt not base64: {e}"))?);
            } else if let Some(v) = part.strip_prefix("i=") {
                iterations = Some(v.parse::<u32>().map_err(|e| format!("bad i=: {e}"))?);
            } else if part.starts_with("m=") {
                return Err("server sent a mandatory extension m=".into());
            }
        }
        let nonce = nonce.ok_or("server-first without r=")?;
        let salt = salt.ok_or("server-first without s=")?;
        let iterations = iterations.ok_or("server-first without i=")?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() <= self.client_nonce.len() {
            return Err(format!(
                "server nonce {nonce:?} does not extend client nonce {:?}",
                self.client_nonce
            ));
        }
        let h = self.hash;
        let salted = salted_password(h, &self.password, &salt, iterations);
        let client_key = hmac(h, &salted, b"Client Key");
        let stored_key = digest(h, &client_key);
        let mut cbind_input = self.gs2_header().into_bytes();
        if let Some((_, data)) = &self.binding {
            cbind_input.extend_from_slice(data);
        }
        let without_proof = format!("c={},r={}", B64.encode(cbind_input), nonce);
        let auth_message = format!("{},{},{}", self.client_first_bare, server_first, without_proof);
        let client_signature = hmac(h, &stored_key, auth_message.as_bytes());
        let proof: Vec<u8> =
            client_key.iter().zip(client_signature.iter()).map(|(a, b)| a ^ b).collect();
        let server_key = hmac(h, &salted, b"Server Key");
        self.expected_server_signature = Some(hmac(h, &server_key, auth_message.as_bytes()));
        Ok(format!("{},p={}", without_proof, B64.encode(proof)))
    }

    /// Checks the server-final-message (`v=...`).
    pub fn verify_server_final(&self, server_final: &str) -> Result<(), String> {
        let v = server_final
            .split(',')
            .find_map(|p| p.strip_prefix("v="))
            .ok_or_else(|| format!("server-final without v=: {server_final:?}"))?;
        let got = B64.decode(v).map_err(|e| format!("v= not base64: {e}"))?;
        match &self.expected_server_signature {
            Some(expected) if *expected == got => Ok(()),
            Some(_) => Err("server signature does not match (server does not know the key)".into()),
            None => Err("server-final before client-final".into()),
        }
    }
}

#[test]
fn rfc7677_example_vector() {
    // RFC 7677 §3: user "user", password "pencil".
    let mut c = ScramClient::new(Hash::Sha256, "user", "pencil");
    c.client_nonce = "rOprNGfwEbeRWgbNEkqO".into();
    c.client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO".into();
    let server_first =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let fin = c.client_final(server_first).unwrap();
    assert_eq!(
        fin,
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    c.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
}

#[test]
fn rfc5802_example_vector() {
    // RFC 5802 §5: user "user", password "pencil", SHA-1.
    let mut c = ScramClient::new(Hash::Sha1, "user", "pencil");
    c.client_nonce = "fyko+d2lbbFgONRv9qkxdawL".into();
    c.client_first_bare = "n=user,r=fyko+d2lbbFgONRv9qkxdawL".into();
    let server_first = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    let fin = c.client_final(server_first).unwrap();
    assert_eq!(
        fin,
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    );
    c.verify_server_final("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").unwrap();
}
