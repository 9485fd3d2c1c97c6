#!/usr/bin/env bash
# The launcher's glibc floor, measured: warm start and size of the hello app with the
# launcher linked natively (before), with zig for glibc 2.17 (now) and statically (the
# option not taken), interleaved; then `pyk foo` (a Debian 11 runtime, through `pyk serve`
# on 127.0.0.1) in the Debian 11 root against the same on this machine.
# Needs root, scripts/setup.sh's Debian 11 root and release build (PYK= another pyk).
# ROUNDS=N interleaved rounds (60).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
pyk=${PYK:-/opt/pyk-tests/release/pyk}
root=/opt/pyk-tests/bullseye
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
server=
# The launcher as build.rs builds it, without zig: linked natively, and statically.
for kind in native static; do
  flags=-Crelocation-model=static
  [ $kind = static ] && flags="$flags -Ctarget-feature=+crt-static"
  RUSTFLAGS=$flags cargo build --locked --quiet -p pyk-stub --profile stub \
    --target x86_64-unknown-linux-gnu --target-dir "$target/bench-floor-$kind"
done
# zstd 3: the layers unpack once; the warm starts measured here do not read them.
export PYK_CACHE_DIR=$work/build-cache SOURCE_DATE_EPOCH=1700000000 PYK_ZSTD_LEVEL=3
mkdir -p "$work/hello" "$work/bench39"
printf 'name = "hello"\nrun = "hello.py"\n' > "$work/hello/pyk.toml"
echo 'print("hello")' > "$work/hello/hello.py"
"$pyk" -q runtime import /usr/bin/python3.11
(cd "$work/hello" && "$pyk" -q build --python 3.11)
cp "$pyk" "$work/pyk"
# A repository, and a program built with Debian 11's python3.9 (imported in the root).
export PYK_KEY=bench
"$pyk" serve --host 127.0.0.1 --port 0 "$work/repo" 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do grep -q 'http://' "$work/serve.log" && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1)
printf 'name = "bench39"\nrun = "hello.py"\n' > "$work/bench39/pyk.toml"
echo 'print("hello")' > "$work/bench39/hello.py"
unshare -m --fork sh -c "set -e
  mount --bind '$work' '$root/mnt'; mount -t proc proc '$root/proc'
  env -i PATH=/usr/bin:/bin PYK_CACHE_DIR=/mnt/build-cache /usr/sbin/chroot '$root' /mnt/pyk -q runtime import /usr/bin/python3
  (cd '$work/bench39' && PYK_SERVER=$url '$pyk' -q publish --python 3.9)
  python3 scripts/bench/floor.py '$work' '$work/hello/dist/hello' \
    '$target/bench-floor-native/x86_64-unknown-linux-gnu/stub/pyk-stub' \
    '$target/bench-floor-static/x86_64-unknown-linux-gnu/stub/pyk-stub' '$work/pyk' '$root' '$url'"
