#!/usr/bin/env python3
"""Start-up of `keygate serve` binaries on one database, alternating.

    python3 bench/startup.py DATABASE_URL IDENTIFIER SECRET BINARY [BINARY ...]

Seed the database first (`target/release/examples/scale_seed sqlite:///tmp/1m.db
1000000` prints IDENTIFIER SECRET). Each round starts every binary in turn
and measures the time from spawn to the first allowed `POST /v1/authorize`
of that credential, then VmRSS at that moment, the peak (VmHWM) and VmRSS
3 s later; the medians of ROUNDS rounds (default 5) are printed per binary.
PIN=1 runs the servers on CPU 0 only, as bench/http.sh does. Alternating
the binaries in one run is what makes their figures comparable on a noisy
machine (see docs/benchmarks.md).
"""

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

PORT = 18099


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def start_once(binary, database, identifier, secret):
    env = dict(os.environ, KEYGATE_DATABASE_URL=database,
               KEYGATE_LISTEN=f"127.0.0.1:{PORT}", RUST_LOG="warn")
    argv = (["taskset", "-c", "0"] if os.environ.get("PIN") else []) + [binary, "serve"]
    body = json.dumps({"identifier": identifier, "secret": secret,
                       "action": "GetClients"}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}/v1/authorize", data=body,
                                     headers={"Content-Type": "application/json"})
    started = time.monotonic()
    server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        while True:
            if server.poll() is not None:
                sys.exit(f"{binary} exited with {server.returncode}")
            try:
                with urllib.request.urlopen(request, timeout=1) as answer:
                    if answer.status == 200:
                        break
            except Exception:
                time.sleep(0.01)
        elapsed = time.monotonic() - started
        rss, peak = status_kb(server.pid, "VmRSS"), status_kb(server.pid, "VmHWM")
        time.sleep(3)
        return elapsed, rss / 1024, peak / 1024, status_kb(server.pid, "VmRSS") / 1024
    finally:
        server.terminate()
        server.wait(timeout=30)


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    database, identifier, secret, *binaries = sys.argv[1:]
    rounds = int(os.environ.get("ROUNDS", "5"))
    results = {binary: [] for binary in binaries}
    for round_ in range(rounds):
        order = binaries if round_ % 2 == 0 else list(reversed(binaries))
        for binary in order:
            figures = start_once(binary, database, identifier, secret)
            results[binary].append(figures)
            print(f"round {round_ + 1}: {binary}: {figures[0]:.2f} s, RSS {figures[1]:.0f} MB, "
                  f"peak {figures[2]:.0f} MB, RSS 3 s later {figures[3]:.0f} MB", flush=True)
    print()
    for binary, runs in results.items():
        medians = [statistics.median(run[i] for run in runs) for i in range(4)]
        print(f"{binary}: start-up {medians[0]:.2f} s (runs {sorted(round(r[0], 2) for r in runs)}), "
              f"RSS {medians[1]:.0f} MB, peak {medians[2]:.0f} MB, "
              f"RSS 3 s later {medians[3]:.0f} MB (medians of {rounds})")


if __name__ == "__main__":
    main()
