#!/bin/sh
# The godwit demo: boot a memtouch guest (1 GiB, 2 vCPUs), show its
# progress, pause and resume it through the control socket, then live-
# migrate it to a second godwit-vmm while it runs, and let it verify every
# page of its memory on the destination.  (Later stages put the two VMMs
# on two hosts, driven by agents.)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
VMM="$BUILD/src/godwit-vmm"
CTL="/usr/bin/python3 scripts/vmmctl.py"
PORT=${GODWIT_DEMO_PORT:-47811}

work=$(mktemp -d /tmp/godwit-demo.XXXXXX)
src_pid=""
dst_pid=""
cleanup() {
    for pid in $src_pid $dst_pid; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

show() {    # show FILE PREFIX PID: stream a console until its VMM exits
    tail -n +1 -F --pid="$3" "$1" 2>/dev/null | sed -u "s/^/  $2| /" &
}

echo "== godwit demo: memtouch on 1 GiB with 2 vCPUs, live-migrated while it runs =="
"$VMM" --kernel "$BUILD/guest/memtouch.elf" --memory 1G --vcpus 2 \
    --cmdline "rate=25000 verify=16" --control "$work/src.sock" --console "$work/src.log" \
    2>"$work/src.err" &
src_pid=$!
show "$work/src.log" "source" $src_pid
tail -n +1 -F --pid=$src_pid "$work/src.err" 2>/dev/null | grep --line-buffered -o "migration=out.*" |
    sed -u "s/^/  source vmm| /" &
"$VMM" --incoming "tcp:127.0.0.1:$PORT" --memory 1G --vcpus 2 \
    --control "$work/dst.sock" --console "$work/dst.log" 2>"$work/dst.err" &
dst_pid=$!
show "$work/dst.log" "destination" $dst_pid

sleep 3
echo "-- pausing the source VM for 2 s (its counters must stop)"
$CTL "$work/src.sock" pause >/dev/null
sleep 2
echo "-- resuming"
$CTL "$work/src.sock" resume >/dev/null
sleep 2
echo "-- live migration to tcp:127.0.0.1:$PORT while the guest writes 25,000 pages/s"
$CTL "$work/src.sock" migrate "{\"uri\": \"tcp:127.0.0.1:$PORT\"}" >/dev/null

set +e
wait "$src_pid"; src_code=$?; src_pid=""
wait "$dst_pid"; dst_code=$?; dst_pid=""
set -e
sleep 0.3

echo
echo "== report =="
summary=$(grep -o "migration=out completed.*" "$work/src.err" || grep -o "migration=out .*" "$work/src.err" | tail -1)
echo "  migration:        ${summary:-none (see $work/src.err)}"
grep -o "memory digest verified.*" "$work/dst.err" | sed 's/^/  destination:      /' || true
verdict=$(grep -o "memtouch: verify [A-Z]*.*" "$work/dst.log" || echo "no verdict")
echo "  guest on destination: $verdict (exit code $dst_code)"
echo "  source VMM exit code: $src_code (0 = the VM migrated away)"
[ "$src_code" -eq 0 ] && [ "$dst_code" -eq 0 ]
