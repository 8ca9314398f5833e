#!/usr/bin/env bash
# bench/compare.sh: Meerkat, ejabberd and Prosody side by side with meerkat-load, one server at a
# time (they would otherwise share the 2 cores), every scenario repeated, every JSON summary kept
# under bench/results/<date>/, then bench/summarize.py writes the table (results.md there).
#
# Usage: bench/compare.sh [--users N] [--repeats K] [--servers "meerkat ejabberd prosody"]
#                         [--chat-users N] [--chat-rate R] [--chat-rate-high R]
#                         [--seed-hold DUR] [--hold DUR] [--out DIR] [--no-build] [--only LIST]
#                         [--login-users N] [--plain-users N] [--chat-rate-low R]
#                         [--skip SERVER:SCENARIO,...]
#   --users N         idle sessions for memory and users of the seed pattern (default 10000;
#                     the issue's targets are at 18000)
#   --login-users N   users logged in by the SCRAM-SHA-256 login-rate run (default: min(N, 5000))
#   --plain-users N   users logged in by the PLAIN login-rate run (default: min(N, 2000))
#   --repeats K       repeats of every scenario, each on a freshly started server (default 2)
#   --repeat-from K   number of the first repeat (default 1), to add repeats to a results dir
#   --chat-users N    users of the chat scenarios (default 10000)
#   --chat-rate R     aggregate msg/s of chat scenario (c) (default 5000)
#   --chat-rate-high R  second chat rate for the p99 target (default 10000; 0 skips it)
#   --chat-rate-low R   a rate every server can sustain, so all three have a chat row
#                     (default 1000; 0 skips it)
#   --seed-hold DUR   how long the seed pattern (one message per user per 60 s) is measured
#                     after its ramp (default 60s: every user sends about once)
#   --hold DUR        how long idle sessions are held in the memory scenario (default 10s)
#   --only LIST       scenarios to run, comma separated, from
#                     memory,seed,login-scram,login-plain,throughput,chat-low,chat,chat-high,top-speed
#   --skip LIST       SERVER:SCENARIO pairs not to run, e.g. prosody:chat,prosody:chat-high
#                     (Prosody cannot even finish the ramp of 10k users sending 5000 msg/s)
#   --top-step N      users added per top-speed step (default 6000, up to --users)
#   --no-build        use the binaries already in $CARGO_TARGET_DIR/release. Without it, the
#                     committed HEAD is exported (git archive, so other people's uncommitted
#                     edits in the work tree are left out) to $BENCH_RUN_DIR/src and built there.
# Environment: CARGO_TARGET_DIR (default /work/target-bench), BENCH_RUN_DIR (/tmp/meerkat-bench).
# Everything runs on 127.0.0.1; each load run is bounded by `timeout`.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/peers/common.sh"
export CARGO_TARGET_DIR

USERS=10000
REPEATS=2
FIRST_REPEAT=1
SERVERS="meerkat ejabberd prosody"
CHAT_USERS=10000
CHAT_RATE=5000
CHAT_RATE_HIGH=10000
CHAT_RATE_LOW=1000
SKIP=""
TOP_STEP=6000
SEED_HOLD=60s
HOLD=10s
OUT=""
BUILD=1
ONLY="memory,seed,login-scram,login-plain,throughput,chat-low,chat,chat-high,top-speed"
LOGIN_USERS=""
PLAIN_USERS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --users) USERS=$2; shift 2 ;;
        --repeats) REPEATS=$2; shift 2 ;;
        --repeat-from) FIRST_REPEAT=$2; shift 2 ;;
        --servers) SERVERS=$2; shift 2 ;;
        --chat-users) CHAT_USERS=$2; shift 2 ;;
        --chat-rate) CHAT_RATE=$2; shift 2 ;;
        --chat-rate-high) CHAT_RATE_HIGH=$2; shift 2 ;;
        --chat-rate-low) CHAT_RATE_LOW=$2; shift 2 ;;
        --skip) SKIP=$2; shift 2 ;;
        --top-step) TOP_STEP=$2; shift 2 ;;
        --seed-hold) SEED_HOLD=$2; shift 2 ;;
        --hold) HOLD=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --only) ONLY=$2; shift 2 ;;
        --login-users) LOGIN_USERS=$2; shift 2 ;;
        --plain-users) PLAIN_USERS=$2; shift 2 ;;
        -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
# want SCENARIO [SERVER]: in --only and not skipped for that server.
want() { [[ ",$ONLY," == *",$1,"* ]] && ! [[ -n "${2:-}" && ",$SKIP," == *",$2:$1,"* ]]; }
min() { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }
: "${LOGIN_USERS:=$(min "$USERS" 5000)}"
: "${PLAIN_USERS:=$(min "$USERS" 2000)}"

: "${OUT:=$BENCH_DIR/results/$(date -u +%Y-%m-%d)}"
mkdir -p "$OUT" "$BENCH_RUN_DIR"
LOAD="$CARGO_TARGET_DIR/release/meerkat-load"
LOG="$BENCH_RUN_DIR/compare.log"
echo "=== compare.sh started $(date -u +%FT%TZ)" >> "$LOG"
say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

COMMIT=$(git -C "$REPO_DIR" rev-parse --short HEAD)
if [ "$BUILD" = 1 ]; then
    say "exporting commit $COMMIT to $BENCH_RUN_DIR/src and building meerkat and meerkat-load (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    rm -rf "$BENCH_RUN_DIR/src" && mkdir -p "$BENCH_RUN_DIR/src"
    git -C "$REPO_DIR" archive HEAD | tar -x -C "$BENCH_RUN_DIR/src"
    (cd "$BENCH_RUN_DIR/src" && cargo build --release --locked -p meerkat -p meerkat-load) >>"$LOG" 2>&1
    echo "$COMMIT" > "$CARGO_TARGET_DIR/release/.bench-commit"
fi
BUILT=$(cat "$CARGO_TARGET_DIR/release/.bench-commit" 2>/dev/null || echo "unknown (built outside compare.sh)")
[ -x "$LOAD" ] && [ -x "$MEERKAT_BIN" ] || { echo "missing $LOAD or $MEERKAT_BIN" >&2; exit 1; }

# Machine and versions, for BENCHMARKS.md.
{
    echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $COMMIT (binaries built from: $BUILT)"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "kernel: $(uname -r)"
    echo "mem_total: $(free -h | awk '/^Mem:/ {print $2}')"
    echo "ejabberd: $(dpkg-query -W -f '${Version}' ejabberd 2>/dev/null || echo missing)"
    echo "erlang: $(dpkg-query -W -f '${Version}' erlang-base 2>/dev/null || echo missing)"
    echo "prosody: $(dpkg-query -W -f '${Version}' prosody 2>/dev/null || echo missing)"
    echo "users: $USERS  login_users: $LOGIN_USERS  plain_users: $PLAIN_USERS  repeats: $REPEATS  chat_users: $CHAT_USERS  chat_rate: $CHAT_RATE  chat_rate_high: $CHAT_RATE_HIGH  chat_rate_low: $CHAT_RATE_LOW  skip: $SKIP  seed_hold: $SEED_HOLD"
} > "$OUT/machine-r$FIRST_REPEAT-$(date -u +%H%M%S).txt"

# Users 1..max(USERS, CHAT_USERS, 200) are registered once per server; the scenarios reuse them.
NREG=$USERS
[ "$CHAT_USERS" -gt "$NREG" ] && NREG=$CHAT_USERS
[ "$NREG" -lt 200 ] && NREG=200
SRC="127.0.0.1-127.0.0.40"   # source addresses: no ephemeral-port exhaustion across repeats
KEYS="$BENCH_RUN_DIR/scram-keys"  # SCRAM client keys, cached per user and salt

STARTED=""
cleanup() { [ -n "$STARTED" ] && "$PEERS_DIR/stop.sh" "$STARTED" >>"$LOG" 2>&1 || true; }
trap cleanup EXIT

# Keeps the JSON summary small: the per-second timeline keeps only the fields the table and a
# plot need (sessions, delivered/s, p99 of that second, server RSS and CPU).
shrink() {
    python3 - "$1" <<'PY'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
tl = d.get("timeline") or []
d["timeline"] = [
    {"t_s": x.get("t_s"), "sessions": x.get("sessions"), "received_per_s": x.get("received_per_s"),
     "p99_ms": (x.get("latency") or {}).get("p99_ms"), "server": x.get("server")}
    for x in tl
]
json.dump(d, open(p, "w"), separators=(",", ":"))
PY
}

# CPU ticks (user + system, 1/100 s) and open files of a process.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# settle PID: waits (at most 120 s) until the server is idle again after a scenario: under 5% of
# a core over one second and its open files back within 100 of the count after start-up.
# Sessions of the previous run may still be closing (ejabberd writes last activity to Mnesia on
# every logout), and those files count against the 20000 limit of the next run.
settle() {
    local pid=$1 i t0 t1 f
    for i in $(seq 1 120); do
        t0=$(ticks "$pid"); sleep 1; t1=$(ticks "$pid"); f=$(nfds "$pid")
        if [ $((t1 - t0)) -le 5 ] && [ "$f" -le $((BASE_FDS + 100)) ]; then
            [ "$i" -gt 2 ] && say "settled after ${i} s (open files $f)"
            return 0
        fi
    done
    say "not settled after 120 s (cpu $((t1 - t0))/100 s, open files $f, base $BASE_FDS)"
}

# run NAME SERVER REPEAT PORT PID TIMEOUT_S ARGS...: one meerkat-load run, summary kept.
run() {
    local scen=$1 server=$2 rep=$3 port=$4 pid=$5 limit=$6; shift 6
    local json="$OUT/$server-$scen-r$rep.json"
    say "$server r$rep $scen: meerkat-load $*"
    echo "+ meerkat-load --server 127.0.0.1:$port --server-pid $pid $*" >>"$LOG"
    if timeout --kill-after=10 "$limit" "$LOAD" --server "127.0.0.1:$port" --server-pid "$pid" \
        --source-ips "$SRC" --quiet --json-out "$json" "$@" >>"$LOG" 2>&1; then
        shrink "$json"
        tail -n 30 "$LOG" | sed -n '/^== meerkat-load/,$p' >&2
    else
        say "$server r$rep $scen FAILED (exit $?); see $LOG"
        echo "{\"scenario\":\"$scen\",\"failed\":true}" > "$json"
    fi
    # Let the server settle (closing sessions) before the next scenario.
    sleep 2
    settle "$pid"
}

for rep in $(seq "$FIRST_REPEAT" "$REPEATS"); do
    for server in $SERVERS; do
        port=$(port_of "$server")
        if ps -eo args | grep -E "^[^ ]*meerkat-load " | grep -v -- "--server 127.0.0.1:$port" >/dev/null; then
            say "note: another meerkat-load is running (figures may be disturbed)"
        fi
        say "== $server, repeat $rep: starting"
        pid=$("$PEERS_DIR/start.sh" "$server" 2>>"$LOG")
        STARTED=$server
        say "$server pid $pid"
        sleep 2
        BASE_FDS=$(nfds "$pid")
        # Registration (XEP-0077); existing accounts count as done, so repeats skip it quickly.
        timeout 900 "$LOAD" --server "127.0.0.1:$port" --quiet \
            --json-out "$OUT/$server-register-r$rep.json" register -n "$NREG" --concurrency 50 \
            >>"$LOG" 2>&1 || say "$server registration failed; see $LOG"
        sleep 2
        settle "$pid"
        # (a) memory per idle authenticated session: N users log in (SCRAM-SHA-256, which also
        # fills the client key cache for the login-rate runs) and hold; RSS before/after login.
        want memory "$server" && run memory "$server" "$rep" "$port" "$pid" 600 \
            --auth scram-sha256 --key-cache "$KEYS" connect -n "$USERS" --login-rate 2000 --duration "$HOLD"
        # (e) the seed's pattern: N users, each sends one message per 60 s to a random online user.
        # Run before the chat scenarios: messages a lossy chat run leaves queued are stored offline
        # and delivered at the next login with their old timestamps, which would skew it.
        want seed "$server" && run seed "$server" "$rep" "$port" "$pid" 900 \
            --auth scram-sha256 --key-cache "$KEYS" \
            chat -n "$USERS" --login-rate 2000 --period 60s --duration "$SEED_HOLD" --grace 5s
        # (d) login rate, SCRAM-SHA-256 with the client key cached (the server checks a proof:
        # no key derivation on either side), as fast as the server takes them.
        want login-scram "$server" && run login-scram "$server" "$rep" "$port" "$pid" 600 \
            --auth scram-sha256 --key-cache "$KEYS" --max-pending-logins 500 \
            connect -n "$LOGIN_USERS" --login-rate 100000 --duration 2s
        # (d') login rate with PLAIN: the server derives the key (PBKDF2, 4096 iterations).
        want login-plain "$server" && run login-plain "$server" "$rep" "$port" "$pid" 600 \
            --auth plain --max-pending-logins 500 \
            connect -n "$PLAIN_USERS" --login-rate 100000 --duration 2s
        # (b) throughput: 100 sender/receiver pairs, 10 messages in flight per pair.
        want throughput "$server" && run throughput "$server" "$rep" "$port" "$pid" 300 \
            --auth scram-sha256 --key-cache "$KEYS" throughput --pairs 100 --window 10 --warmup 3s --duration 10s
        # (c0) chat among CHAT_USERS at CHAT_RATE_LOW msg/s: a rate all three servers sustain.
        if want chat-low "$server" && [ "$CHAT_RATE_LOW" != 0 ]; then
            run chat-low "$server" "$rep" "$port" "$pid" 900 \
                --auth scram-sha256 --key-cache "$KEYS" \
                chat -n "$CHAT_USERS" --login-rate 2000 --msg-rate "$CHAT_RATE_LOW" --duration 20s --grace 5s
        fi
        # (c) chat among CHAT_USERS at CHAT_RATE msg/s: server CPU per message, p99.
        want chat "$server" && run chat "$server" "$rep" "$port" "$pid" 600 \
            --auth scram-sha256 --key-cache "$KEYS" \
            chat -n "$CHAT_USERS" --login-rate 2000 --msg-rate "$CHAT_RATE" --duration 20s --grace 5s
        # (c') the same at CHAT_RATE_HIGH msg/s (the p99 <= 5 ms target).
        if want chat-high "$server" && [ "$CHAT_RATE_HIGH" != 0 ]; then
            run chat-high "$server" "$rep" "$port" "$pid" 600 \
                --auth scram-sha256 --key-cache "$KEYS" \
                chat -n "$CHAT_USERS" --login-rate 2000 --msg-rate "$CHAT_RATE_HIGH" --duration 20s --grace 5s
        fi
        # (f) the seed's top-speed search: add TOP_STEP users at a time (one message per user
        # per minute) until logins fail or p99 passes 100 ms, up to USERS (the open-file cap).
        want top-speed "$server" && run top-speed "$server" "$rep" "$port" "$pid" 1500 \
            --auth scram-sha256 --key-cache "$KEYS" \
            top-speed --step "$TOP_STEP" --max-users "$USERS" --login-rate 2000 --period 60s \
            --step-hold 40s --p99-threshold 100ms
        "$PEERS_DIR/stop.sh" "$server" >>"$LOG" 2>&1 || say "stopping $server failed"
        STARTED=""
    done
done

say "summarising"
python3 "$BENCH_DIR/summarize.py" "$OUT" | tee "$OUT/results.md"
say "done: $OUT"
