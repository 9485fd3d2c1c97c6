#!/usr/bin/env bash
# Prints the README's getting-started commands, in order: every ```sh block that follows
# a `<!-- journey … -->` line. tests/readme.rs runs what this prints, so the README and
# its test cannot drift apart.
set -euo pipefail
readme=${1:-"$(dirname "$0")/../README.md"}
awk '
  /^<!-- journey/ { armed = 1; next }
  armed && /^```sh$/ { inside = 1; armed = 0; next }
  inside && /^```$/ { inside = 0; next }
  inside { print }
' "$readme"
