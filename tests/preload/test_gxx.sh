#!/usr/bin/env bash
# Debian's g++ under `hugepage run` compiles a C++ program (the driver forks
# and execs cc1plus, as and ld, all on the library); the binary is the same
# as a plain compile's modulo nothing (compared byte for byte), and it runs
# under the override too: new/delete of maps and vectors, exceptions across
# frames, std::thread, printing what it prints plainly. At its peak (waiting
# on stdin) huge pages hold >= 75% of its anonymous memory (lib.sh).
# cc1plus is sampled while it runs: it has the library and a heap on huge
# pages, but GCC's garbage-collected memory (most of it) is mapped by GCC
# itself with mmap, so only the figure is printed, and at least 4 MiB of huge
# pages (two heap blocks) are required.
. "$(dirname "$0")/lib.sh"
need_prog g++ g++
cat >"$tmp/prog.cpp" <<'CPP'
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

static long depth(int n) {
    if (n == 0) throw std::runtime_error("bottom");
    auto guard = std::make_unique<std::vector<int>>(100, n);
    return depth(n - 1) + (*guard)[0];
}

int main(int argc, char **argv) {
    std::map<std::string, std::vector<long>> m;
    for (long i = 0; i < 200000; i++) m["k" + std::to_string(i)] = std::vector<long>(40, i);
    std::vector<std::thread> ts;
    std::vector<long> sums(4);
    for (int t = 0; t < 4; t++)
        ts.emplace_back([t, &sums] {
            std::vector<std::unique_ptr<std::string>> v;
            for (int i = 0; i < 100000; i++) v.push_back(std::make_unique<std::string>(i % 97 + 20, 'a' + t));
            for (auto &s : v) sums[t] += (long)s->size();
        });
    for (auto &t : ts) t.join();
    int caught = 0;
    for (int i = 0; i < 1000; i++) {
        try { depth(20); } catch (const std::runtime_error &e) { caught += std::string(e.what()) == "bottom"; }
    }
    std::cout << "map " << m.size() << " first " << m.begin()->first << " sums "
              << std::accumulate(sums.begin(), sums.end(), 0L) << " caught " << caught << std::endl;
    if (argc > 1) {
        std::cerr << "ready " << getpid() << std::endl;
        std::string line;
        std::getline(std::cin, line);
    }
    std::cout << "end " << m.rbegin()->second.size() << std::endl;
}
CPP
timeout "$limit" g++ -O1 -pthread -o "$tmp/prog.plain" "$tmp/prog.cpp" || fail "plain g++ failed"
for mode in "${modes[@]}"; do
    # cc1plus, sampled every 0.05 s while it runs: the sample with the most memory
    timeout "$limit" "$HP" run --mode "$mode" -- g++ -O1 -pthread -o "$tmp/prog.$mode" "$tmp/prog.cpp" &
    job=$!
    best=""
    while kill -0 "$job" 2>/dev/null; do
        for cc in $(pgrep -x cc1plus); do
            grep -q libhugepage "/proc/$cc/maps" 2>/dev/null || continue
            line=$(python3 "$here/smaps_coverage.py" "$cc" 2>/dev/null) || continue
            a=${line#anon=}
            [ -z "$best" ] || [ "${a%% *}" -gt "$(b=${best#anon=}; echo "${b%% *}")" ] && best=$line
        done
        sleep 0.05
    done
    wait "$job" || fail "g++ under hugepage run ($mode) failed"
    cmp -s "$tmp/prog.plain" "$tmp/prog.$mode" || fail "g++ ($mode) built another binary than the plain g++"
    echo "cc1plus --mode $mode, largest sample: ${best:-none}"
    if [ -z "$best" ]; then
        fail "cc1plus ($mode) was never seen running with the library"
    else
        h=${best#*huge=}
        [ "${h%% *}" -ge $((4 << 20)) ] || fail "cc1plus ($mode): under 4 MiB on huge pages: $best"
    fi

    same_run prog-$mode "$mode" "$tmp/prog.$mode"
    start_paused prog "$mode" "$tmp/prog.$mode" --pause
    wait_for "$tmp/prog.out.err" '^ready' "$pid" "the compiled program ($mode)"
    read -r _ prog_pid <"$tmp/prog.out.err"
    coverage "$prog_pid" "compiled C++ program --mode $mode"
    resume
    cmp -s "$tmp/prog.out" "$tmp/prog-$mode.plain" || fail "compiled program ($mode) paused run printed otherwise"
done
grep -q "caught 1000" "$tmp/prog-auto.plain" || fail "compiled program output: $(cat "$tmp/prog-auto.plain")"
finish
