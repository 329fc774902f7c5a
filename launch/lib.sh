# Shared helpers of the launch scripts (sourced, not run): errors, shell quoting, options.

# The repo the launchers live in, and the launcher's name for messages (launch/gpu.sh, ...).
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly PROG="launch/${0##*/}"

die() {
  echo "error: $*" >&2
  exit 2
}

# Single-quotes one word for a POSIX shell when it needs it (like Python's shlex.quote).
quote() {
  local s=$1
  if [[ -n $s && $s =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
    printf '%s' "$s"
  else
    printf "'%s'" "${s//\'/\'\\\'\'}"
  fi
}

# Quotes every argument and joins them with spaces.
join_quoted() {
  local out="" arg
  for arg in "$@"; do
    out+="${out:+ }$(quote "$arg")"
  done
  printf '%s' "$out"
}

# Parses a launcher's command line, `COMMAND [OPTIONS]`: sets COMMAND to the first argument, one
# of the space-separated names in $1, then reads the rest with parse_long_options. Without a
# command the usage goes to stderr (exit 2); -h/--help prints it (exit 0).
parse_command_line() {
  local commands=$1
  shift
  if [[ $# -eq 0 ]]; then
    usage >&2
    exit 2
  fi
  case $1 in
    -h | --help) usage; exit 0 ;;
    -*) die "expected a command before option '$1' (see --help)" ;;
  esac
  [[ " ${commands} " == *" $1 "* ]] || die "unknown command '$1' (one of ${commands// /, }; see --help)"
  COMMAND=$1
  shift
  parse_long_options "$@"
}

# Parses a launcher's options into variables. The caller declares two associative arrays:
# VALUE_OPTIONS maps each option that takes a value (`--key=VALUE` or `--key VALUE`) to the
# variable it sets, FLAG_OPTIONS each option without one (`--key`) to the variable it sets to 1.
# `--config.KEY=VALUE` overrides and every argument after `--` are appended to PASSTHROUGH;
# -h/--help prints `usage` and exits. Anything else is a one-line error (`die`).
parse_long_options() {
  local arg key value
  while [[ $# -gt 0 ]]; do
    arg=$1
    shift
    case $arg in
      -h | --help) usage; exit 0 ;;
      --) PASSTHROUGH+=("$@"); break ;;
      --config.*)  # A config override: passed through to posergen_jax.main untouched.
        [[ $arg == *=* ]] || die "config override '${arg}' needs a value (--config.KEY=VALUE)"
        PASSTHROUGH+=("$arg"); continue ;;
      --*=*) key=${arg%%=*}; value=${arg#*=} ;;
      --*)
        key=$arg
        if [[ -n ${FLAG_OPTIONS[$key]+set} ]]; then
          printf -v "${FLAG_OPTIONS[$key]}" 1
          continue
        fi
        [[ -n ${VALUE_OPTIONS[$key]+set} ]] || die "unknown option '${key}' (see --help)"
        [[ $# -gt 0 ]] || die "option ${key} needs a value"
        value=$1
        shift ;;
      *) die "unexpected argument '${arg}' (see --help)" ;;
    esac
    [[ -z ${FLAG_OPTIONS[$key]+set} ]] || die "option ${key} takes no value"
    [[ -n ${VALUE_OPTIONS[$key]+set} ]] || die "unknown option '${key}' (see --help)"
    printf -v "${VALUE_OPTIONS[$key]}" '%s' "$value"
  done
}
