#!/bin/sh
# The godwit demo: two hosts, a VM under load and under traffic, a live
# migration there and back, a report.
#
# host-a, host-b and a client host, host-c, are network namespaces on this
# machine, each with one leg on an underlay bridge (10.77.0.0/24) and its
# own godwitd.  The agents build each host's bridge and VXLAN overlay; the
# VMs' network is 10.99.0.0/24 on that overlay.  With the godwit CLI, the
# demo creates a VM on host-a running `echo` (answers UDP and ping on
# 10.99.0.11) and memtouch's sweeps (rewriting 5,000 pages a second and
# verifying every page of its memory every 2 s) at once, and migrates it to
# host-b and back while host-c sends it 2,000 UDP requests a second.  At
# the end: each migration's summary, the packets each one lost, the guest's
# own verdicts; everything the demo made is removed.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
GODWITD="$PWD/$BUILD/src/godwitd"
GODWIT="$PWD/$BUILD/src/cli/godwit"
PROBE="$PWD/$BUILD/bench/godwit-probe"
KERNEL="$PWD/$BUILD/guest/echo.elf"
HOSTS="a b c"
RATE=2000

[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (it makes network namespaces)" >&2; exit 1; }
[ -w /dev/kvm ] || { echo "demo: /dev/kvm is not available" >&2; exit 1; }
for ns in godwit-demo-a godwit-demo-b godwit-demo-c godwit-demo-fabric; do
    if ip netns list | grep -qw "$ns"; then
        echo "demo: namespace $ns exists (a demo still running, or left over: ip netns del $ns)" >&2
        exit 1
    fi
done

work=$(mktemp -d /tmp/gwdemo.XXXXXX)
agents=""
cleanup() {
    set +e
    for h in a b; do                # stop the VM wherever it is
        "$GODWIT" --socket "$work/$h.sock" vm stop vm1 >/dev/null 2>&1
    done
    for pid in $agents; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    # VMMs outlive their agents by design: make sure none is left.
    pkill -KILL -f "$work/" 2>/dev/null
    for ns in godwit-demo-a godwit-demo-b godwit-demo-c godwit-demo-fabric; do
        ip netns del $ns 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

step "three hosts: namespaces godwit-demo-a, -b and -c (the client) on an underlay bridge"
ip netns add godwit-demo-fabric
ip -n godwit-demo-fabric link add fabric type bridge
ip -n godwit-demo-fabric link set fabric up
i=1
for h in $HOSTS; do
    ns=godwit-demo-$h
    ip netns add $ns
    ip -n $ns link set lo up
    ip link add under0 netns $ns type veth peer name leg-$h netns godwit-demo-fabric
    ip -n godwit-demo-fabric link set leg-$h master fabric up
    ip -n $ns addr add 10.77.0.$i/24 dev under0
    ip -n $ns link set under0 up
    cat >"$work/$h.ini" <<INI
[host]
name = host-$h
state_dir = $work/$h
api_socket = $work/$h.sock
[cluster]
host-a = 10.77.0.1:7070
host-b = 10.77.0.2:7070
host-c = 10.77.0.3:7070
[network]
bridge = gwbr0
vxlan = gwvx0
INI
    ip netns exec $ns "$GODWITD" --config "$work/$h.ini" 2>"$work/agent-$h.log" &
    agents="$agents $!"
    i=$((i + 1))
done
A="$GODWIT --socket $work/a.sock"
B="$GODWIT --socket $work/b.sock"
for i in $(seq 100); do
    [ -S "$work/a.sock" ] && [ -S "$work/b.sock" ] && [ -S "$work/c.sock" ] && break
    sleep 0.1
done
ip -n godwit-demo-c addr add 10.99.0.1/24 dev gwbr0     # the client's address on the overlay
step "godwit host list (asked on host-a)"
$A host list

step "godwit vm create vm1 on host-a: echo on 10.99.0.11 plus memtouch's sweeps, 2 vCPUs"
$A vm create vm1 --kernel "$KERNEL" --memory 512M --vcpus 2 \
    --mac 52:54:00:99:00:11 --ip 10.99.0.11/24 \
    --cmdline "ip=10.99.0.11/24 mem=256M rate=5000 check=2"
$A vm start vm1
for i in $(seq 100); do         # until the guest answers
    ip netns exec godwit-demo-c "$PROBE" --to 10.99.0.11 --rate 100 --count 10 --wait-ms 200 \
        >/dev/null 2>&1 && break
    sleep 0.1
done
sleep 2
$A vm console vm1 | tail -n 3 | sed 's/^/  host-a console| /'
$A port list | sed 's/^/  /'

# migrate SOURCE-CLI DEST: a live migration while host-c probes the VM.
migrate() {
    ip netns exec godwit-demo-c "$PROBE" --to 10.99.0.11 --rate $RATE --duration 8 \
        >"$work/probe.txt" 2>&1 &
    probe=$!
    sleep 2
    $1 migrate vm1 --to "$2"
    wait $probe || true
    echo "  traffic from host-c, $RATE requests/s during the migration: $(cat "$work/probe.txt")"
}

# Waits until the guest's console on a host shows a self-check that ran there.
wait_check() {
    for i in $(seq 150); do
        if $1 vm console vm1 2>/dev/null | grep -q "memtouch: check"; then
            $1 vm console vm1 | grep "memtouch: check" | tail -n 1 | sed "s/^/  $2 console| /"
            return 0
        fi
        sleep 0.1
    done
    echo "demo: no self-check from the guest on $2" >&2
    return 1
}

step "godwit migrate vm1 --to host-b (while it runs and answers)"
migrate "$A" host-b
wait_check "$B" host-b

step "godwit migrate vm1 --to host-a (and back)"
migrate "$B" host-a
wait_check "$A" host-a

step "report"
echo "migrations, as each source host recorded them:"
$B migration list | sed 's/^/  host-b| /'
$A migration list | sed 's/^/  host-a| /'
$A port list | sed 's/^/  /'
sleep 2
checks_ok=$($A vm console vm1 | grep -c "memtouch: check OK" || true)
failed=$($A vm console vm1 | grep -c "FAILED" || true)
echo "back on host-a, the guest has verified all of its memory $checks_ok time(s) so far;"
echo "failed checks: $failed"
[ "$failed" -eq 0 ]
step "done: removing the VM, the agents and the namespaces"
