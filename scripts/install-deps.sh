#!/usr/bin/env bash
# Installs the Debian bookworm packages that loom's build, tests and benchmarks need. Safe to run
# again and again: when every package is already installed it does nothing, without touching the
# network, so scripts/test.sh can call it on every run (also offline).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libcaf-dev libfmt-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libhwloc-dev libopenblas-dev
  libzmq3-dev cppzmq-dev capnproto libcapnp-dev
  libboost-test-dev
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libpng-dev libssl-dev ffmpeg
  gstreamer1.0-tools gstreamer1.0-plugins-base
  python3
  iproute2    # tests/test_multinode.cpp puts nodes in network namespaces
)

# One dpkg-query for all of them; packages it has never heard of are simply absent from its output.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)
missing=()
for package in "${packages[@]}"; do
  grep -qxF "$package installed" <<<"$installed" || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps.sh: missing packages: ${missing[*]}" >&2
  echo "install-deps.sh: run this script as root or install sudo, or install them yourself" >&2
  exit 1
fi

echo "install-deps.sh: installing ${missing[*]}" >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  "${missing[@]}"
