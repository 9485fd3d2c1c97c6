#!/usr/bin/env bash
# The repository on S3, measured on this machine (loopback only, every run bounded):
#  - a 100 MiB blob up and down through `pyk serve --store s3://…` against the same
#    bytes sent to and fetched from SeaweedFS directly (curl, SigV4), interleaved, medians
#    of five: the goal is ≥ 0.8×;
#  - update checks per second (304s, wrk, 10 s) against one server, then two servers
#    on the same bucket at once;
#  - `pyk hello` (update check + exec) through a server and serverless, beside the
#    cached artifact run directly (hyperfine).
# Usage: scripts/bench-s3.sh   (needs scripts/setup.sh's SeaweedFS, hyperfine, wrk, curl)
set -euo pipefail
cd "$(dirname "$0")/.."
weed=${PYK_TEST_WEED:-/opt/pyk-tests/seaweedfs-4.48/bin/weed}
for tool in hyperfine wrk curl; do
  command -v $tool >/dev/null || { echo "bench-s3: needs $tool (apt-get install $tool)" >&2; exit 1; }
done
[ -x "$weed" ] || { echo "bench-s3: no SeaweedFS at $weed (scripts/setup.sh installs it)" >&2; exit 1; }
cargo build --release --quiet
pyk=$PWD/target/release/pyk
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

read -r -a ports < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(13)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
export AWS_ENDPOINT_URL=http://127.0.0.1:${ports[0]}
mkdir -p "$work/weed"
"$weed" mini -dir="$work/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
  -s3.port="${ports[0]}" -s3.port.grpc="${ports[1]}" -master.port="${ports[2]}" \
  -master.port.grpc="${ports[3]}" -volume.port="${ports[4]}" -volume.port.grpc="${ports[5]}" \
  -filer.port="${ports[6]}" -filer.port.grpc="${ports[7]}" -admin.port="${ports[8]}" \
  -admin.port.grpc="${ports[9]}" -admin.ui=false -webdav=false -s3.port.iceberg=0 \
  -s3.port.lance=0 -bucket=pyk >"$work/weed.log" 2>&1 &
pids+=($!)
s3get() { curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$@"; }
for _ in $(seq 300); do s3get "$AWS_ENDPOINT_URL/pyk/?list-type=2" >/dev/null && break; sleep 0.1; done

export PYK_KEY=bench-secret PYK_CACHE_DIR=$work/cache
# A signing publisher, and runners that trust its key: every run checks the signatures.
"$pyk" keygen --signing -o "$work/signing.key" >"$work/public" 2>/dev/null
export PYK_SIGNING_KEY=$work/signing.key
echo "trusted = [\"$(cat "$work/public")\"]" >"$work/trusted.toml"
export PYK_CONFIG=$work/trusted.toml
serve() { # serve PORT: a server on the shared bucket
  "$pyk" serve --host 127.0.0.1 --port "$1" --store s3://pyk/bench 2>"$work/serve-$1.log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q serving "$work/serve-$1.log" 2>/dev/null && return; sleep 0.1; done
}
serve "${ports[10]}"
serve "${ports[11]}"
a=http://127.0.0.1:${ports[10]} b=http://127.0.0.1:${ports[11]}

# Throughput: one 100 MiB blob. Upload through A (curl PUT of the encrypted bytes, which
# the server decrypts and verifies as they stream into a multipart upload) against the
# same bytes PUT to S3 directly; download through A against a direct GET.
head -c $((100 << 20)) /dev/urandom >"$work/big"
PYK_SERVER=$a "$pyk" -q push big 1 "$work/big"
sha=$(sha256sum "$work/big" | cut -d' ' -f1)
s3get -o "$work/big.enc" "$AWS_ENDPOINT_URL/pyk/bench/blobs/$sha"
rate() { python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) / 1048576))" "$1"; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
# Five rounds, each through the server then directly (interleaved, so a busy moment of
# the machine hits both): medians, in bytes/s.
path=/v1/blobs/$sha
: >"$work/up.s" >"$work/up.d" >"$work/down.s" >"$work/down.d"
for _ in 1 2 3 4 5; do
  curl -sf -o /dev/null -w '%{speed_upload}\n' -X PUT -T "$work/big.enc" \
    -H "Authorization: $("$pyk" sign PUT "$path")" "$a$path" >>"$work/up.s"
  s3get -o /dev/null -w '%{speed_upload}\n' -T "$work/big.enc" "$AWS_ENDPOINT_URL/pyk/bench/direct-$sha" >>"$work/up.d"
  curl -sf -o /dev/null -w '%{speed_download}\n' -H "Authorization: $("$pyk" sign GET "$path")" "$a$path" >>"$work/down.s"
  s3get -o /dev/null -w '%{speed_download}\n' "$AWS_ENDPOINT_URL/pyk/bench/blobs/$sha" >>"$work/down.d"
done
up_server=$(median <"$work/up.s") up_direct=$(median <"$work/up.d")
down_server=$(median <"$work/down.s") down_direct=$(median <"$work/down.d")

# Update checks: 304s for the published hello, one server, then both at once.
PYK_SERVER=$a "$pyk" -q runtime import /usr/bin/python3.11 >/dev/null
PYK_SERVER=$a "$pyk" -q publish examples/hello -o "$work/hello" >/dev/null
PYK_SERVER=$a "$pyk" hello >/dev/null
mpath=/v1/packages/run/hello
etag=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print("\"%s.%s\"" % (m["artifact_sha256"], m["version"]))' "$PYK_CACHE_DIR/packages-v1/run/hello.json")
# A token opens one request: each load gets tokens of its own, more than 10 s can use,
# made before the clock starts (scripts/tokens.lua hands them out).
"$pyk" sign GET "$mpath" --count 800000 >"$work/tokens.one"
"$pyk" sign GET "$mpath" --count 500000 >"$work/tokens.a"
"$pyk" sign GET "$mpath" --count 500000 >"$work/tokens.b"
# The same load generator either way: 64 connections in all.
load() { # load URL THREADS CONNECTIONS TOKENS
  wrk -t"$2" -c"$3" -d10s -s scripts/tokens.lua -H "If-None-Match: $etag" "$1$mpath" -- "$4" "$2" >"$4.wrk"
  ! grep -q Non-2xx "$4.wrk" || { echo "bench-s3: refusals under load:" >&2; cat "$4.wrk" >&2; exit 1; }
  awk '/Requests\/sec/ {print $2}' "$4.wrk"
}
one=$(load "$a" 2 64 "$work/tokens.one")
load "$a" 1 32 "$work/tokens.a" >"$work/a.rps" & la=$!
load "$b" 1 32 "$work/tokens.b" >"$work/b.rps" & lb=$!
wait $la $lb
two=$(python3 -c "print('%.0f' % (float(open('$work/a.rps').read()) + float(open('$work/b.rps').read())))")

# `pyk hello`: through server A, serverless, and the cached artifact itself.
art=$work/hello
PYK_SERVER=s3://pyk/bench "$pyk" hello >/dev/null
hyperfine -N --warmup 5 --runs 50 --export-json "$work/run.json" "$art" \
  "env PYK_SERVER=$a $pyk hello" "env PYK_SERVER=s3://pyk/bench $pyk hello" >/dev/null
read -r direct viaserver serverless < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(*["%.5f" % x["median"] for x in r])' "$work/run.json")
ms() { python3 -c "import sys; print('%.1f ms' % (float(sys.argv[1]) * 1000))" "$1"; }
ratio() { python3 -c "import sys; print('%.2f×' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
cat <<TABLE
| measure ($(nproc) cores, loopback, SeaweedFS 4.48; load average $(cut -d' ' -f1 /proc/loadavg)) | through pyk serve | direct S3 | ratio |
| --- | --- | --- | --- |
| upload, 100 MiB blob (median of 5) | $(rate "$up_server") MiB/s | $(rate "$up_direct") MiB/s | $(ratio "$up_server" "$up_direct") |
| download, 100 MiB blob (median of 5) | $(rate "$down_server") MiB/s | $(rate "$down_direct") MiB/s | $(ratio "$down_server" "$down_direct") |

| update checks (304s), wrk, 64 connections, 10 s | req/s |
| --- | --- |
| one server | $(printf '%.0f' "$one") |
| two servers on one bucket, 32 connections each | $two |

| \`pyk hello\`, hyperfine medians | time | overhead over the artifact |
| --- | --- | --- |
| cached artifact run directly | $(ms "$direct") | |
| through a server on the bucket | $(ms "$viaserver") | $(ms "$(python3 -c "print($viaserver - $direct)")") |
| serverless, from the bucket | $(ms "$serverless") | $(ms "$(python3 -c "print($serverless - $direct)")") |
TABLE
