#!/usr/bin/env bash
# Runs one cargo-fuzz target for a given time, from the seed corpus in fuzz/corpus/:
#   scripts/fuzz.sh trailer|blob_reader|layer_unpack|token SECONDS
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). New inputs go
# to a scratch corpus under fuzz/target/, so the seeds in the repo stay small; a crash
# is written to fuzz/artifacts/TARGET/ and reproduced with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-…
# CI does not run this.
set -euo pipefail
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
cd "$(dirname "$0")/../fuzz"
scratch=target/corpus/$target
mkdir -p "$scratch"
# Inputs past 1 MiB say nothing the smaller ones do not; the layer unpacker writes
# files, so its inputs stay small and its memory bounded.
max_len=65536
[ "$target" = layer_unpack ] && max_len=16384
exec cargo +nightly fuzz run "$target" "$scratch" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10
