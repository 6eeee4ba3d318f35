#!/bin/sh
# The godwit demo: two hosts, a VM under load, a live migration there and
# back, a report.
#
# host-a and host-b are network namespaces on this machine, joined by a
# veth pair (10.77.0.1 and 10.77.0.2), each with its own godwitd.  The
# operator's CLI (godwit) creates a memtouch VM on host-a (1 GiB, 2 vCPUs,
# rewriting 25,000 pages a second and verifying every page of its memory
# every 2 seconds), migrates it to host-b while it runs, then back.  At the
# end: each migration's summary, the guest's own verdicts, and everything
# the demo made is removed.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
GODWITD="$PWD/$BUILD/src/godwitd"
GODWIT="$PWD/$BUILD/src/cli/godwit"
KERNEL="$PWD/$BUILD/guest/memtouch.elf"
NS_A=godwit-demo-a
NS_B=godwit-demo-b

[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (it makes network namespaces)" >&2; exit 1; }
[ -w /dev/kvm ] || { echo "demo: /dev/kvm is not available" >&2; exit 1; }
for ns in $NS_A $NS_B; do
    if ip netns list | grep -qw "$ns"; then
        echo "demo: namespace $ns exists (a demo still running, or left over: ip netns del $ns)" >&2
        exit 1
    fi
done

work=$(mktemp -d /tmp/gwdemo.XXXXXX)
agent_a=""
agent_b=""
cleanup() {
    set +e
    for sock in "$work/a.sock" "$work/b.sock"; do     # stop the VM wherever it is
        "$GODWIT" --socket "$sock" vm stop vm1 >/dev/null 2>&1
    done
    for pid in $agent_a $agent_b; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    # VMMs outlive their agents by design: make sure none is left.
    pkill -KILL -f "$work/" 2>/dev/null
    ip netns del $NS_A 2>/dev/null
    ip netns del $NS_B 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

step "two hosts: namespaces $NS_A (10.77.0.1) and $NS_B (10.77.0.2), joined by a veth pair"
ip netns add $NS_A
ip netns add $NS_B
ip link add gwdemo-a netns $NS_A type veth peer name gwdemo-b netns $NS_B
ip -n $NS_A addr add 10.77.0.1/24 dev gwdemo-a
ip -n $NS_B addr add 10.77.0.2/24 dev gwdemo-b
for ns in $NS_A $NS_B; do
    ip -n $ns link set lo up
done
ip -n $NS_A link set gwdemo-a up
ip -n $NS_B link set gwdemo-b up

for h in a b; do
    cat >"$work/$h.ini" <<INI
[host]
name = host-$h
state_dir = $work/$h
api_socket = $work/$h.sock
[cluster]
host-a = 10.77.0.1:7070
host-b = 10.77.0.2:7070
INI
done
ip netns exec $NS_A "$GODWITD" --config "$work/a.ini" 2>"$work/agent-a.log" &
agent_a=$!
ip netns exec $NS_B "$GODWITD" --config "$work/b.ini" 2>"$work/agent-b.log" &
agent_b=$!
A="$GODWIT --socket $work/a.sock"
B="$GODWIT --socket $work/b.sock"
for i in $(seq 100); do
    $A host list >/dev/null 2>&1 && $B host list >/dev/null 2>&1 && break
    sleep 0.1
done
step "godwit host list (asked on host-a)"
$A host list

step "godwit vm create vm1 on host-a: memtouch, 1 GiB, 2 vCPUs, 25,000 pages/s, a self-check every 2 s"
$A vm create vm1 --kernel "$KERNEL" --memory 1G --vcpus 2 --cmdline "rate=25000 check=2"
$A vm start vm1
sleep 5
$A vm console vm1 | tail -n 4 | sed 's/^/  host-a console| /'

# Waits until the guest's console on a host shows a self-check that ran
# there (the console file starts afresh on each host).
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

step "godwit migrate vm1 --to host-b (while it runs)"
$A migrate vm1 --to host-b
wait_check "$B" host-b

step "godwit migrate vm1 --to host-a (and back)"
$B migrate vm1 --to host-a
wait_check "$A" host-a

step "report"
echo "migrations, as each source host recorded them:"
$B migration list | sed 's/^/  host-b| /'
$A migration list | sed 's/^/  host-a| /'
sleep 2
checks_ok=$($A vm console vm1 | grep -c "memtouch: check OK" || true)
failed=$($A vm console vm1 | grep -c "FAILED" || true)
echo "back on host-a, the guest has verified all of its memory $checks_ok time(s) so far;"
echo "failed checks: $failed"
$A vm show vm1 | sed 's/^/  /'
[ "$failed" -eq 0 ]
step "done: removing the VM, the agents and the namespaces"
