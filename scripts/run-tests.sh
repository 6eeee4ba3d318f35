#!/bin/sh
# Builds godwit with warnings as errors and runs every test suite: the C
# unit tests (meson test --suite unit) and the system tests under real KVM
# (pytest tests/system).  Ends with one line: "N passed, N failed, N skipped".
#
# Environment: BUILD (build directory, default ./build),
#              PYTEST_ARGS (extra pytest arguments, e.g. "-k pause"),
#              FUZZ_SECONDS (unset or 0: no fuzzing; N: after the unit
#              tests, build the fuzz targets with clang in $BUILD-fuzz and
#              fuzz the incoming stream for N seconds over a copy of
#              tests/fuzz/corpus; the verdict, "passed" or "failed", goes
#              to $BUILD/fuzz-result.txt, the log to $BUILD/fuzz.log and
#              any crashing input to $BUILD/fuzz-crash-*).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}

# Whether FUZZ_SECONDS asks for fuzzing: set to anything but zeros.
fuzz_wanted() {
    case ${FUZZ_SECONDS:-0} in
        *[!0]*) return 0 ;;
        *) return 1 ;;
    esac
}

# The bounded fuzz run; returns non-zero on a build failure, a crash or a
# contract violation found by the target.
run_fuzz() {
    case $FUZZ_SECONDS in
        *[!0-9]*) echo "FUZZ_SECONDS must be a number of seconds, not '$FUZZ_SECONDS'" >&2
                  return 1 ;;
    esac
    fuzz_build="$BUILD-fuzz"
    if [ -d "$fuzz_build" ]; then
        meson configure "$fuzz_build" -Dfuzz=true -Dwerror=true >/dev/null
    else
        CC=clang meson setup "$fuzz_build" --werror -Dfuzz=true >/dev/null
    fi || return 1
    ninja -C "$fuzz_build" tests/fuzz/fuzz_incoming_stream || return 1
    fuzz_work=$(mktemp -d) || return 1
    cp tests/fuzz/corpus/* "$fuzz_work/"      # libFuzzer adds to its corpus dir
    rm -f "$BUILD"/fuzz-crash-* "$BUILD"/fuzz-leak-* "$BUILD"/fuzz-timeout-* \
        "$BUILD"/fuzz-oom-*
    echo "fuzzing the incoming stream for $FUZZ_SECONDS s (log: $BUILD/fuzz.log)"
    "$fuzz_build/tests/fuzz/fuzz_incoming_stream" -max_total_time="$FUZZ_SECONDS" \
        -max_len=65536 -timeout=30 -print_final_stats=1 -artifact_prefix="$BUILD/fuzz-" \
        "$fuzz_work" >"$BUILD/fuzz.log" 2>&1
    fuzz_rc=$?
    rm -rf "$fuzz_work"
    if [ "$fuzz_rc" -ne 0 ]; then
        tail -n 40 "$BUILD/fuzz.log"
    else
        grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$BUILD/fuzz.log"
    fi
    return "$fuzz_rc"
}

if [ -d "$BUILD" ]; then
    meson configure "$BUILD" -Dwerror=true >/dev/null
else
    meson setup "$BUILD" --werror >/dev/null
fi || exit 1
ninja -C "$BUILD" || exit 1

rm -f "$BUILD/meson-logs/testlog.json" "$BUILD/system-junit.xml" "$BUILD/fuzz-result.txt"
meson test -C "$BUILD" --suite unit --print-errorlogs
if fuzz_wanted; then
    if run_fuzz; then
        echo passed >"$BUILD/fuzz-result.txt"
    else
        echo failed >"$BUILD/fuzz-result.txt"
    fi
fi
# shellcheck disable=SC2086
GODWIT_BUILD="$PWD/$BUILD" /usr/bin/python3 -m pytest tests/system -v --timeout 300 \
    --junitxml="$BUILD/system-junit.xml" -p no:cacheprovider ${PYTEST_ARGS:-}
exec /usr/bin/python3 scripts/test_summary.py "$BUILD"
