"""A deterministic Python workload for the preload tests: dicts, sorting, json,
threads, and C extensions loaded with dlopen (_json, _sqlite3, _hashlib).
Prints digests of its results (the same under any malloc). With --pause it
then says "ready PID" on stderr and holds its data until stdin closes, so the
test can read its /proc/PID/smaps at its peak."""
import hashlib
import json
import random
import sqlite3
import sys
import threading

rng = random.Random(42)
table = {f"key{i}": [rng.random(), str(i) * 8, {"n": i}] for i in range(300000)}
ordered = sorted(table.items(), key=lambda kv: kv[1][0])
text = json.dumps(ordered[:100000])
back = json.loads(text)
print("dict", len(table), "sorted-first", ordered[0][0], "json", len(text), len(back))

blobs = [None] * 4


def worker(k):
    local = [bytes([k]) * (1000 + j % 3000) for j in range(8000)]
    blobs[k] = local
    # sha256 of the joined bytes: the same in every run
    hashlib.sha256(b"".join(local)).hexdigest()


threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("threads", [hashlib.sha256(b"".join(b)).hexdigest()[:16] for b in blobs])

db = sqlite3.connect(":memory:")
db.execute("create table t (k text, v real)")
db.executemany("insert into t values (?, ?)", ((k, v[0]) for k, v in ordered[:50000]))
print("sqlite", db.execute("select count(*), round(sum(v), 6) from t").fetchone())

if "--pause" in sys.argv:
    import os
    print("ready", os.getpid(), file=sys.stderr, flush=True)
    sys.stdin.readline()
print("end", len(table), sum(len(b) for b in blobs))
