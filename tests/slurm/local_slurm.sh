#!/usr/bin/env bash
# A real one-node SLURM on this machine for the SLURM tests (tests/slurm): installs slurm-wlm and
# munge from the system packages if missing, writes a minimal configuration (MpiDefault=none, as
# many sites ship it; pmi2 and pmix plugins available) and starts munged, slurmctld and slurmd.
# Also Open MPI and PMIx, for the tests of a cluster's own MPI. Needs root and the system
# package manager; .ci/run calls it. Safe to call again: a SLURM that
# already answers is left as it is. Without root it says why and exits 0 (the tests then skip).
set -euo pipefail

if scontrol ping 2>/dev/null | grep -q UP && sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix|alloc"; then
    echo "local SLURM: already up"; exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "local SLURM: not root, not started (the SLURM tests will skip)"; exit 0
fi
# Open MPI and PMIx too: the tests of a system MPI loaded through MPI4PY_LIBMPI
packages="slurm-wlm munge openmpi-bin libopenmpi3 libpmix-dev"
if ! command -v dpkg >/dev/null || ! dpkg -s $packages >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null; then
        echo "local SLURM: no apt-get to install slurm-wlm and munge (the SLURM tests will skip)"
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi

node=$(hostname -s)
if ! getent hosts "$node" >/dev/null; then      # slurmctld must resolve its own host
    echo "127.0.0.1 $node" >> /etc/hosts
fi
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
conf=/etc/slurm/slurm.conf
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat > "$conf" <<CONF
# written by cellsweep's tests/slurm/local_slurm.sh: one local node for tests
ClusterName=cellsweep-test
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_min_interval=100000
KillWait=10
MinJobAge=300
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$node CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF

if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || su -s /bin/sh munge -c munged 2>/dev/null || munged --force
pkill -x slurmctld 2>/dev/null || true
pkill -x slurmd 2>/dev/null || true
sleep 0.5
slurmctld -c        # clean start: no jobs from an earlier run
slurmd
for _ in $(seq 1 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qE "^idle"; then
        echo "local SLURM: up (node $node, $cpus CPUs)"; exit 0
    fi
    scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
    sleep 0.5
done
echo "local SLURM: did not come up; see /var/log/slurm" >&2
sinfo >&2 || true
exit 1
