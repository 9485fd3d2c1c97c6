#!/bin/sh
# Installs pyk from a pyk repository:
#
#   curl -fsSL http://repo:7777/install.sh | sh
#   curl -fsSL http://repo:7777/install.sh | sh -s -- --dir /usr/local/bin
#   wget -qO- http://repo:7777/install.sh | sh
#
# Options: --dir DIR (or PYK_INSTALL_DIR; default ~/.local/bin), --server URL (default:
# the repository this script came from), --no-config (do not write the client config).
# The binary is checked against the sha256 the repository serves beside it. The install
# needs no key; the client config gets the server's address, never a key.
set -eu

server='@SERVER@'
dir="${PYK_INSTALL_DIR:-${HOME:-}/.local/bin}"
config=yes

fail() {
    echo "pyk install: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
    --dir) [ $# -ge 2 ] || fail "--dir needs a directory"; dir=$2; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    --server) [ $# -ge 2 ] || fail "--server needs a URL"; server=$2; shift 2 ;;
    --server=*) server=${1#--server=}; shift ;;
    --no-config) config=no; shift ;;
    *) fail "unknown option $1 (options: --dir DIR, --server URL, --no-config)" ;;
    esac
done
server=${server%/}
[ -n "$server" ] || fail "which repository? run with --server http://HOST:7777"
[ -n "$dir" ] || fail "no HOME: run with --dir DIR"

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t pyk-install)
trap 'rm -rf "$tmp"' EXIT INT TERM

os=$(uname -s | tr '[:upper:]' '[:lower:]')
arch=$(uname -m)
case "$arch" in
amd64) arch=x86_64 ;;
arm64) arch=aarch64 ;;
esac
platform="$os-$arch"

if command -v curl >/dev/null 2>&1; then
    fetch() { curl -fsSL --retry 2 -o "$2" "$1" 2>"$tmp/why"; }
elif command -v wget >/dev/null 2>&1; then
    fetch() { wget -q -O "$2" "$1" 2>"$tmp/why"; }
else
    fail "needs curl or wget"
fi
if command -v sha256sum >/dev/null 2>&1; then
    sha256() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
    sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
    fail "needs sha256sum or shasum to check the download"
fi

# What the last failed fetch said, as " (…)".
why() { [ -s "$tmp/why" ] && printf ' (%s)' "$(tail -n 1 "$tmp/why")"; }

fetch "$server/pyk/" "$tmp/platforms" || fail "cannot reach $server: is pyk serve running there?$(why)"
grep -qx "$platform" "$tmp/platforms" ||
    fail "unsupported platform $platform: $server has pyk for $(tr '\n' ' ' <"$tmp/platforms")"
fetch "$server/pyk/$platform.sha256" "$tmp/sha256" || fail "cannot fetch $server/pyk/$platform.sha256$(why)"
fetch "$server/pyk/$platform" "$tmp/pyk" || fail "cannot fetch $server/pyk/$platform$(why)"
want=$(cut -d' ' -f1 "$tmp/sha256")
got=$(sha256 "$tmp/pyk")
[ "$got" = "$want" ] || fail "refusing the download: its sha256 is $got, the repository says $want"
chmod 755 "$tmp/pyk"
"$tmp/pyk" --version >/dev/null 2>"$tmp/err" ||
    fail "the downloaded pyk does not run on this machine: $(head -n 1 "$tmp/err")"

mkdir -p "$dir" || fail "cannot create $dir"
# Copied beside the target, then renamed: a running pyk is never overwritten in place.
cp "$tmp/pyk" "$dir/.pyk.install.$$" 2>/dev/null || fail "cannot write to $dir (try --dir DIR)"
mv -f "$dir/.pyk.install.$$" "$dir/pyk" || { rm -f "$dir/.pyk.install.$$"; fail "cannot write $dir/pyk"; }
echo "pyk: installed $dir/pyk ($("$dir/pyk" --version 2>/dev/null | head -n 1), $platform, sha256 $got)"

if [ "$config" = yes ]; then
    cdir="${XDG_CONFIG_HOME:-${HOME:-}/.config}/pyk"
    cfile="$cdir/config.toml"
    if [ -f "$cfile" ] && grep -Eiq '^[[:space:]]*(server|host)[[:space:]]*=' "$cfile"; then
        echo "pyk: $cfile already names a server; left as it is"
    else
        mkdir -p "$cdir" || fail "cannot create $cdir"
        printf 'server = "%s"\n' "$server" >>"$cfile" || fail "cannot write $cfile"
        echo "pyk: wrote server = \"$server\" to $cfile"
    fi
    echo "pyk: the install needed no key, but reading the repository does: add KEY = \"...\" to $cfile (or set PYK_KEY); ask the repository's administrator for it"
fi
case ":${PATH:-}:" in
*":$dir:"*) ;;
*) echo "pyk: $dir is not on PATH: add it (export PATH=\"$dir:\$PATH\"), or run $dir/pyk" ;;
esac
