#!/usr/bin/env bash
# Builds the differential fuzz target of the HTTP/1 reader with libFuzzer and AddressSanitizer
# and runs it: Gatehouse's HTTP1.Decoder against llhttp (NIOHTTP1) on the same bytes.
#   Fuzz/run.sh [seconds] [more libFuzzer flags]      (default 60 s; CI runs the default)
#   Fuzz/run.sh 0 -runs=10000000                      (a number of executions instead)
# New interesting inputs go to .build-fuzz/corpus; a finding stops the run with a non-zero
# status and its input in .build-fuzz/crash-*, to replay with
#   .build-fuzz/release/HTTP1Differential .build-fuzz/crash-<hash>
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
swift build -c release --package-path Fuzz --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
mkdir -p .build-fuzz/corpus
# A finding ends in fatalError; Swift's backtracer then reads memory AddressSanitizer calls
# out of bounds, burying the finding under a false report.
export SWIFT_BACKTRACE=enable=no
limit=()
[ "$seconds" -gt 0 ] && limit=(-max_total_time="$seconds")
# The first folder receives what the fuzzer finds; Fuzz/corpus/http1 is the kept corpus.
exec .build-fuzz/release/HTTP1Differential .build-fuzz/corpus Fuzz/corpus/http1 \
    -dict=Fuzz/http1.dict -print_final_stats=1 -artifact_prefix=.build-fuzz/ "${limit[@]}" "$@"
