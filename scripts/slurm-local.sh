#!/usr/bin/env bash
# A one-node Slurm cluster for the tests: munged + slurmctld + slurmd, every
# file under one directory ($RESUMABLE_SLURM_DIR, default ${TMPDIR:-/tmp}/resumable-slurm),
# nothing in /etc changed, processes stopped by PID. Works without systemd or cgroups.
#
#   scripts/slurm-local.sh install   # apt-get install slurm-wlm munge when missing
#   scripts/slurm-local.sh start     # installs if needed, starts, waits for the node; prints `export SLURM_CONF=…`
#   scripts/slurm-local.sh stop
#   scripts/slurm-local.sh status
#   scripts/slurm-local.sh env       # prints `export SLURM_CONF=…`
#
# Requeue is fast because cred_expire=10 and sched_interval=2 (Slurm's defaults
# make a requeued job wait about 2.5 minutes).
set -euo pipefail
D="${RESUMABLE_SLURM_DIR:-${TMPDIR:-/tmp}/resumable-slurm}"
CONF="$D/etc/slurm.conf"

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    return 0
  fi
  echo "slurm-local: installing slurm-wlm and munge" >&2
  export DEBIAN_FRONTEND=noninteractive
  # apt-get needs root: through sudo when this is not root.
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo -E"; fi
  # Another process may hold the dpkg lock for a while: retry.
  mkdir -p "$D/log"
  for i in 1 2 3 4 5 6 7 8 9 10; do
    if $sudo apt-get update >>"$D/log/apt.log" 2>&1 && $sudo apt-get install -y slurm-wlm munge >>"$D/log/apt.log" 2>&1; then return 0; fi
    echo "slurm-local: apt-get failed (try $i); retrying in 10 s" >&2
    sleep 10
  done
  echo "slurm-local: cannot install slurm-wlm and munge with apt-get; see $D/log/apt.log" >&2
  return 1
}

# Starts a daemon in the background with only stdin/stdout/stderr open: a
# descriptor inherited from the caller (a test runner's output pipe) would
# otherwise stay open in the daemon and keep the caller waiting for EOF.
launch() {
  local out="$1"; shift
  (
    for fd in /proc/self/fd/*; do
      n=${fd##*/}
      if [ "$n" -gt 2 ] 2>/dev/null; then eval "exec $n>&-" 2>/dev/null || true; fi
    done
    exec "$@" </dev/null >>"$out" 2>&1
  ) &
  LAUNCHED=$!
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_config() {
  local host
  host=$(hostname -s)
  mkdir -p "$D"/{etc,munge,munge-run,log,spool/ctld,spool/d,run}
  chmod 700 "$D/munge"
  chmod o+x "$D" "$D/munge-run"
  [ -f "$D/munge/munge.key" ] || mungekey -c -k "$D/munge/munge.key" >&2
  cat > "$CONF" <<CONF
ClusterName=resumable
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge-run/munge.socket,cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobRequeue=1
KillWait=5
MinJobAge=300
SchedulerParameters=sched_interval=2,bf_interval=2
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
MailProg=/bin/true
ReturnToService=2
StateSaveLocation=$D/spool/ctld
SlurmdSpoolDir=$D/spool/d
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=${host} NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  install
  write_config
  if ! pid_alive "$D/munge-run/munged.pid"; then
    launch "$D/log/munged.out" munged -F --key-file="$D/munge/munge.key" --socket="$D/munge-run/munge.socket" \
      --pid-file="$D/munge-run/munged.pid" --log-file="$D/log/munged.log" --seed-file="$D/munge/munged.seed"
    echo "$LAUNCHED" > "$D/munge-run/munged.pid"
  fi
  for _ in $(seq 50); do [ -S "$D/munge-run/munge.socket" ] && break; sleep 0.1; done
  export SLURM_CONF="$CONF"
  if ! pid_alive "$D/run/slurmctld.pid.own"; then
    launch "$D/log/slurmctld.out" slurmctld -D -f "$CONF"
    echo "$LAUNCHED" > "$D/run/slurmctld.pid.own"
  fi
  if ! pid_alive "$D/run/slurmd.pid.own"; then
    launch "$D/log/slurmd.out" slurmd -D -f "$CONF"
    echo "$LAUNCHED" > "$D/run/slurmd.pid.own"
  fi
  # At most 60 s in all: each sinfo is bounded, and a daemon that died (a
  # port another cluster on this machine holds, say) ends the wait at once.
  local deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    state=$(timeout 5 sinfo -h -o %T 2>/dev/null || true)
    case "$state" in idle*|mixed*|allocated*) echo "export SLURM_CONF=$CONF"; return 0 ;; esac
    for daemon in slurmctld slurmd; do
      if ! pid_alive "$D/run/$daemon.pid.own"; then
        echo "slurm-local: $daemon exited at start; its log says:" >&2
        tail -3 "$D/log/$daemon.log" "$D/log/$daemon.out" >&2 2>/dev/null || true
        return 1
      fi
    done
    sleep 0.2
  done
  echo "slurm-local: the node did not become idle within 60 s (state: ${state:-none}); logs in $D/log" >&2
  return 1
}

stop() {
  local pids=()
  for f in "$D/run/slurmd.pid.own" "$D/run/slurmctld.pid.own" "$D/munge-run/munged.pid"; do
    if pid_alive "$f"; then pids+=("$(cat "$f")"); kill "$(cat "$f")" 2>/dev/null || true; fi
  done
  for _ in $(seq 100); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -f "$D/run/slurmd.pid.own" "$D/run/slurmctld.pid.own" "$D/munge-run/munged.pid"
}

status() {
  for f in munge-run/munged.pid run/slurmctld.pid.own run/slurmd.pid.own; do
    if pid_alive "$D/$f"; then echo "$f: running ($(cat "$D/$f"))"; else echo "$f: stopped"; fi
  done
  SLURM_CONF="$CONF" sinfo 2>/dev/null || true
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 64 ;;
esac
