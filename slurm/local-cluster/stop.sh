#!/usr/bin/env bash
# Stop the daemons that start.sh started (by their pid files), newest first.
set -uo pipefail
STATE="${DIGAN_SLURM_DIR:-/tmp/digan-slurm}"
CONF_LINK=/etc/slurm/slurm.conf

stop() {  # stop NAME: SIGTERM the pid in $STATE/run/NAME.pid, SIGKILL after 20 s
    local pidfile="$STATE/run/$1.pid" pid
    [ -f "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        echo "[digan-slurm] stopped $1 ($pid)"
    fi
    rm -f "$pidfile"
}

for daemon in slurmd slurmctld slurmdbd mariadbd munged; do stop "$daemon"; done
[ "$(readlink "$CONF_LINK" 2>/dev/null)" = "$STATE/etc/slurm.conf" ] && rm -f "$CONF_LINK"
exit 0
