#!/bin/sh
# Installs the Debian 12 packages shunt needs to build, test and run its demo.
# Idempotent: does nothing when everything is present. Needs root for apt-get.
set -eu

PKGS="make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libyaml-dev
node-llhttp libcmocka-dev libpcre2-dev pkg-config iproute2 procps
clang-format cppcheck libssl-dev openssl curl libclang-rt-14-dev libjansson-dev jq
libcurl4-openssl-dev python3 python3-yaml"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run as root (or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
