//! Tests for the SASL mechanisms: RFC test vectors, full exchanges driven by a small SCRAM
//! client written here (independently of the server code), and every failure path.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::{Rng, SeedableRng};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::*;

mod plain;
mod scram;
mod vectors;

// ---------------------------------------------------------------------------------------------
// A minimal SCRAM client, to drive exchanges end to end.

fn c_hmac(hash: ScramHash, key: &[u8], data: &[u8]) -> Vec<u8> {
    match hash {
        ScramHash::Sha1 => {
            let mut m = <Hmac<Sha1> as Mac>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        ScramHash::Sha256 => {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
    }
}

fn c_hash(hash: ScramHash, data: &[u8]) -> Vec<u8> {
    match hash {
        ScramHash::Sha1 => Sha1::digest(data).to_vec(),
        ScramHash::Sha256 => Sha256::digest(data).to_vec(),
    }
}

fn c_hi(hash: ScramHash, password: &str, salt: &[u8], i: u32) -> Vec<u8> {
    let mut out = vec![0; hash.output_len()];
    match hash {
        ScramHash::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password.as_bytes(), salt, i, &mut out),
        ScramHash::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, i, &mut out),
    }
    out
}

/// Client side of one SCRAM exchange.
struct ScramClient {
    hash: ScramHash,
    password: String,
    gs2_header: String,
    cbind_data: Vec<u8>,
    bare: String,
    client_nonce: String,
    expected_server_final: Option<Vec<u8>>,
}

/// Knobs for building a deliberately wrong client-final message.
#[derive(Default)]
struct Tweak {
    nonce: Option<String>,
    cbind_input: Option<Vec<u8>>,
}

impl ScramClient {
    /// `username` is sent as is (already `=2C`/`=3D` escaped by the test if needed).
    fn new(hash: ScramHash, username: &str, password: &str, gs2_header: &str) -> Self {
        let client_nonce = "rOprNGfwEbeRWgbNEkqO".to_owned();
        ScramClient {
            hash,
            password: password.to_owned(),
            gs2_header: gs2_header.to_owned(),
            cbind_data: Vec::new(),
            bare: format!("n={username},r={client_nonce}"),
            client_nonce,
            expected_server_final: None,
        }
    }

    fn with_cbind_data(mut self, data: &[u8]) -> Self {
        self.cbind_data = data.to_vec();
        self
    }

    fn first(&self) -> Vec<u8> {
        format!("{}{}", self.gs2_header, self.bare).into_bytes()
    }

    fn final_message(&mut self, server_first: &[u8]) -> Vec<u8> {
        self.final_tweaked(server_first, Tweak::default())
    }

    fn final_tweaked(&mut self, server_first: &[u8], tweak: Tweak) -> Vec<u8> {
        let server_first = std::str::from_utf8(server_first).unwrap();
        let mut parts = server_first.split(',');
        let nonce = parts.next().unwrap().strip_prefix("r=").unwrap();
        let salt = BASE64.decode(parts.next().unwrap().strip_prefix("s=").unwrap()).unwrap();
        let i: u32 = parts.next().unwrap().strip_prefix("i=").unwrap().parse().unwrap();
        assert!(nonce.starts_with(&self.client_nonce), "server must extend our nonce");

        let mut cbind_input = self.gs2_header.clone().into_bytes();
        cbind_input.extend_from_slice(&self.cbind_data);
        let cbind_input = tweak.cbind_input.unwrap_or(cbind_input);
        let nonce = tweak.nonce.unwrap_or_else(|| nonce.to_owned());
        let without_proof = format!("c={},r={nonce}", BASE64.encode(cbind_input));
        let auth_message = format!("{},{server_first},{without_proof}", self.bare);

        let salted = c_hi(self.hash, &self.password, &salt, i);
        let client_key = c_hmac(self.hash, &salted, b"Client Key");
        let stored_key = c_hash(self.hash, &client_key);
        let client_signature = c_hmac(self.hash, &stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
        let server_key = c_hmac(self.hash, &salted, b"Server Key");
        let server_signature = c_hmac(self.hash, &server_key, auth_message.as_bytes());
        self.expected_server_final =
            Some(format!("v={}", BASE64.encode(server_signature)).into_bytes());
        format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes()
    }
}

/// Runs a whole exchange and returns the last step.
fn run(
    mechanism: &mut ServerMechanism,
    client: &mut ScramClient,
    credentials: Option<&StoredCredentials>,
) -> SaslStep {
    match mechanism.start(&client.first()) {
        SaslStep::NeedCredentials { .. } => {}
        other => return other,
    }
    let server_first = match mechanism.provide_credentials(credentials) {
        SaslStep::Challenge(bytes) => bytes,
        other => return other,
    };
    let client_final = client.final_message(&server_first);
    mechanism.respond(&client_final)
}

fn user_creds() -> StoredCredentials {
    StoredCredentials::from_password("pencil", 4096)
}

fn success_for(client: &ScramClient, username: &str) -> SaslStep {
    SaslStep::Success {
        username: username.to_owned(),
        additional_data: client.expected_server_final.clone().unwrap(),
    }
}

fn exporter_binding() -> ChannelBinding {
    ChannelBinding {
        tls_exporter: Some(b"exporter-keying-material-32-byte".to_vec()),
        tls_server_end_point: Some(vec![0xAB; 32]),
        plus_offered: true,
    }
}
