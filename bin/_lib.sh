# Sourced by bin/run and bin/test: make .venv and install the pinned requirements into it.
# usage: ensure_venv <requirements file>
ensure_venv() {
  local req="$1" stamp
  if [ ! -x "$ROOT/.venv/bin/python" ]; then
    echo "[setup] creating virtualenv .venv" >&2
    local py=python3
    command -v python3.11 >/dev/null && py=python3.11
    "$py" -m venv "$ROOT/.venv" || { command -v apt-get >/dev/null && apt-get install -y -qq python3-venv >/dev/null && "$py" -m venv "$ROOT/.venv"; }
  fi
  stamp="$ROOT/.venv/.installed-$(cat "$ROOT/requirements.txt" "$ROOT/$req" | sha1sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    echo "[setup] installing Python packages from $req" >&2
    "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check -r "$ROOT/$req"
    touch "$stamp"
  fi
}
