# Shared helpers of the launch scripts (sourced, not run): errors, shell quoting.

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
