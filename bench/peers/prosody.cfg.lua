-- Prosody 0.12 (Debian bookworm) configuration for bench/compare.sh.
-- Starts from Debian's /etc/prosody/prosody.cfg.lua; every change is marked "BENCH:" and listed
-- in BENCHMARKS.md. @RUN@ and @PORT@ are filled in by bench/peers/start.sh.

admins = { }
plugin_paths = { "/usr/local/lib/prosody/modules" }

modules_enabled = {
	"disco";
	"roster";
	"saslauth";
	"tls";
	"blocklist";
	"bookmarks";
	"carbons";
	-- BENCH: "dialback" removed (s2s is disabled below).
	-- BENCH: "limits" removed: Debian enables it with limits.c2s.rate = "10kb/s" per connection.
	"pep";
	"private";
	"smacks";
	"vcard4";
	"vcard_legacy";
	"csi_simple";
	"invites";
	"invites_adhoc";
	"invites_register";
	"ping";
	"register";
	"time";
	"uptime";
	"version";
	"admin_adhoc";
	"admin_shell";
	"posix";
	-- BENCH (issue 6): XMPP over WebSocket (RFC 7395) at ws://127.0.0.1:@WSPORT@/xmpp-websocket.
	"websocket";
}

-- BENCH: no server-to-server listener or connections (loopback benchmark of c2s only).
modules_disabled = { "s2s" }

-- BENCH: c2s on 127.0.0.1:@PORT@ only (Debian: every interface, port 5222); no s2s, HTTP or
-- component ports.
c2s_ports = { @PORT@ }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { }
component_ports = { }
-- BENCH (issue 6): one plain HTTP port on loopback, for mod_websocket only.
http_ports = { @WSPORT@ }
http_interfaces = { "127.0.0.1" }
https_ports = { }
c2s_direct_tls_ports = { }

-- BENCH: the benchmarks speak plain TCP (Debian ships no certificate for localhost in
-- /etc/prosody/certs, so STARTTLS is not offered either). Debian's default requires
-- encryption before authentication and registration.
c2s_require_encryption = false
-- BENCH: offer SASL PLAIN on unencrypted connections too (default false: PLAIN hidden without
-- TLS), for the PLAIN login scenario.
allow_unencrypted_plain_auth = true

-- BENCH: in-band registration open (Debian: off). Prosody 0.12 does not throttle registrations
-- unless min_seconds_between_registrations / registration_throttle_max is set (none is);
-- loopback is on the allowlist (Debian's default allowlist is 127.0.0.1 and ::1 only, and the
-- load tool may use other 127.0.0.x source addresses).
allow_registration = true
registration_allowlist = { "127.0.0.0/8", "::1" }
-- BENCH: only allowlisted (loopback) addresses may register, as ejabberd's ip_access and
-- Meerkat's allowed_ips (default false; the c2s port is on loopback anyway).
allowlist_registration_only = true
-- BENCH: Debian enables mod_invites_register, whose default registration_invite_only = true
-- refuses every registration without an invite (not-acceptable).
registration_invite_only = false

-- Debian's setting, kept: passwords stored as salted SCRAM keys in Prosody's "internal" file
-- storage (the default storage; no SQL).
authentication = "internal_hashed"
storage = "internal"
-- BENCH: SCRAM-SHA-256 keys (default "SHA-1": only SCRAM-SHA-1 offered), so that the
-- SCRAM-SHA-256 login scenario runs against every server.
password_hash = "SHA-256"
-- BENCH: 4096 PBKDF2 iterations for new accounts (Prosody's default 10000), the count ejabberd
-- and Meerkat use, so that the PLAIN login scenario costs the same key derivation everywhere.
default_iteration_count = 4096

-- epoll is Prosody 0.12's default network backend; written out. Listen backlog 1024
-- (default 128) like the other bench configs.
network_backend = "epoll"
network_settings = {
	tcp_backlog = 1024;
}

-- BENCH: our own data, pid and log files under the bench run directory, not /var/lib/prosody,
-- /run/prosody or /var/log/prosody. Log level warn (Debian: info) like the other servers.
data_path = "@RUN@/data"
pidfile = "@RUN@/prosody.pid"
log = {
	warn = "@RUN@/log/prosody.log";
}

certificates = "/etc/prosody/certs"

VirtualHost "localhost"

-- BENCH (issue 6): MUC at conference.localhost, rooms created on first join (default). No
-- discussion history (default 20 messages), like the Meerkat and ejabberd bench configs; no
-- room archive (mod_muc_mam is not loaded). muc_room_cache_size: rooms held in memory (default
-- 100; beyond that live rooms are swapped to disk), raised above the bench's 100 rooms.
Component "conference.localhost" "muc"
	max_history_messages = 0
	muc_room_default_history_length = 0
	muc_room_cache_size = 1000
