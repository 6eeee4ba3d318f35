#!/bin/sh
# Installs every Debian package godwit needs to build, test and run its
# demo.  Used by the README and by CI (.ci/run).  Idempotent.
set -eu

PACKAGES="
  build-essential meson ninja-build pkg-config
  libjansson-dev libcmocka-dev libxxhash-dev libmnl-dev
  libmicrohttpd-dev libcurl4-openssl-dev libinih-dev curl
  clang libclang-rt-14-dev
  python3 python3-pytest python3-pytest-timeout
  iproute2 util-linux iputils-ping
"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi
echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
