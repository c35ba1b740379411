# shellcheck shell=bash
# Shared bootstrap for scripts/test and scripts/run (sourced, not executed).
#
# Makes sure that:
#   * .venv exists (python3 -m venv, Python >= 3.11),
#   * the project is installed in it, editable, with its test extra
#     (skipped when pyproject.toml has not changed since the last install: stamp in .venv),
#   * optional system packages are present (only as root, only when missing, via apt; never fatal).
# and puts .venv/bin first on PATH.
#
# Progress goes to stderr so that stdout stays clean for the command that follows.

RT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RT_VENV="$RT_ROOT/.venv"
RT_STAMP="$RT_VENV/.realtime-install-stamp"
RT_APT_FAILED="$RT_VENV/.realtime-apt-failed"

# Optional system packages: "proof:apt-package", where proof is a command on PATH or, when it
# starts with "/", a file that exists.
RT_SYSTEM_PACKAGES=(
    "dot:graphviz" # SVG diagrams (Mermaid files are written without it)
    # Voice (docs/voice.md): PortAudio for sounddevice, and a PulseAudio server with null
    # devices for the tests that hear real audio (tests/sdk/conftest.py starts it).
    "/usr/lib/x86_64-linux-gnu/libportaudio.so.2:libportaudio2"
    "pulseaudio:pulseaudio"
    "pactl:pulseaudio-utils"
    "/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so:libasound2-plugins"
    # Webhooks (docs/webhooks.md): the tests share one Redis between two receiver processes.
    "redis-server:redis-server"
    # The inspector's browser tests (docs/inspector.md): Debian's headless Chromium, driven by
    # playwright with executable_path (playwright never downloads a browser here).
    "/usr/lib/chromium/chromium:chromium"
)

rt_log() { printf '[bootstrap] %s\n' "$*" >&2; }

rt_die() {
    printf '[bootstrap] error: %s\n' "$*" >&2
    exit 1
}

rt_is_root() { [ "$(id -u)" -eq 0 ]; }

# Print the first interpreter that is Python >= 3.11 ($PYTHON wins when set).
rt_find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

RT_APT_UPDATED=0

# rt_apt_install PACKAGE... : quiet, best effort; returns non-zero when it did not work.
rt_apt_install() {
    rt_is_root || return 1
    command -v apt-get >/dev/null 2>&1 || return 1
    if [ "$RT_APT_UPDATED" -eq 0 ]; then
        RT_APT_UPDATED=1
        rt_log "apt-get update"
        # A failed update is not fatal: the cached package lists may still do.
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
    fi
    rt_log "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

rt_make_venv() {
    local python
    python="$(rt_find_python)" || rt_die "Python >= 3.11 is required (set PYTHON=/path/to/python3.11)."
    rt_log "creating .venv with $python ($("$python" -c 'import sys; print(sys.version.split()[0])'))"
    if "$python" -m venv "$RT_VENV" >/dev/null 2>&1; then
        return 0
    fi
    # Debian/Ubuntu ship the venv module (ensurepip) in a separate package.
    rm -rf "$RT_VENV"
    local minor
    minor="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    rt_apt_install "python${minor}-venv" || rt_apt_install python3-venv || true
    "$python" -m venv "$RT_VENV" || {
        rm -rf "$RT_VENV"
        rt_die "'$python -m venv' failed; install the venv module (apt-get install python3-venv)."
    }
}

# What the stamp records: the pyproject.toml it was installed from, the interpreter, the place.
rt_install_key() {
    "$RT_VENV/bin/python" - "$RT_ROOT" <<'PY'
import hashlib, pathlib, sys
root = pathlib.Path(sys.argv[1])
digest = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()
print(f"{digest} python{sys.version_info[0]}.{sys.version_info[1]} {root}")
PY
}

rt_install_project() {
    local key
    key="$(rt_install_key)"
    if [ -f "$RT_STAMP" ] && [ "$(cat "$RT_STAMP")" = "$key" ]; then
        return 0
    fi
    rt_log "pip install -e '.[test]'"
    rm -f "$RT_STAMP"
    (cd "$RT_ROOT" && "$RT_VENV/bin/python" -m pip install --disable-pip-version-check -q -e '.[test]') >&2 ||
        rt_die "pip install -e '.[test]' failed (see above)."
    printf '%s\n' "$key" >"$RT_STAMP"
}

# rt_have PROOF : a command on PATH, or (PROOF starting with "/") an existing file; a library
# path also counts when ldconfig knows the library (other architectures).
rt_have() {
    case "$1" in
    /*)
        [ -e "$1" ] && return 0
        case "$1" in
        *.so*) ldconfig -p 2>/dev/null | grep -q "$(basename "$1")" ;;
        *) return 1 ;;
        esac
        ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

rt_system_packages() {
    rt_is_root || return 0
    [ -e "$RT_APT_FAILED" ] && return 0 # tried before and failed: do not slow every run down
    local entry missing=()
    for entry in "${RT_SYSTEM_PACKAGES[@]}"; do
        rt_have "${entry%%:*}" || missing+=("${entry#*:}")
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    if ! rt_apt_install "${missing[@]}"; then
        printf '%s\n' "${missing[*]}" >"$RT_APT_FAILED"
        rt_log "could not install ${missing[*]} (optional; delete .venv/$(basename "$RT_APT_FAILED") to retry)"
    fi
}

rt_bootstrap() {
    if [ -x "$RT_VENV/bin/python" ] && ! "$RT_VENV/bin/python" -c '' >/dev/null 2>&1; then
        rt_log ".venv is broken (its interpreter does not run); recreating it"
        rm -rf "$RT_VENV"
    fi
    [ -x "$RT_VENV/bin/python" ] || rt_make_venv
    rt_install_project
    rt_system_packages
    export VIRTUAL_ENV="$RT_VENV"
    export PATH="$RT_VENV/bin:$PATH"
    unset PYTHONHOME
}
