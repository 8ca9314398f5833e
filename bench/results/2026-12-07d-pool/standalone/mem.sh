#!/usr/bin/env bash
# Standalone node (SQLite), 18,000 idle authenticated sessions: memory per session and CPU per
# login before (/tmp/meerkat-glibc: build of 81c029f, the login path of d562d33) and after the
# pool change (/tmp/meerkat-49c23c2), alternated, REPEATS times each: the allocator trial's script.
cd "$(dirname "$0")/../../../.."
BUILDS="glibc 49c23c2" RUN_DIR=/tmp/pool-mem exec bench/results/2026-12-07c-alloc/mem.sh
