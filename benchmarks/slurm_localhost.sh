#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests/test_slurm_localhost.py and trying
# `maskaae sweep-m --launcher slurm` (Debian/Ubuntu, as root: apt-get install slurm-wlm munge).
#
#   bash benchmarks/slurm_localhost.sh start [DIR]   # then: export SLURM_CONF=DIR/slurm.conf
#   bash benchmarks/slurm_localhost.sh stop [DIR]
#
# DIR (default /tmp/maskaae-slurm) holds slurm.conf, the daemons' state and logs. No accounting
# database (slurmdbd): sacct answers "accounting storage is disabled", and sweep-m reads job states
# from slurmctld (scontrol) instead.
set -euo pipefail
action=${1:-start}
dir=${2:-/tmp/maskaae-slurm}
conf=$dir/slurm.conf

if [[ $action == stop ]]; then
  for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    [[ -f $pid ]] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  exit 0
fi

for cmd in munged slurmctld slurmd sinfo; do
  command -v "$cmd" >/dev/null || { echo "error: $cmd not found: apt-get install slurm-wlm munge" >&2; exit 2; }
done
mkdir -p "$dir/state" "$dir/spool"
host=$(hostname)
cat > "$conf" <<EOF
ClusterName=localhost
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

if ! munge -n >/dev/null 2>&1; then  # munged runs as its own user, with its socket folder
  mkdir -p /run/munge && chown munge:munge /run/munge
  chown -R munge:munge /var/log/munge /var/lib/munge 2>/dev/null || true
  su -s /bin/sh munge -c munged
fi
export SLURM_CONF=$conf
pgrep -x slurmctld >/dev/null || slurmctld -f "$conf"
pgrep -x slurmd >/dev/null || slurmd -f "$conf"
for _ in $(seq 30); do
  if sinfo -h -o %T 2>/dev/null | grep -q idle; then
    echo "SLURM is up on $host: export SLURM_CONF=$conf"
    exit 0
  fi
  sleep 1
done
echo "error: the node did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
exit 1
