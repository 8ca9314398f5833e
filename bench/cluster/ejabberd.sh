#!/usr/bin/env bash
# An N-node ejabberd cluster on this machine, for the scaling comparison of issue 5.
#
#   bench/cluster/ejabberd.sh start N    nodes ej1..ejN@localhost, c2s on 127.0.0.1:6001..6000+N
#                                        (the bench configuration of bench/peers/ejabberd.yml),
#                                        ej2..ejN joined to ej1 with `ejabberdctl join_cluster`
#                                        (Mnesia replication, as in MongooseIM); prints the
#                                        nodes' c2s addresses (comma separated) and beam PIDs
#   bench/cluster/ejabberd.sh stop       stops every node it started
#   bench/cluster/ejabberd.sh status     `running db nodes` as Mnesia sees them on ej1
#
# Data and logs under $BENCH_RUN_DIR/ejcluster/ejK (default /tmp/meerkat-bench). All nodes share
# one Erlang cookie (a cluster needs it) written to each node's spool. Runs as the ejabberd user
# through setpriv, with the open-file limit of $NOFILE (20000).
#
# The nodes share this machine's cores as Meerkat's dev cluster does (scripts/dev-cluster):
# each BEAM gets cores/N schedulers (at least 1) and no scheduler busy-waiting, which the VM
# otherwise does on every idle scheduler, a cost that N VMs on 2 cores multiply.
# EJCLUSTER_ERL_OPTIONS replaces these settings (empty: the VM's defaults).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../peers/common.sh"

BASE=${EJCLUSTER_BASE_PORT:-6000}
ROOT="$BENCH_RUN_DIR/ejcluster"

ctl() {  # ctl K ARGS...: ejabberdctl for node K
    local k=$1; shift
    local run="$ROOT/ej$k"
    (
        ulimit -n "$NOFILE"
        cd "$run/spool"
        HOME="$run/spool" exec setpriv --reuid=ejabberd --regid=ejabberd --init-groups \
            /usr/sbin/ejabberdctl --config-dir "$run/etc" --spool "$run/spool" --logs "$run/log" \
            --node "ej$k@localhost" "$@"
    )
}

nodes() { ls -d "$ROOT"/ej* 2>/dev/null | sed 's|.*/ej||' | sort -n; }

start() {
    local n=$1 k run port wsport cookie
    ensure_pkg ejabberd ejabberdctl
    stop_system_instance ejabberd
    mkdir -p "$ROOT"
    cookie=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z' | head -c 20)
    local sched=$(( $(nproc) / n > 1 ? $(nproc) / n : 1 ))
    local erl_opts=${EJCLUSTER_ERL_OPTIONS-+S $sched:$sched +sbwt none +sbwtdcpu none +sbwtdio none}
    for k in $(seq 1 "$n"); do
        # The bench config also has a WebSocket listener (issue 6): BASE+500+K, unused here.
        run="$ROOT/ej$k"; port=$((BASE + k)); wsport=$((BASE + 500 + k))
        port_open "$port" && { echo "127.0.0.1:$port in use" >&2; exit 1; }
        rm -rf "$run"; mkdir -p "$run/etc/modules.d" "$run/spool" "$run/log"
        sed -e "s|@RUN@|$run|g" -e "s|@PORT@|$port|g" -e "s|@WSPORT@|$wsport|g" \
            "$PEERS_DIR/ejabberd.yml" > "$run/etc/ejabberd.yml"
        sed -e "s|@RUN@|$run|g" -e "s|@PORT@|$port|g" \
            -e "s|^ERL_OPTIONS=\"\(.*\)\"|ERL_OPTIONS=\"\1 $erl_opts\"|" \
            "$PEERS_DIR/ejabberdctl.cfg" > "$run/etc/ejabberdctl.cfg"
        cp /etc/ejabberd/inetrc "$run/etc/inetrc"
        printf '%s' "$cookie" > "$run/spool/.erlang.cookie"
        chown -R ejabberd:ejabberd "$run"
        chmod 700 "$run/spool"; chmod 400 "$run/spool/.erlang.cookie"
        ctl "$k" start >>"$run/log/ctl.log" 2>&1
    done
    for k in $(seq 1 "$n"); do
        wait_port $((BASE + k)) 120 || { echo "ej$k did not open its port; see $ROOT/ej$k/log" >&2; exit 1; }
        ctl "$k" started >>"$ROOT/ej$k/log/ctl.log" 2>&1
    done
    for k in $(seq 2 "$n"); do
        ctl "$k" join_cluster "ej1@localhost" >>"$ROOT/ej$k/log/ctl.log" 2>&1 \
            || { echo "ej$k could not join ej1; see $ROOT/ej$k/log/ctl.log" >&2; exit 1; }
    done
    for k in $(seq 1 "$n"); do wait_port $((BASE + k)) 120; done
    echo "cluster members: $(status | tr '\n' ' ')" >&2
    local addrs="" pids=""
    for k in $(seq 1 "$n"); do
        addrs="$addrs,127.0.0.1:$((BASE + k))"
        pids="$pids $(cat "$ROOT/ej$k/ejabberd.pid" 2>/dev/null || pgrep -f "ej$k@localhost" | head -1)"
    done
    echo "servers=${addrs#,}"
    echo "pids=\"${pids# }\""
}

status() {
    ctl 1 list_cluster
}

stop() {
    local k
    for k in $(nodes); do
        ctl "$k" stop >>"$ROOT/ej$k/log/ctl.log" 2>&1 || true
    done
    for k in $(nodes); do
        ctl "$k" stopped >>"$ROOT/ej$k/log/ctl.log" 2>&1 || true
        wait_port_closed $((BASE + k)) 30 || true
    done
    echo "ejabberd cluster stopped" >&2
}

case "${1:-}" in
start) start "${2:?usage: $0 start N}" ;;
stop) stop ;;
status) status ;;
*) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
