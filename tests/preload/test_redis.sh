#!/usr/bin/env bash
# Debian's redis-server under `hugepage run`, on 127.0.0.1 at a free port with
# its own directory (no persistence; any system instance is left alone):
# redis-benchmark with bounded request counts succeeds, 200000 keys loaded
# with redis-cli --pipe read back as in a plain run, and while it holds them
# huge pages hold >= 75% of its anonymous memory (lib.sh's criterion).
. "$(dirname "$0")/lib.sh"
need_prog redis-server redis-server
need_prog redis-tools redis-cli redis-benchmark

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
python3 -c '
for i in range(200000):
    v = ("v%d-" % i) * (1 + i % 40)
    print("*3\r\n$3\r\nSET\r\n$%d\r\nkey:%d\r\n$%d\r\n%s\r" % (len("key:%d" % i), i, len(v), v))
' >"$tmp/load.resp"

# serve NAME [hugepage run --mode MODE --]: starts a server in the background,
# sets $port, $server_pid (redis-server's own PID) and $server_job.
serve() {
    local name=$1 i
    shift
    port=$(free_port)
    mkdir -p "$tmp/$name"
    timeout "$limit" "$@" redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --dir "$tmp/$name" --daemonize no >"$tmp/$name.log" 2>&1 &
    server_job=$!
    cleanups+=("kill $server_job 2>/dev/null; redis-cli -p $port shutdown nosave >/dev/null 2>&1")
    for ((i = 0; i < 100; i++)); do
        redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
        kill -0 "$server_job" 2>/dev/null || { fail "redis-server ($name) died: $(tail -5 "$tmp/$name.log")"; finish; }
        sleep 0.1
    done
    server_pid=$(redis-cli -p "$port" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
    [ -n "$server_pid" ] || { fail "redis-server ($name) does not answer: $(tail -5 "$tmp/$name.log")"; finish; }
}

# workload NAME: benchmark, load, read back; output in $tmp/NAME.txt
workload() {
    local name=$1
    timeout "$limit" redis-benchmark -p "$port" -n 20000 -c 10 -t set,get,lpush,lpop,incr -q \
        >"$tmp/$name.bench" 2>&1 || fail "redis-benchmark ($name) failed: $(tail -3 "$tmp/$name.bench")"
    grep -q "requests per second" "$tmp/$name.bench" || fail "redis-benchmark ($name): $(cat "$tmp/$name.bench")"
    redis-cli -p "$port" flushall >/dev/null
    timeout "$limit" redis-cli -p "$port" --pipe <"$tmp/load.resp" >/dev/null || fail "redis-cli --pipe ($name) failed"
    {
        redis-cli -p "$port" dbsize
        for k in 0 1 777 199999; do redis-cli -p "$port" strlen "key:$k"; done
        redis-cli -p "$port" get key:12345
    } >"$tmp/$name.txt"
}

stop() {
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1
    wait "$server_job"
}

serve plain
workload plain
stop
for mode in "${modes[@]}"; do
    serve "redis-$mode" "$HP" run --mode "$mode" --
    grep -q libhugepage "/proc/$server_pid/maps" || fail "redis-server ($mode) does not have the library mapped"
    workload "redis-$mode"
    coverage "$server_pid" "redis-server --mode $mode"
    cmp -s "$tmp/plain.txt" "$tmp/redis-$mode.txt" ||
        fail "redis ($mode) answers differ: $(diff "$tmp/plain.txt" "$tmp/redis-$mode.txt" | head -5)"
    stop
done
finish
