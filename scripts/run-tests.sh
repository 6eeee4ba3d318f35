#!/bin/sh
# Builds godwit with warnings as errors and runs every test suite: the C
# unit tests (meson test --suite unit) and the system tests under real KVM
# (pytest tests/system).  Ends with one line: "N passed, N failed, N skipped".
#
# Environment: BUILD (build directory, default ./build),
#              PYTEST_ARGS (extra pytest arguments, e.g. "-k pause").
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}

if [ -d "$BUILD" ]; then
    meson configure "$BUILD" -Dwerror=true >/dev/null
else
    meson setup "$BUILD" --werror >/dev/null
fi || exit 1
ninja -C "$BUILD" || exit 1

rm -f "$BUILD/meson-logs/testlog.json" "$BUILD/system-junit.xml"
meson test -C "$BUILD" --suite unit --print-errorlogs
# shellcheck disable=SC2086
GODWIT_BUILD="$PWD/$BUILD" /usr/bin/python3 -m pytest tests/system -v --timeout 300 \
    --junitxml="$BUILD/system-junit.xml" -p no:cacheprovider ${PYTEST_ARGS:-}
exec /usr/bin/python3 scripts/test_summary.py "$BUILD"
