#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, from Debian's packages, for CI to submit grading jobs to.
#
#   bash scripts/slurm_cluster.sh install            # apt-get the missing packages (slurm-wlm, munge); needs root
#   bash scripts/slurm_cluster.sh start STATE_DIR    # configure and start munged, slurmctld and slurmd; wait for the node
#   bash scripts/slurm_cluster.sh stop STATE_DIR     # cancel the jobs, stop the daemons, leave no process behind
#   bash scripts/slurm_cluster.sh status STATE_DIR   # which daemons run, and sinfo
#
# `start` prints one line on stdout, `export SLURM_CONF=STATE_DIR/slurm.conf` (everything else goes to stderr), so
#
#   eval "$(bash scripts/slurm_cluster.sh start build/slurm)"
#
# sets up the caller's shell; or pass it per command: `SLURM_CONF=build/slurm/slurm.conf sbatch ...`.
#
# Everything the cluster writes (munge key and socket, config, state, spool, logs, pid files) lives in STATE_DIR;
# the daemons run as root, so start and stop need root. Made for containers: no systemd, and no cgroup plugin
# (proctrack/linuxproc, task/none), since a container rarely has a cgroup tree delegated to it. Accounting is off:
# there is no slurmdbd, so sacct has nothing to say; use `scontrol show job` (finished jobs stay for MinJobAge).
# All three are idempotent: install skips what is there, start on a running cluster only waits for the node, and stop
# on a stopped one does nothing.
#
# Environment: SLURMCTLD_PORT and SLURMD_PORT (6817 and 6818) for a second cluster beside this one, and
# SLURM_START_TIMEOUT (60 seconds) for the wait on the node.
set -euo pipefail

SLURMCTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
SLURM_START_TIMEOUT=${SLURM_START_TIMEOUT:-60}
PACKAGES=(slurm-wlm munge)

log() { echo "slurm_cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" >&2
    exit 2
}

apt_install() {
    # debconf's "delaying package configuration, since apt-utils is not installed" is noise, not a problem.
    apt-get install -qq -y --no-install-recommends "$@" > /dev/null \
        2> >(grep -v '^debconf: delaying package configuration' >&2)
}

install_packages() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        log "already installed: ${PACKAGES[*]}"
        return
    fi
    [[ $(id -u) == 0 ]] || die "install needs root"
    export DEBIAN_FRONTEND=noninteractive
    # Without systemd, the packages' postinst would start a system-wide munged (and try slurmctld and slurmd)
    # through invoke-rc.d; the cluster runs its own daemons from STATE_DIR, so forbid that for the install.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
    fi
    log "installing ${missing[*]}"
    # An update costs seconds, so only when the lists are missing (a fresh container) or stale (the install fails).
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' > /dev/null; then
        apt-get update -qq
    fi
    if ! apt_install "${missing[@]}"; then
        log "install failed; updating the package lists and trying again"
        apt-get update -qq
        apt_install "${missing[@]}"
    fi
}

# The state directory as an absolute path, so the config means the same wherever the daemons chdir to.
# Returns 1 for a directory that does not exist, which to stop and status means a cluster that never ran.
resolve_state_dir() {
    [[ -n ${1:-} ]] || usage
    [[ -d $1 ]] || return 1
    STATE_DIR=$(cd "$1" && pwd -P)
    # slurm.conf has no quoting for paths.
    [[ $STATE_DIR != *[[:space:]]* ]] || die "the state directory's path must not contain whitespace: $STATE_DIR"
    CONF=$STATE_DIR/slurm.conf
    MUNGE_SOCKET=$STATE_DIR/munge/munge.socket
}

# The pid in a pid file if that process is alive and runs the named program; guards against killing a reused pid.
# A zombie does not count: where PID 1 does not reap orphans (a bare container), a dead daemon lingers as one.
running_pid() {
    local pidfile=$1 name=$2 pid stat
    [[ -s $pidfile ]] || return 1
    pid=$(< "$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != [ZX] ]] || return 1
    echo "$pid"
}

DAEMONS=(munged slurmctld slurmd)
pidfile_of() { echo "$STATE_DIR/run/$1.pid"; }

show_logs() {
    local f
    for f in "$STATE_DIR"/log/*.log; do
        [[ -e $f ]] || continue
        log "---- last lines of $f"
        tail -n 30 "$f" >&2
    done
}

write_config() {
    local host cpus mem_kib real_mem
    # slurmd finds its own node line by the short hostname, so the node must be named that way.
    host=$(hostname -s)
    cpus=$(nproc)
    # Below the available memory, so that the node never reports less than it was configured with (slurmctld
    # would drain it) and a job's --mem up to this amount is schedulable.
    mem_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
    real_mem=$((mem_kib * 9 / 10 / 1024))
    # Written to a temporary file and moved, so a daemon never reads a half-written config.
    cat > "$CONF.tmp" <<EOF
# Single-node cluster made by scripts/slurm_cluster.sh; regenerated by each start.
ClusterName=ci
# NodeAddr and the address in SlurmctldHost are loopback, so the hostname need not resolve.
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$SLURMCTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$(pidfile_of slurmctld)
SlurmdPidFile=$(pidfile_of slurmd)
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
# No cgroups: a container seldom may create its own cgroups.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
# Batch jobs start as soon as they are submitted, not up to 3 s later in a batch.
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
# Each logical CPU is a unit of --cpus-per-task: CR_Core would give whole cores, halving the jobs that run at once
# on a host with two threads per core.
SelectTypeParameters=CR_CPU
# A node that was down for a moment (say, slurmd restarted) comes back by itself.
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
# A job asking for more CPUs than the node has is refused at submission; otherwise it would pend forever
# (reason PartitionConfig) and hang sbatch --wait.
EnforcePartLimits=ALL
KillWait=5
# sbatch --wait polls every 2 s, then 8 s, and 32 s once MinJobAge/2 exceeds 8: at most 17 keeps its lag under 8 s,
# while a finished job stays visible to scontrol (the only record, without accounting) for at least 17 s.
MinJobAge=17
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=grading Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
    chmod 644 "$CONF"
}

start_munged() {
    local key=$STATE_DIR/munge/munge.key
    # One key per state directory, kept across restarts: only this cluster's daemons and clients share it.
    if [[ ! -s $key ]]; then
        dd if=/dev/urandom of="$key.tmp" bs=1024 count=1 status=none
        chmod 400 "$key.tmp"
        mv "$key.tmp" "$key"
    fi
    # A socket left by a munged that was killed would make the new one refuse to start.
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    munged --key-file="$key" --socket="$MUNGE_SOCKET" --pid-file="$(pidfile_of munged)" \
        --log-file="$STATE_DIR/log/munged.log" --seed-file="$STATE_DIR/munge/munged.seed"
}

cluster_running() {
    local d
    for d in "${DAEMONS[@]}"; do
        running_pid "$(pidfile_of "$d")" "$d" > /dev/null || return 1
    done
}

# Shows the logs and fails; a cluster this call started is stopped first, since half of one would hold the ports
# and the next start could not bind them.
start_failed() {
    show_logs
    if [[ -n ${STARTED:-} ]]; then
        stop_daemons
    fi
    die "$1"
}

wait_for_node() {
    local host state cycles resumed='' deadline=$((SECONDS + SLURM_START_TIMEOUT)) d
    host=$(hostname -s)
    while :; do
        state=$(SLURM_CONF=$CONF sinfo -h -n "$host" -o %T 2>/dev/null || true)
        # idle, or busy with jobs a previous start left in the state directory.
        case $state in
            idle|mixed|allocated|completing)
                # slurmctld's first scheduling pass comes 3 s after it starts; a job submitted before would wait
                # for it, and `sbatch --wait` would then see it done only at its second poll, 10 s in.
                cycles=$(SLURM_CONF=$CONF sdiag 2>/dev/null \
                    | awk '/^Main schedule/ {main = 1} main && /Total cycles:/ {print $3; exit}' || true)
                ((${cycles:-0} > 0)) && return 0
                ;;
            drain*|down*)
                # The state directory remembers a drain from the previous run (say, a job whose processes would
                # not die); daemons this call started get a clean slate, once.
                if [[ -n ${STARTED:-} && -z ${resumed:-} ]]; then
                    resumed=1
                    log "resuming node $host, $state since the last run: $(SLURM_CONF=$CONF sinfo -h -n "$host" -o %E)"
                    SLURM_CONF=$CONF scontrol update nodename="$host" state=resume || true
                fi
                ;;
        esac
        for d in "${DAEMONS[@]}"; do
            # slurmctld and slurmd write their pid files a moment after the command returns.
            if ((SECONDS >= 3)) && ! running_pid "$(pidfile_of "$d")" "$d" > /dev/null; then
                start_failed "$d is not running (its log is above)"
            fi
        done
        if ((SECONDS >= deadline)); then
            SLURM_CONF=$CONF sinfo -N -l -R >&2 2>/dev/null || true
            start_failed "node $host not idle after ${SLURM_START_TIMEOUT}s (state '${state:-unknown}'; logs above)"
        fi
        sleep 0.5
    done
}

start_cluster() {
    [[ -n ${1:-} ]] || usage
    mkdir -p "$1"
    resolve_state_dir "$1"
    [[ $(id -u) == 0 ]] || die "start needs root: the daemons run as root"
    command -v slurmctld > /dev/null || die "Slurm is not installed: run '$0 install' first"
    if cluster_running; then
        log "already running in $STATE_DIR"
    else
        # Some daemon died: restart all of them rather than guess which state the rest are in.
        stop_daemons
        mkdir -p "$STATE_DIR"/{munge,run,log,state,spool}
        # munged refuses a key or socket directory that others may write to; clients must reach the socket.
        chmod 755 "$STATE_DIR" "$STATE_DIR/munge" "$STATE_DIR/run"
        chmod 700 "$STATE_DIR/state" "$STATE_DIR/spool"
        write_config
        STARTED=1
        start_munged || start_failed "munged did not start (it refuses a STATE_DIR below a directory others may write to, sticky ones aside)"
        export SLURM_CONF=$CONF
        # -i: a state directory from a killed run may hold partly written files; start rather than refuse.
        slurmctld -i || start_failed "slurmctld did not start"
        slurmd || start_failed "slurmd did not start"
        log "started munged, slurmctld and slurmd in $STATE_DIR"
    fi
    SECONDS=0
    wait_for_node
    log "node $(hostname -s) ready after ${SECONDS}s in partition grading"
    echo "export SLURM_CONF=$CONF"
}

# Stop a process by pid: TERM, then KILL if it lingers.
kill_and_wait() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        is_alive "$pid" || return 0
        sleep 0.2
    done
    log "pid $pid ignored SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

is_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != [ZX] ]]
}

# This cluster's step daemons and job processes that outlived the daemons (a slurmd that died, a job that
# daemonized): slurmd hands its SLURM_CONF to slurmstepd, and slurmstepd hands it to the job with SLURM_JOB_ID.
# The caller's own shell may carry the same SLURM_CONF, so this process and its ancestors are left out.
leftover_pids() {
    local p pid env stat keep=" " a=$$
    while ((a > 1)); do
        keep+="$a "
        stat=$(cat "/proc/$a/stat" 2>/dev/null) || break
        stat=${stat##*) }
        read -r _ a _ <<< "$stat"
    done
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [[ $keep == *" $pid "* ]] && continue
        is_alive "$pid" || continue
        env=$({ tr '\0' '\n' < "$p/environ"; } 2>/dev/null) || continue
        grep -qxF "SLURM_CONF=$CONF" <<< "$env" || continue
        if [[ $(cat "$p/comm" 2>/dev/null) == slurmstepd ]] || grep -q '^SLURM_JOB_ID=' <<< "$env"; then
            echo "$pid"
        fi
    done
}

stop_daemons() {
    local d pid pids
    # slurmd before slurmctld, so that it does not log a lost controller; munged last, both need it to the end.
    for d in slurmd slurmctld munged; do
        if pid=$(running_pid "$(pidfile_of "$d")" "$d"); then
            kill_and_wait "$pid"
            log "stopped $d (pid $pid)"
        fi
        rm -f "$(pidfile_of "$d")"
    done
    pids=$(leftover_pids)
    [[ -n $pids ]] || return 0
    log "killing leftover job processes: ${pids//$'\n'/ }"
    # slurmstepd ignores SIGTERM (only slurmd may end it), so it gets SIGKILL; the jobs get a chance to exit.
    for pid in $pids; do
        if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == slurmstepd ]]; then
            kill -KILL "$pid" 2>/dev/null || true
        else
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for _ in $(seq 25); do
        pids=$(for pid in $pids; do is_alive "$pid" && echo "$pid"; done || true)
        [[ -n $pids ]] || return 0
        sleep 0.2
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
}

stop_cluster() {
    resolve_state_dir "${1:-}" || return 0
    [[ $(id -u) == 0 ]] || die "stop needs root: the daemons run as root"
    local jobs deadline d
    for d in "${DAEMONS[@]}"; do
        running_pid "$(pidfile_of "$d")" "$d" > /dev/null || { stop_daemons; return; }
    done
    # Cancel first, while slurmd lives to end each job's processes through slurmstepd.
    jobs=$(SLURM_CONF=$CONF squeue -h -o %A 2>/dev/null || true)
    if [[ -n $jobs ]]; then
        # shellcheck disable=SC2086
        SLURM_CONF=$CONF scancel $jobs 2>/dev/null || true
        deadline=$((SECONDS + 20))
        while [[ -n $(SLURM_CONF=$CONF squeue -h -o %A 2>/dev/null) ]] && ((SECONDS < deadline)); do
            sleep 0.5
        done
        log "cancelled jobs: ${jobs//$'\n'/ }"
    fi
    stop_daemons
}

status_cluster() {
    local d pid
    resolve_state_dir "${1:-}" || die "no state directory ${1:-}"
    for d in "${DAEMONS[@]}"; do
        if pid=$(running_pid "$(pidfile_of "$d")" "$d"); then
            echo "$d: running (pid $pid)"
        else
            echo "$d: not running"
        fi
    done
    cluster_running || return 1
    SLURM_CONF=$CONF sinfo
}

case ${1:-} in
    install) install_packages ;;
    start) start_cluster "${2:-}" ;;
    stop) stop_cluster "${2:-}" ;;
    status) status_cluster "${2:-}" ;;
    *) usage ;;
esac
