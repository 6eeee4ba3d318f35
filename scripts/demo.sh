#!/bin/sh
# The godwit demo, stage one: boot a memtouch guest (1 GiB, 2 vCPUs),
# show its progress, pause and resume it through the control socket, and
# let it verify every page of its memory.  (Later stages turn this into a
# live migration between two hosts.)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
VMM="$BUILD/src/godwit-vmm"
CTL="/usr/bin/python3 scripts/vmmctl.py"

work=$(mktemp -d /tmp/godwit-demo.XXXXXX)
vmm_pid=""
cleanup() {
    [ -n "$vmm_pid" ] && kill "$vmm_pid" 2>/dev/null && wait "$vmm_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== godwit demo: one VM, memtouch on 1 GiB with 2 vCPUs =="
start=$(date +%s.%N)
"$VMM" --kernel "$BUILD/guest/memtouch.elf" --memory 1G --vcpus 2 \
    --cmdline "verify=8" --control "$work/vm.sock" --console "$work/console.log" \
    --log-level warn &
vmm_pid=$!
tail -n +1 -F --pid=$vmm_pid "$work/console.log" 2>/dev/null | sed -u 's/^/  guest| /' &

sleep 4
echo "-- pausing the VM for 2 s (its counters must stop)"
$CTL "$work/vm.sock" pause
sleep 2
$CTL "$work/vm.sock" status
echo "-- resuming"
$CTL "$work/vm.sock" resume

set +e
wait "$vmm_pid"
code=$?
set -e
vmm_pid=""
sleep 0.2
end=$(date +%s.%N)
echo
echo "== report =="
grep -q "memtouch: verify OK" "$work/console.log" && verdict="verify OK" || verdict="verify FAILED"
printf '  guest exit code: %s\n  memory check:    %s (%s)\n  wall time:       %.1f s\n' \
    "$code" "$verdict" "$(grep -o 'verify [A-Z]* [0-9]* pages\|verify FAILED.*' "$work/console.log")" \
    "$(awk "BEGIN { print $end - $start }")"
exit "$code"
