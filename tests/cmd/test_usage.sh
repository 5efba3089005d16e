#!/usr/bin/env bash
# Bad input to every subcommand is one line on stderr and exit 2 (usage) or 1
# (failure); --help and --version print what they should and exit 0.
. "$(dirname "$0")/lib.sh"

# exit 2, one line on stderr, for usage errors of every kind
while IFS= read -r args; do
    # shellcheck disable=SC2086
    expect_error 2 "$HP" $args
done <<'LIST'
frob
--frob
status --frob
status extra
status --json=1
pool 2X 5
pool -5 5
pool 99999999999999999999G 1
pool 2M -5
pool 2M 2X
pool 2M 99999999999999999999
pool 3M 1
pool 2M
pool 2M 1 2
pool 2M 1 --node
pool 2M 1 --node x
pool 2M 1 --node 63
pool 2M 1 --overcommit -5
mount --pagesize 2X
mount --pagesize 3M
mount --mode 999
mount --mode 7x
mount --uid no_such_user_hp
mount --gid no_such_group_hp
mount --list extra
mount a b
inspect
inspect abc
inspect -5
inspect 1 --self
inspect 99999999999999999999
inspect 0
doctor extra
doctor --
LIST

[ -z "$(command -v "$HP")" ] && fail "HP_CMD=$HP is not executable"
expect 2 "$HP"
contains "$err" "usage: hugepage" "hugepage without arguments prints usage on stderr"

# a PID that does not exist is a failure, exit 1
expect_error 1 "$HP" inspect 4194303

# a program that cannot be started is a failure, exit 1
expect_error 1 "$HP" doctor -- /nonexistent/program

# --version prints HP_VERSION_STRING of the public header
ver=$(sed -n 's/^#define HP_VERSION_STRING "\(.*\)"/\1/p' "$HP_SOURCE_DIR/include/hugepage.h")
expect 0 "$HP" --version
[ "$out" = "hugepage $ver" ] || fail "--version printed '$out', expected 'hugepage $ver'"

# --help lists every subcommand, and each has its own --help
expect 0 "$HP" --help
for sub in status pool mount inspect doctor; do
    contains "$out" "  $sub " "hugepage --help lists $sub"
done
help=$out
for sub in $(printf '%s\n' "$help" | sed -n 's/^  \([a-z]\+\)  .*/\1/p'); do
    expect 0 "$HP" "$sub" --help
    contains "$out" "usage: hugepage $sub" "hugepage $sub --help"
done
finish
