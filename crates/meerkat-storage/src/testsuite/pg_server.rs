//! A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, `postgres` on a
//! free loopback port below 32768, one database per test so tests run in parallel.
//!
//! [`PgServer::shared`] starts one server per test binary on first use; it runs until the
//! binary exits (the server gets `SIGQUIT`, PostgreSQL's immediate shutdown, when the process
//! that started it ends, through the parent-death signal set by `setpriv`), and the data
//! directories of earlier runs whose process is gone are removed at the next start.
//! [`PgServer::start`] gives a server of one's own (to stop and restart it under a node); it is
//! stopped and deleted on drop.
//!
//! The binaries are Debian's (`/usr/lib/postgresql/<version>/bin`, package `postgresql`), or
//! those in `$MEERKAT_PG_BIN`. When none are found, starting fails with a message saying how
//! to install them: tests on PostgreSQL must fail, not pass silently, on a machine without it.
//! PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What to do when the binaries are missing.
pub const INSTALL_HINT: &str = "PostgreSQL server binaries not found (looked in $MEERKAT_PG_BIN \
     and /usr/lib/postgresql/*/bin). Install them with `apt-get install postgresql` (Debian; \
     scripts/test does it when run as root) or point MEERKAT_PG_BIN at a directory holding \
     initdb and postgres";

/// Parent directory of every test server's data directory.
const ROOT: &str = "meerkat-test-pg";

/// How long a fresh server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL server run by the tests.
pub struct PgServer {
    bin: PathBuf,
    /// `<tmp>/meerkat-test-pg/<pid>-<n>`, holding `data/` and `log`.
    dir: PathBuf,
    port: u16,
    child: Mutex<Option<Child>>,
    run_as_postgres: bool,
}

impl PgServer {
    /// The server shared by every test of this binary, started on first use.
    ///
    /// # Panics
    /// When the server cannot be started (binaries missing: see [`INSTALL_HINT`]).
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<Result<PgServer, String>> = OnceLock::new();
        match SHARED.get_or_init(PgServer::start) {
            Ok(server) => server,
            Err(e) => panic!("cannot start the test PostgreSQL server: {e}"),
        }
    }

    /// Starts a server of one's own (blocking: `initdb` takes a second or two).
    pub fn start() -> Result<PgServer, String> {
        let bin = find_bin().ok_or_else(|| INSTALL_HINT.to_owned())?;
        let root = std::env::temp_dir().join(ROOT);
        remove_stale(&root);
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = root.join(format!("{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let run_as_postgres = is_root();
        if run_as_postgres {
            // The parent must be traversable by the postgres user; the instance dir is its own.
            run(Command::new("chmod").arg("0755").arg(&root))?;
            run(Command::new("chown").arg("-R").arg("postgres:").arg(&dir))?;
        }
        let mut server = PgServer { bin, dir, port: 0, child: Mutex::new(None), run_as_postgres };
        let mut initdb = server.command("initdb");
        initdb.arg("-D").arg(server.data_dir()).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run(&mut initdb)?;
        // A port taken between the probe and PostgreSQL's bind makes it exit: try others.
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_low_port()?;
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of database `db` as the superuser `postgres` (trust authentication, no password).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a fresh, empty database named after `label` and returns its URL.
    pub async fn create_database(&self, label: &str) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let clean: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .take(32)
            .collect();
        let name = format!("t_{clean}_{}_{n}", std::process::id());
        // The server may still be starting up (it accepts TCP before it accepts logins).
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let attempt = async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&self.url("postgres")).await?;
                sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await?;
                conn.close().await
            };
            match attempt.await {
                Ok(()) => return self.url(&name),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("creating test database {name}: {e}; log:\n{}", self.log()),
            }
        }
    }

    /// Stops the server (fast shutdown: connections are closed), waiting for it to exit.
    pub fn stop(&self) {
        let child = self.child.lock().map(|mut c| c.take()).unwrap_or(None);
        if let Some(mut child) = child {
            // SIGINT is PostgreSQL's "fast" shutdown: clients are disconnected, data is kept.
            let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data after [`PgServer::stop`].
    pub fn restart(&self) -> Result<(), String> {
        self.stop();
        self.launch()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A command running `name` from the binaries, as the `postgres` user when we are root,
    /// with `SIGQUIT` as parent-death signal.
    fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new("setpriv");
        if self.run_as_postgres {
            cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
        }
        cmd.args(["--pdeathsig", "QUIT", "--"]).arg(self.bin.join(name));
        cmd.current_dir(&self.dir).stdin(Stdio::null());
        cmd
    }

    /// Spawns `postgres` and waits until it accepts TCP connections.
    fn launch(&self) -> Result<(), String> {
        let log_path = self.dir.join("log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("opening {}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = self.command("postgres");
        cmd.arg("-D").arg(self.data_dir()).arg("-p").arg(self.port.to_string());
        for setting in [
            "listen_addresses=127.0.0.1",
            "unix_socket_directories=",
            // Throwaway data: durability only costs time here.
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            // Every test node has a pool of its own.
            "max_connections=500",
            "shared_buffers=32MB",
        ] {
            cmd.arg("-c").arg(setting);
        }
        cmd.stdout(log).stderr(log2);
        let mut child = spawn_from_keeper(cmd)?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("postgres exited with {status}; log:\n{}", self.log()));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("postgres not listening after {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(mut slot) = self.child.lock() {
            *slot = Some(child);
        }
        Ok(())
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.child.lock() {
            if let Some(mut child) = slot.take() {
                // SIGQUIT: immediate shutdown, which also ends the server's backends at once.
                let _ = Command::new("kill").arg("-QUIT").arg(child.id().to_string()).status();
                let deadline = Instant::now() + Duration::from_secs(5);
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory holding `initdb` and `postgres`: `$MEERKAT_PG_BIN`, else the newest Debian
/// version under `/usr/lib/postgresql`.
fn find_bin() -> Option<PathBuf> {
    let usable = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("MEERKAT_PG_BIN").map(PathBuf::from) {
        return usable(&dir).then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            usable(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    // `id -u` rather than a libc call: this crate does not depend on libc.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a command to completion; its output is the error when it fails.
fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("running {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A loopback port below 32768 (above is the kernel's ephemeral range, where the harness's
/// own `port 0` listeners land) that was free a moment ago.
fn free_low_port() -> Result<u16, String> {
    let seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos().into())
            .unwrap_or(0);
    for i in 0..200u64 {
        let port = 20000 + ((seed.wrapping_mul(7919).wrapping_add(i * 104_729)) % 12000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no free loopback port in 20000..32000".to_owned())
}

/// Removes the data directories of runs whose process is gone.
fn remove_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid =
            name.to_str().and_then(|n| n.split('-').next()).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Spawns from one thread that lives as long as the process. The parent-death signal fires
/// when the spawning *thread* exits, so spawning from a test's thread would kill the shared
/// server when that test ends.
fn spawn_from_keeper(cmd: Command) -> Result<Child, String> {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static KEEPER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
            // The senders live in a static and are never dropped: park instead of returning.
            loop {
                std::thread::park();
            }
        });
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    keeper
        .lock()
        .map_err(|_| "spawner poisoned".to_owned())?
        .send((cmd, reply_tx))
        .map_err(|_| "spawner gone".to_owned())?;
    reply_rx
        .recv()
        .map_err(|_| "spawner gone".to_owned())?
        .map_err(|e| format!("spawning postgres: {e}"))
}
