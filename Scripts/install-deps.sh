#!/usr/bin/env bash
# Installs what building and testing Hooklog needs on a Debian machine with Swift, when missing:
# liblz4-dev and pkg-config (the CLZ4 system library), python3-venv and kcat (compatibility
# tests with real Kafka clients), and, with --bench, fio (the benchmarks' raw-disk reference).
# Safe to run repeatedly.
set -euo pipefail

need=()
pkg-config --exists liblz4 2>/dev/null || need+=(liblz4-dev pkg-config)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v kcat >/dev/null 2>&1 || need+=(kcat)
if [ "${1:-}" = "--bench" ]; then
  command -v fio >/dev/null 2>&1 || need+=(fio); command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
fi
[ ${#need[@]} -eq 0 ] && exit 0

echo "installing: ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to install ${need[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${need[@]}" >/dev/null
