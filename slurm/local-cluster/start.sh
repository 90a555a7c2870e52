#!/usr/bin/env bash
# Start a single-node Slurm cluster on localhost (munged, mariadbd, slurmdbd, slurmctld, slurmd)
# by hand, as root, without systemd or cgroups, so tests can submit real jobs through submitit.
# All state lives in $DIGAN_SLURM_DIR (default /tmp/digan-slurm); stop.sh stops every daemon.
# The state is recreated on every start so job ids never collide with old accounting records.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
STATE="${DIGAN_SLURM_DIR:-/tmp/digan-slurm}"
CTLD_PORT="${DIGAN_SLURMCTLD_PORT:-6817}"
SLURMD_PORT="${DIGAN_SLURMD_PORT:-6818}"
DBD_PORT="${DIGAN_SLURMDBD_PORT:-6819}"
DB_PORT="${DIGAN_SLURM_DB_PORT:-3307}"
CONF_LINK=/etc/slurm/slurm.conf
T0=$(date +%s%N)

log() { echo "[digan-slurm] $*"; }
die() { echo "[digan-slurm] error: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"

install_packages() {
    local missing=()
    for pkg in slurm-wlm munge slurmdbd mariadb-server; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# wait_for DESCRIPTION SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
    local what=$1 timeout=$2; shift 2
    local deadline=$(( $(date +%s) + timeout ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || die "$what not ready after ${timeout}s (logs in $STATE/log)"
        sleep 0.2
    done
}

fill() {  # template -> file, substituting the @NAME@ placeholders
    sed -e "s|@STATE@|$STATE|g" -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" \
        -e "s|@DBD_PORT@|$DBD_PORT|g" -e "s|@DB_PORT@|$DB_PORT|g" -e "s|@DB_PASS@|$DB_PASS|g" \
        -e "s|@NODE@|$NODE|g" "$1" > "$2"
}

install_packages

# A previous cluster from this state dir is stopped and wiped; refuse to wipe a foreign directory.
if [ -e "$STATE" ]; then
    [ -f "$STATE/.digan-slurm" ] || die "$STATE exists and was not made by this script"
    bash "$HERE/stop.sh"
    rm -rf "$STATE"
fi
if [ -e "$CONF_LINK" ] && [ "$(readlink "$CONF_LINK")" != "$STATE/etc/slurm.conf" ]; then
    die "$CONF_LINK exists and is not this cluster's; remove it or use that cluster"
fi
mkdir -p "$STATE"/{etc,run,log,ctld,slurmd,munge,mysql}
touch "$STATE/.digan-slurm"
chmod 700 "$STATE/munge"

# slurmd -C reports the real CPUs, topology and memory of this machine.
NODE="$(slurmd -C | head -n1)"
DB_PASS="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
fill "$HERE/slurm.conf.in" "$STATE/etc/slurm.conf"
fill "$HERE/slurmdbd.conf.in" "$STATE/etc/slurmdbd.conf"
fill "$HERE/my.cnf.in" "$STATE/etc/my.cnf"
chmod 600 "$STATE/etc/slurmdbd.conf"
# Client commands (sbatch, sacct, sinfo run by submitit and tests) find the config here.
mkdir -p /etc/slurm
ln -sfn "$STATE/etc/slurm.conf" "$CONF_LINK"
export SLURM_CONF="$STATE/etc/slurm.conf"

log "munged"
dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$STATE/munge/munge.key"
# The default socket: Slurm 22.05 ignores AuthInfo=socket= on its slurmdbd connections.
MUNGE_SOCKET=/run/munge/munge.socket.2
munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && die "another munged is serving $MUNGE_SOCKET; stop it first"
mkdir -p /run/munge
munged --force --key-file="$STATE/munge/munge.key" --socket="$MUNGE_SOCKET" \
    --pid-file="$STATE/run/munged.pid" --log-file="$STATE/log/munged.log" --seed-file="$STATE/munge/munged.seed"
wait_for munged 20 bash -c "munge -n | unmunge"

log "mariadbd"
mariadb-install-db --defaults-file="$STATE/etc/my.cnf" --auth-root-authentication-method=socket \
    --skip-test-db > "$STATE/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed, see $STATE/log/mariadb-install.log"
mariadbd --defaults-file="$STATE/etc/my.cnf" > /dev/null 2>&1 &
wait_for mariadbd 60 mariadb --defaults-file="$STATE/etc/my.cnf" -e "SELECT 1"
mariadb --defaults-file="$STATE/etc/my.cnf" <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL

log "slurmdbd"
slurmdbd  # reads slurmdbd.conf next to $SLURM_CONF
wait_for slurmdbd 60 sacctmgr -n list cluster
sacctmgr -i add cluster digan >/dev/null

log "slurmctld, slurmd"
slurmctld -f "$SLURM_CONF"
wait_for slurmctld 60 scontrol ping
slurmd -f "$SLURM_CONF"
wait_for "node idle" 60 bash -c "sinfo -h -N -o '%T' | grep -qx idle"
wait_for sacct 30 sacct -n -X

log "$(sinfo -N -o '%N %c CPUs %m MB %P %T' | tail -n1)"
ELAPSED_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
log "cluster up in $((ELAPSED_MS / 1000)).$(printf '%03d' $((ELAPSED_MS % 1000)))s; state in $STATE"
