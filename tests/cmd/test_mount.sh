#!/usr/bin/env bash
# `hugepage mount` mounts hugetlbfs (creating the directory) with the page size,
# owner and mode asked for, `mount --list` and `status` show it, and a mount
# that fails leaves no directory behind. Everything happens in a temporary
# directory and is unmounted by a trap.
. "$(dirname "$0")/lib.sh"
need_root
grep -qw hugetlbfs /proc/filesystems || skip "no hugetlbfs in this kernel"

# mountinfo line of the mount on $1 (empty when none)
mountinfo_of() { awk -v d="$1" '$5 == d && / - hugetlbfs /' /proc/self/mountinfo; }

dir=$tmp/mnt/hp2m
cleanups+=("umount '$dir' 2>/dev/null")
expect 0 "$HP" mount "$dir" --pagesize 2M --uid nobody --gid nogroup --mode 1770
line=$(mountinfo_of "$dir")
[ -n "$line" ] || fail "no hugetlbfs mount on $dir after hugepage mount"
contains "$line" "pagesize=2M" "the mount's page size"
contains "$line" "mode=1770" "the mount's mode"
contains "$line" "uid=65534" "the mount's owner"
[ "$(stat -c '%a %U %G' "$dir")" = "1770 nobody nogroup" ] ||
    fail "mount root is $(stat -c '%a %U %G' "$dir"), expected 1770 nobody nogroup"
contains "$out" "mounted hugetlbfs on $dir" "mount reports what it did"

# mounting it again is not an error
expect 0 "$HP" mount "$dir" --pagesize 2M
contains "$out" "already" "mounting again says it is mounted"

# the mount is listed, by mount --list and by status --json
expect 0 "$HP" mount --list
contains "$out" "$dir	pagesize=2 MiB uid=65534 gid=65534 mode=1770" "mount --list"
expect 0 "$HP" status --json
printf '%s' "$out" | python3 -c '
import json, sys
d = sys.argv[1]
m = [m for m in json.load(sys.stdin)["mounts"] if m["path"] == d]
assert len(m) == 1, "status --json does not list %s" % d
m = m[0]
assert (m["page_size"], m["owner"], m["group"], m["mode"]) == (2 << 20, "nobody", "nogroup", "1770"), m
' "$dir" || fail "status --json does not show the mount as made"
umount "$dir" || fail "umount $dir"

# a 1 GiB mount where the kernel has 1 GiB pages
if [ -d /sys/kernel/mm/hugepages/hugepages-1048576kB ]; then
    dir1g=$tmp/hp1g
    cleanups+=("umount '$dir1g' 2>/dev/null")
    expect 0 "$HP" mount "$dir1g" --pagesize 1G
    contains "$(mountinfo_of "$dir1g")" "pagesize=1024M" "a 1 GiB mount"
    umount "$dir1g" || fail "umount $dir1g"
fi

# a mount that fails (not root) removes the directories it created
chmod 0777 "$tmp"
expect_error 1 as_nobody "$HP" mount "$tmp/new/dir"
contains "$err" "sudo hugepage mount" "the permission error gives the command to run as root"
[ ! -e "$tmp/new" ] || fail "a failed mount left $tmp/new behind"
finish
