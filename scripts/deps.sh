#!/usr/bin/env bash
# deps.sh: installs what building and testing hugepage needs, from Debian's
# packages, when it is missing. Safe to run again: it only calls apt-get when a
# package is absent. Usage: scripts/deps.sh [build|test|bench]...
set -euo pipefail

want=(build-essential cmake pkg-config libcmocka-dev clang python3 jq)
for group in "$@"; do
  case "$group" in
    build | test) ;;
    bench) want+=(hyperfine gnuplot-nox libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 libhugetlbfs-bin libhugetlbfs0) ;;
    preload) want+=(sqlite3 perl g++ git redis-server redis-tools) ;;
    *) echo "deps.sh: unknown group '$group' (build, test, bench, preload)" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
