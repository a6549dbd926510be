# shellcheck shell=bash
# Shared helpers of the bin/ scripts (sourced, never run): logging, waiting, Debian packages, pid files,
# ports, and the project's virtualenv. A script sets LOG_TAG (and LOG_COLOR, an ANSI colour number) first.
#
#   . "$ROOT/bin/_lib.sh"   # ROOT: the repository; set by the caller

LOG_TAG="${LOG_TAG:-spaces}"
LOG_COLOR="${LOG_COLOR:-34}"

log() { printf '\033[1;%sm[%s]\033[0m %s\n' "$LOG_COLOR" "$LOG_TAG" "$*" >&2; }
die() { printf '\033[1;31m[%s] %s\033[0m\n' "$LOG_TAG" "$*" >&2; exit 1; }

as_root() {  # as_root <command...>: run as root (sudo when not root already)
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {  # apt_install <Debian package...>: install them (apt-get update once per script run)
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    as_root apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  log "installing $* (Debian packages)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() {  # wait_for <what> <seconds> <command...>: retry every 0.1 s until it succeeds, else die
  local what="$1" secs="$2"; shift 2
  local i
  for ((i = 0; i < secs * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "$what did not become ready in ${secs}s${WAIT_HINT:+ ($WAIT_HINT)}"
}

stop_pid() {  # stop_pid <name> <pid>: TERM, wait until it has exited (KILL after 10 s)
  # Waiting matters: a Redis told to stop still answers PING for a moment, and an "up" right after a
  # "down" would take that for a running server and start nothing.
  local name="$1" pid="$2" i
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "$name stopped"
  fi
}

stop_pidfile() {  # stop_pidfile <name> <pidfile>: stop_pid on the pid it holds, then remove it
  local name="$1" pidfile="$2"
  [ -f "$pidfile" ] || return 0
  stop_pid "$name" "$(cat "$pidfile")"
  rm -f "$pidfile"
}

port_free() {  # port_free <port>: true if nothing listens on 127.0.0.1:<port> (TCP)
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

ensure_venv() {  # ensure_venv <requirements file>: make .venv and install the pinned requirements into it
  local req="$1" stamp
  if [ ! -x "$ROOT/.venv/bin/python" ]; then
    log "creating virtualenv .venv"
    local py=python3
    command -v python3.11 >/dev/null && py=python3.11
    "$py" -m venv "$ROOT/.venv" || { command -v apt-get >/dev/null && apt_install python3-venv && "$py" -m venv "$ROOT/.venv"; }
  fi
  stamp="$ROOT/.venv/.installed-$(cat "$ROOT/requirements.txt" "$ROOT/$req" | sha1sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    log "installing Python packages from $req"
    "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check -r "$ROOT/$req"
    touch "$stamp"
  fi
}
