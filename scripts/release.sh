#!/usr/bin/env bash
# Builds pyk for any x86_64 Linux with glibc ≥ 2.17 (manylinux2014), once, into OUT (default
# dist/release): a plain `pyk` binary and a `bin` wheel (`pip install pyk-….whl`, `uv tool
# install`) holding the same binary. zig links against glibc 2.17's symbol versions (maturin
# --zig for pyk; build.rs uses cargo-zigbuild for the launcher); auditwheel then checks the
# wheel against the manylinux2014 policy. The tools are pinned, in a venv of their own.
#
# Where Debian's rustc has the aarch64 standard library (scripts/setup.sh installs it), the
# same for aarch64 Linux (a Raspberry Pi, Graviton): `pyk-linux-aarch64` and its wheel, for
# `pyk serve --clients OUT` to hand out. Each pyk carries both launchers (build.rs), so either
# builds artifacts for both machines.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-dist/release}")
target=x86_64-unknown-linux-gnu
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
tools=$target_dir/release-tools
if [ ! -x "$tools/bin/auditwheel" ]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check \
    maturin==1.16.0 auditwheel==6.8.2 ziglang==0.17.1 cargo-zigbuild==0.24.1
fi
# maturin finds zig through `python3 -m ziglang`, build.rs finds cargo-zigbuild: both on PATH.
export PATH=$tools/bin:$PATH
mkdir -p "$out"
rm -f "$out"/pyk-*.whl "$out/pyk" "$out/pyk-linux-aarch64"
maturin build --locked --release --strip --zig --target "$target" \
  --compatibility manylinux2014 --auditwheel check --out "$out"
cp "$target_dir/$target/release/pyk" "$out/pyk"
# pypa's own check too: the highest policy the wheel meets must include manylinux_2_17.
check_wheel() { # WHEEL ARCH
  auditwheel show "$1" | tee "$out/auditwheel-$2.txt" | tr -s ' \n' ' ' |
    grep -q "consistent with the following platform tag: \"manylinux_2_17_$2\"" || {
    echo "release: $1 does not meet manylinux2014:" >&2
    cat "$out/auditwheel-$2.txt" >&2
    exit 1
  }
}
check_wheel "$(ls "$out"/pyk-*x86_64.whl)" x86_64
echo "release: $out/pyk and $(ls "$out"/pyk-*x86_64.whl)"

# aarch64: rustup's toolchain has no aarch64 standard library (and cannot download one here),
# Debian's rustc-web has, with libstd-rust-web-dev:arm64; zig links for glibc 2.17 as above.
arm=aarch64-unknown-linux-gnu
arm_std=$(/usr/bin/rustc --print target-libdir --target "$arm" 2>/dev/null || true)
if [ -z "$arm_std" ] || ! ls "$arm_std"/libstd-* >/dev/null 2>&1; then
  echo "release: no aarch64 Rust standard library (Debian: rustc-web libstd-rust-web-dev:arm64, see scripts/setup.sh): x86_64 only" >&2
  exit 0
fi
RUSTC=/usr/bin/rustc maturin build --locked --release --strip --zig --target "$arm" \
  --compatibility manylinux2014 --auditwheel check --out "$out"
cp "$target_dir/$arm/release/pyk" "$out/pyk-linux-aarch64"
check_wheel "$(ls "$out"/pyk-*aarch64.whl)" aarch64
echo "release: $out/pyk-linux-aarch64 and $(ls "$out"/pyk-*aarch64.whl)"
