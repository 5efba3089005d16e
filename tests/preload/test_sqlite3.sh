#!/usr/bin/env bash
# Debian's sqlite3 under `hugepage run`: 300000 rows in an in-memory database
# (its pages are malloc'd), an index, joins and aggregates: the output is the
# plain run's, and with the database built and the shell waiting for more SQL,
# huge pages hold >= 75% of its anonymous memory (lib.sh's criterion).
. "$(dirname "$0")/lib.sh"
need_prog sqlite3 sqlite3
cat >"$tmp/work.sql" <<'SQL'
PRAGMA cache_size = -400000;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
INSERT INTO t SELECT i, i % 97, printf('name-%08d-%s', i, hex(i * 7919)), (i * 37 % 1000) / 7.0 FROM n;
CREATE INDEX t_name ON t(name);
CREATE TABLE g AS SELECT grp, count(*) AS c, round(sum(val), 3) AS s FROM t GROUP BY grp;
SELECT count(*), sum(length(name)), round(avg(val), 6) FROM t;
SELECT grp, c, s FROM g ORDER BY s DESC LIMIT 5;
SELECT t.name FROM t JOIN g ON t.grp = g.grp WHERE t.id % 50000 = 0 ORDER BY t.name;
SELECT count(DISTINCT substr(name, 1, 10)) FROM t;
SQL
for mode in "${modes[@]}"; do
    same_run sqlite3-$mode "$mode" sqlite3 -batch -init "$tmp/work.sql" :memory: .quit
    start_paused sqlite3 "$mode" sqlite3 -batch -init "$tmp/work.sql" :memory:
    printf ".print ready\n" >&"$paused_fd"
    wait_for "$tmp/sqlite3.out" '^ready' "$pid" "sqlite3 ($mode)"
    coverage "$(pgrep -P "$pid")" "sqlite3 --mode $mode"
    resume
    grep -v '^ready' "$tmp/sqlite3.out" | cmp -s - "$tmp/sqlite3-$mode.plain" ||
        fail "sqlite3 ($mode) paused run printed otherwise"
done
[ -s "$tmp/sqlite3-auto.plain" ] || fail "sqlite3 printed nothing"
finish
