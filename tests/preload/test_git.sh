#!/usr/bin/env bash
# Debian's git under `hugepage run`: a repository with 150 commits (fixed
# names and dates, so the same hashes every time), log with diffs, gc
# (pack-objects and friends are children of git, on the library too), fsck:
# every output is the plain run's. And git fast-import, fed 300000 blobs and
# waiting for more, holds its object table on huge pages: >= 75% of its
# anonymous memory (lib.sh's criterion).
. "$(dirname "$0")/lib.sh"
need_prog git git
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
export GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'
export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
cat >"$tmp/history.sh" <<'SH'
set -e
rm -rf "$1" && mkdir "$1" && cd "$1"
git init -q -b main .
for i in $(seq 1 150); do
    seq "$i" $((i * 40)) >"f$((i % 7)).txt"
    printf 'line %s\n' "$i" >>log.txt
    git add -A && git commit -q -m "commit $i"
done
git log --stat --format='%H %s' | head -400
git gc -q --aggressive
git count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
git fsck --no-progress 2>&1
git rev-list --all | wc -l
SH
for mode in "${modes[@]}"; do
    same_run git-$mode "$mode" bash "$tmp/history.sh" "$tmp/repo"
    grep -q "commit 150" "$tmp/git-$mode.plain" || fail "git ($mode) history: $(head -3 "$tmp/git-$mode.plain")"

    rm -rf "$tmp/fi" && git init -q "$tmp/fi"
    start_paused fastimport "$mode" git -C "$tmp/fi" fast-import --quiet
    python3 -c '
import sys
for i in range(300000):
    d = ("blob %d\n" % i) * 3
    sys.stdout.write("blob\nmark :%d\ndata %d\n%s\n" % (i + 1, len(d), d))
print("progress ready")' >&"$paused_fd"
    wait_for "$tmp/fastimport.out" '^progress ready' "$pid" "git fast-import ($mode)"
    coverage "$(pgrep -P "$pid")" "git fast-import --mode $mode"
    resume
done
finish
