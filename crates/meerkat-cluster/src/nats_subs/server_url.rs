//! `nats://[user[:password]@ | token@]host[:port]` as `[cluster] nats_urls` gives them, read
//! the way the main (async-nats) client reads them: user and password, or a lone token, go
//! into CONNECT; the port defaults to 4222.

/// Where to connect and how to authenticate.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name, when the URL has `user:password@`.
    pub user: Option<String>,
    /// Password, with `user`.
    pub pass: Option<String>,
    /// Token, when the URL has a lone `token@`.
    pub token: Option<String>,
}

impl std::fmt::Debug for ServerUrl {
    // Credentials never reach the logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "nats://{}:{}", self.host, self.port)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl ServerUrl {
    /// Parses a `nats://` URL; `None` for `tls://` and anything malformed.
    pub fn parse(url: &str) -> Option<ServerUrl> {
        let rest = url.strip_prefix("nats://")?;
        let rest = rest.trim_end_matches('/');
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            match after {
                "" => (host, 4222),
                p => (host, p.strip_prefix(':')?.parse().ok()?),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().ok()?),
                None => (hostport, 4222),
            }
        };
        if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
            return None;
        }
        let (mut user, mut pass, mut token) = (None, None, None);
        match auth.map(|a| a.split_once(':')) {
            None => {}
            Some(Some((u, p))) => {
                user = Some(percent_decode(u)?);
                pass = Some(percent_decode(p)?);
            }
            Some(None) => token = Some(percent_decode(auth.unwrap_or_default())?),
        }
        Some(ServerUrl { host: host.to_owned(), port, user, pass, token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_config_accepts() {
        let u = ServerUrl::parse("nats://127.0.0.1:4222").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.user, u.token), ("127.0.0.1", 4222, None, None));
        assert_eq!(ServerUrl::parse("nats://nats.example").unwrap().port, 4222);
        let u = ServerUrl::parse("nats://me:p%40ss@h:1").unwrap();
        assert_eq!((u.user.as_deref(), u.pass.as_deref()), (Some("me"), Some("p@ss")));
        assert_eq!(format!("{u:?}"), "nats://h:1", "no credentials in logs");
        let u = ServerUrl::parse("nats://s3cr3t@h:2/").unwrap();
        assert_eq!((u.token.as_deref(), u.port), (Some("s3cr3t"), 2));
        let u = ServerUrl::parse("nats://[::1]:4223").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 4223));
        for bad in [
            "tls://h:1",
            "nats://",
            "nats://h:99999",
            "nats://h:-1",
            "nats://h:x",
            "nats://[::1",
            "nats://u:%zz@h",
            "nats://%@h",
            "http://h",
        ] {
            assert!(ServerUrl::parse(bad).is_none(), "{bad}");
        }
    }
}
