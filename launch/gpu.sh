#!/usr/bin/env bash
# GPU launcher for posergen_jax: one multi-GPU node, or a SLURM job of N nodes (see launch/README.md).
set -euo pipefail

# shellcheck source=launch/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # Also sets REPO_ROOT and PROG.

usage() {
  cat <<EOF
Usage: ${PROG} COMMAND [OPTIONS] [--config.KEY=VALUE ...] [-- MAIN_ARGS...]

Commands:
  run     train/eval/sample on this machine's GPUs: one process sees all of them
          (checks nvidia-smi, sets the XLA memory fraction and the compilation cache)
  slurm   submit launch/slurm.sbatch with sbatch: --nodes x --gpus-per-node, one JAX process
          per node (--per=node) or per GPU (--per=gpu); the coordinator is the first node

Options (environment-variable defaults in brackets):
  --config=FILE[:ARG]     config file inside this repo, e.g. configs/sr3.py [POSERGEN_CONFIG]
  --workdir=DIR           workdir (a path on a shared file system, or gs://...) [POSERGEN_WORKDIR]
  --mode=train|eval|sample                                    [POSERGEN_MODE, train]
  --python=EXE            python with posergen_jax installed [POSERGEN_PYTHON, .venv/bin/python]
  --mem-fraction=F        XLA_PYTHON_CLIENT_MEM_FRACTION, in (0, 1] [0.90]
  --cache-dir=DIR         JAX persistent compilation cache [JAX_COMPILATION_CACHE_DIR,
                          ~/.cache/posergen_jax/jax_cache]
  --gpus=LIST             run: CUDA_VISIBLE_DEVICES, e.g. 0,1,2,3 [all GPUs]
  --nodes=N               slurm: nodes [SLURM_NODES, 2]
  --gpus-per-node=G       slurm: GPUs per node [SLURM_GPUS_PER_NODE_COUNT, 8]
  --per=node|gpu          slurm: one process per node, or per GPU [node]
  --partition=P           slurm: partition [SLURM_PARTITION]
  --account=A             slurm: account [SLURM_ACCOUNT_NAME]
  --time=HH:MM:SS         slurm: time limit [24:00:00]
  --job-name=NAME         slurm: job name [posergen]
  --dry-run               print each command (prefixed '+ ', shell-quoted) instead of running it [DRY_RUN=1]
  -h, --help              this message

Examples:
  ${PROG} run --config=configs/sr3.py --workdir=runs/sr3 --config.train.batch_size=64
  ${PROG} slurm --nodes=2 --gpus-per-node=8 --partition=gpu \\
      --config=configs/sr3_cascade.py --workdir=/shared/runs/cascade --config.stage=sr3_128
EOF
}

# Runs (exec's, for the last command) a command, or prints it as '+ cmd args' under --dry-run.
exec_cmd() {
  if [[ $DRY_RUN == 1 ]]; then
    printf '+ %s\n' "$(join_quoted "$@")"
    exit 0
  fi
  exec "$@"
}

# Makes a local path absolute (against the caller's folder); leaves URLs (gs://...) alone.
absolute() {
  case $1 in
    /* | *://*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$PWD" "$1" ;;
  esac
}

CONFIG=${POSERGEN_CONFIG:-}
WORKDIR=${POSERGEN_WORKDIR:-}
MODE=${POSERGEN_MODE:-train}
PYTHON=${POSERGEN_PYTHON:-}
MEM_FRACTION=0.90
CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-$HOME/.cache/posergen_jax/jax_cache}
GPUS=""
NODES=${SLURM_NODES:-2}
GPUS_PER_NODE=${SLURM_GPUS_PER_NODE_COUNT:-8}
PER=node
PARTITION=${SLURM_PARTITION:-}
ACCOUNT=${SLURM_ACCOUNT_NAME:-}
TIME=24:00:00
JOB_NAME=posergen
DRY_RUN=${DRY_RUN:-0}
PASSTHROUGH=()

[[ $DRY_RUN == 0 || $DRY_RUN == 1 ]] || die "DRY_RUN must be 0 or 1, got '${DRY_RUN}'"

declare -A VALUE_OPTIONS=(
  [--config]=CONFIG [--workdir]=WORKDIR [--mode]=MODE [--python]=PYTHON
  [--mem-fraction]=MEM_FRACTION [--cache-dir]=CACHE_DIR [--gpus]=GPUS [--nodes]=NODES
  [--gpus-per-node]=GPUS_PER_NODE [--per]=PER [--partition]=PARTITION [--account]=ACCOUNT
  [--time]=TIME [--job-name]=JOB_NAME
)
declare -A FLAG_OPTIONS=([--dry-run]=DRY_RUN)
parse_command_line "run slurm" "$@"

[[ -n $CONFIG ]] || die "--config is required (or set POSERGEN_CONFIG)"
config_file=${CONFIG%%:*}
[[ $config_file != /* && -f $REPO_ROOT/$config_file ]] ||
  die "--config='${CONFIG}' is not a config file inside the repo (e.g. configs/sr3.py)"
[[ -n $WORKDIR ]] || die "--workdir is required (or set POSERGEN_WORKDIR)"
WORKDIR=$(absolute "$WORKDIR")
[[ $MODE == train || $MODE == eval || $MODE == sample ]] || die "--mode='${MODE}' must be train, eval or sample"
[[ $MEM_FRACTION =~ ^(0?\.[0-9]*[1-9][0-9]*|1(\.0*)?)$ ]] ||
  die "--mem-fraction='${MEM_FRACTION}' must be a number in (0, 1]"
[[ -n $CACHE_DIR ]] || die "--cache-dir must not be empty"
CACHE_DIR=$(absolute "$CACHE_DIR")
[[ -z $GPUS || $GPUS =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--gpus='${GPUS}' must be a list like 0,1,2,3"
[[ $NODES =~ ^[1-9][0-9]*$ ]] || die "--nodes='${NODES}' must be a positive integer"
[[ $GPUS_PER_NODE =~ ^[1-9][0-9]*$ ]] || die "--gpus-per-node='${GPUS_PER_NODE}' must be a positive integer"
[[ $PER == node || $PER == gpu ]] || die "--per='${PER}' must be node or gpu"
[[ -z $PARTITION || $PARTITION =~ ^[A-Za-z0-9_.,-]+$ ]] || die "--partition='${PARTITION}' is not a partition name"
[[ -z $ACCOUNT || $ACCOUNT =~ ^[A-Za-z0-9_.-]+$ ]] || die "--account='${ACCOUNT}' is not an account name"
[[ $TIME =~ ^([0-9]+-)?[0-9]+(:[0-9]{2}){0,2}$ ]] || die "--time='${TIME}' must look like HH:MM:SS or D-HH:MM:SS"
[[ $JOB_NAME =~ ^[A-Za-z0-9_.-]+$ ]] || die "--job-name='${JOB_NAME}' must be letters, digits, '_', '.' or '-'"
if [[ -z $PYTHON ]]; then
  if [[ -x $REPO_ROOT/.venv/bin/python ]]; then PYTHON=$REPO_ROOT/.venv/bin/python; else PYTHON=python3; fi
fi
[[ $PYTHON =~ ^[A-Za-z0-9_./+-]+$ ]] || die "--python='${PYTHON}' is not an executable path"

MAIN_ARGS=(--config="$CONFIG" --workdir="$WORKDIR" --mode="$MODE" ${PASSTHROUGH[@]+"${PASSTHROUGH[@]}"})

cmd_run() {
  if [[ $DRY_RUN == 0 ]]; then
    command -v nvidia-smi >/dev/null 2>&1 || die "nvidia-smi not found: no NVIDIA driver on this machine"
    local count
    count=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
    ((count > 0)) || die "nvidia-smi lists no GPU"
    echo "${PROG}: ${count} GPU(s) on $(hostname)${GPUS:+, using ${GPUS}}" >&2
    mkdir -p "$CACHE_DIR"
  fi
  local env_vars=(XLA_PYTHON_CLIENT_MEM_FRACTION="$MEM_FRACTION" JAX_COMPILATION_CACHE_DIR="$CACHE_DIR")
  [[ -z $GPUS ]] || env_vars=(CUDA_VISIBLE_DEVICES="$GPUS" "${env_vars[@]}")
  cd "$REPO_ROOT"  # configs/ are read by path and imported as a package from here.
  exec_cmd env "${env_vars[@]}" "$PYTHON" -m posergen_jax.main "${MAIN_ARGS[@]}"
}

cmd_slurm() {
  [[ -z $GPUS ]] || die "--gpus only applies to run; use --gpus-per-node for slurm"
  [[ $WORKDIR == /* || $WORKDIR == gs://* ]] || die "--workdir='${WORKDIR}' must be shared by all nodes"
  if [[ $DRY_RUN == 0 ]]; then
    command -v sbatch >/dev/null 2>&1 || die "sbatch not found: run this on a SLURM login node (or use --dry-run)"
  fi
  local tasks_per_node=1
  [[ $PER == node ]] || tasks_per_node=$GPUS_PER_NODE
  local sbatch_args=(--nodes="$NODES" --ntasks-per-node="$tasks_per_node" --gpus-per-node="$GPUS_PER_NODE"
    --job-name="$JOB_NAME" --time="$TIME" --chdir="$REPO_ROOT" --output="$REPO_ROOT/runs/slurm/%x-%j.out")
  [[ -z $PARTITION ]] || sbatch_args+=(--partition="$PARTITION")
  [[ -z $ACCOUNT ]] || sbatch_args+=(--account="$ACCOUNT")
  [[ $DRY_RUN == 1 ]] || mkdir -p "$REPO_ROOT/runs/slurm"
  exec_cmd sbatch "${sbatch_args[@]}" "$REPO_ROOT/launch/slurm.sbatch" --python="$PYTHON" \
    --mem-fraction="$MEM_FRACTION" --cache-dir="$CACHE_DIR" "${MAIN_ARGS[@]}"
}

"cmd_${COMMAND}"
