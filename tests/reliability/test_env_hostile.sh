#!/usr/bin/env bash
# Every HUGEPAGE_* variable the library reads (the options table, listed by
# env_probe --options) under hostile values: the program still runs and
# allocates (env_probe exits 0), and stderr holds exactly one line, a warning
# naming the variable and ending with the default used (issue 3: "a bad value
# gets one clear warning naming the variable and the default used"); with
# HUGEPAGE_VERBOSE unset nothing else is printed. An empty value counts as
# unset: no warning (so `HUGEPAGE_MODE= prog` clears a setting).
# docs/hostile-input.md lists these rows. Env from CTest: HP_PROG_env_probe.
set -u
: "${HP_PROG_env_probe:?HP_PROG_env_probe must name the built env_probe program}"
probe=$HP_PROG_env_probe

# Start from a clean environment for the library.
for v in $(env | sed -n 's/^\(HUGEPAGE_[A-Z_]*\)=.*/\1/p'); do
    case $v in HUGEPAGE_TEST_*) ;; *) unset "$v" ;; esac
done

long=$(head -c 100000 /dev/zero | tr '\0' x)
hostile=("0x" "-1" "99999999999999999999" "1G" "garbage" "$long" "auto thp" " 1" "1 "
         "2M " $'1\n2' $'thp\nhugepage: forged line' "16E" "0x200000" "1e6" "2" "4K"
         "yes please")

# Values that are valid for a variable are not hostile for it.
valid_for() { # name value
    case "$1=$2" in
    HUGEPAGE_PAGESIZE=1G | HUGEPAGE_RESERVE=1G | HUGEPAGE_RESERVE=2 | HUGEPAGE_RESERVE=4K) return 0 ;;
    esac
    return 1
}

# A value each known variable accepts: it must give no warning at all.
good_value() {
    case $1 in
    HUGEPAGE_MODE) echo thp ;;
    HUGEPAGE_PAGESIZE) echo 2M ;;
    HUGEPAGE_RESERVE) echo 0 ;;
    HUGEPAGE_STATS | HUGEPAGE_VERBOSE | HUGEPAGE_SECURE) echo 0 ;;
    esac
}

fails=0
runs=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT

show() { # value, shortened for the log
    local v=${1//$'\n'/\\n}
    [ ${#v} -gt 40 ] && v="${v:0:20}...(${#1} bytes)"
    printf '%s' "$v"
}

# run NAME VALUE EXPECTED_LINES DEFAULT
run() {
    local name=$1 value=$2 want=$3 default=$4 status lines
    runs=$((runs + 1))
    env "$name=$value" "$probe" >/dev/null 2>"$err"
    status=$?
    lines=$(wc -l <"$err")
    local what="$name=\"$(show "$value")\""
    if [ $status -ne 0 ]; then
        echo "FAIL: $what: exit status $status"; cat "$err"; fails=$((fails + 1)); return
    fi
    if [ "$lines" -ne "$want" ]; then
        echo "FAIL: $what: $lines lines on stderr, want $want:"; cat "$err"; fails=$((fails + 1))
        return
    fi
    if [ "$want" -eq 1 ]; then
        local line
        line=$(cat "$err")
        if [[ $line != "hugepage: $name="* || $line != *"using the default, $default" ]]; then
            echo "FAIL: $what: the warning does not name the variable and the default:"
            echo "  $line"; fails=$((fails + 1)); return
        fi
        if [ ${#line} -gt 300 ]; then
            echo "FAIL: $what: a ${#line}-byte warning"; fails=$((fails + 1)); return
        fi
    fi
    echo "ok: $what: $([ "$want" -eq 1 ] && echo one warning || echo silent)"
}

options=$("$probe" --options) || { echo "FAIL: env_probe --options"; exit 1; }
[ -n "$options" ] || { echo "FAIL: empty options table"; exit 1; }

# Nothing set: nothing printed.
"$probe" >/dev/null 2>"$err" && [ ! -s "$err" ] || { echo "FAIL: probe without options"; cat "$err"; exit 1; }

while IFS=$'\t' read -r name default; do
    run "$name" "" 0 "$default"
    good=$(good_value "$name")
    [ -n "$good" ] && run "$name" "$good" 0 "$default"
    for value in "${hostile[@]}"; do
        valid_for "$name" "$value" && continue
        run "$name" "$value" 1 "$default"
    done
done <<<"$options"

echo "$runs runs, $fails failed"
[ $fails -eq 0 ]
