#!/usr/bin/env bash
# Builds pyk for any x86_64 Linux with glibc ≥ 2.17 (manylinux2014), once, into OUT (default
# dist/release): a plain `pyk` binary and a `bin` wheel (`pip install pyk-….whl`, `uv tool
# install`) holding the same binary. zig links against glibc 2.17's symbol versions (maturin
# --zig for pyk; build.rs uses cargo-zigbuild for the launcher); auditwheel then checks the
# wheel against the manylinux2014 policy. The tools are pinned, in a venv of their own.
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
rm -f "$out"/pyk-*.whl "$out/pyk"
maturin build --locked --release --strip --zig --target "$target" \
  --compatibility manylinux2014 --auditwheel check --out "$out"
cp "$target_dir/$target/release/pyk" "$out/pyk"
wheel=$(ls "$out"/pyk-*.whl)
# pypa's own check too: the highest policy the wheel meets must include manylinux_2_17.
auditwheel show "$wheel" | tee "$out/auditwheel.txt" | tr -s ' \n' ' ' |
  grep -q 'consistent with the following platform tag: "manylinux_2_17_x86_64"' || {
  echo "release: $wheel does not meet manylinux2014:" >&2
  cat "$out/auditwheel.txt" >&2
  exit 1
}
echo "release: $out/pyk and $wheel"
