#!/usr/bin/env bash
# The man pages render without warnings and cover what they document:
# libhugepage(3) every hp_* function and macro of include/hugepage.h and every
# HUGEPAGE_* variable of the options table; hugepage(1) every subcommand that
# `hugepage --help` lists.
. "$(dirname "$0")/lib.sh"
man1=$HP_SOURCE_DIR/docs/man/hugepage.1
man3=$HP_SOURCE_DIR/docs/man/libhugepage.3

for page in "$man1" "$man3"; do
    [ -f "$page" ] || fail "$page is missing"
    warnings=$(groff -man -ww -z "$page" 2>&1)
    [ -z "$warnings" ] || fail "groff warns about $page: $warnings"
done

text3=$(cat "$man3")
for fn in $(grep -o '\bhp_[a-z_]*(' "$HP_SOURCE_DIR/include/hugepage.h" | tr -d '(' | sort -u); do
    contains "$text3" "$fn(" "libhugepage.3 SYNOPSIS of $fn"
    case "$text3" in
    *".BR $fn ()"* | *".BI $fn( "*) ;;
    *) fail "libhugepage.3 does not describe $fn" ;;
    esac
done
for var in $(grep -o '{"HUGEPAGE_[A-Z_]*"' "$HP_SOURCE_DIR/src/options.c" | tr -d '{"'); do
    contains "$text3" ".B $var" "libhugepage.3 ENVIRONMENT entry for $var"
done

text1=$(cat "$man1")
expect 0 "$HP" --help
for sub in $(printf '%s\n' "$out" | sed -n 's/^  \([a-z]\+\)  .*/\1/p'); do
    contains "$text1" ".SS $sub" "hugepage.1 section for $sub"
    contains "$text1" ".B hugepage $sub" "hugepage.1 SYNOPSIS of $sub"
done
finish
