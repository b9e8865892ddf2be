#!/usr/bin/env python3
"""Drives the HTTP benchmark (run it through bench/http.sh and docs/benchmarks.md).

Servers run pinned to CPU 0, the load generator to CPU 1. Every target is
measured in interleaved repetitions: wrk for throughput (closed loop), then
oha at a fixed rate of half the measured throughput, with latency
correction, for p50/p99.

A second keygate (port 18085, same binary and database) runs with a Redis
rate limit on every call (KEYGATE_RATE_LIMIT_REDIS_URL, a default of
1000000/s that no run reaches, a key prefix of its own that is deleted at
the end): "keygate gateway (redis limit) -> upstream" against the plain
gateway is what the shared rate limit costs.

A third keygate (port 18086, same binary and database) runs with
KEYGATE_USAGE_ENABLED=false: the plain keygate (usage counted, the default)
against it, in paired rounds like the client-scope runs, is what counting
usage per credential costs. USAGE_ONLY=1 runs only those pairs.

Each wrk run also reads its server process's CPU time (user + system, from
/proc), reported per call; and keygate is measured against nginx once more
in NGINX_ROUNDS paired rounds (default 8) of back-to-back short runs, order
alternating, whose median ratio the machine's drift moves far less than a
ratio of two medians taken minutes apart.

With CREDENTIALS above 10,000 (CREDENTIALS=1000000: bench_seed generates
10,000 and copies the rest by SQL), the plain keygate is started alone
first and its start-up time to the first allowed gateway call and its RSS
are reported; a fifth keygate (port 18087) serves a database of the same
10,000 generated credentials only, and "keygate gateway at N / at 10k" is
the gateway's throughput at that scale against the 10k figure, same run.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

DURATION = int(os.environ.get("DURATION", "10"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "64"))
REPS = int(os.environ.get("REPS", "3"))
CREDENTIALS = int(os.environ.get("CREDENTIALS", "10000"))
PORTS = {"upstream": 18081, "nginx": 18082, "keygate": 18083, "keygate_redis": 18085,
         "keygate_nousage": 18086}
# The credentials bench_seed generates; a larger CREDENTIALS adds copies and
# compares the gateway against a keygate serving only these.
SMALL = 10_000
SCALE = CREDENTIALS > SMALL
if SCALE:
    PORTS["keygate_small"] = 18087
# A second keygate binary (bench/http.sh builds it from BASELINE=<git ref>)
# is measured in the same run, interleaved, so a change's cost is a ratio.
BASELINE_BIN = os.environ.get("KEYGATE_BASELINE_BIN")
if BASELINE_BIN:
    PORTS["baseline"] = 18084
# `userid` answers the client-scope runs' ownership lookup (GetInvoice
# invoiceid -> userid) with client 1, the scoped credential's client.
UPSTREAM_BODY = '{"result":"success","totalresults":0,"userid":1}'
# The second keygate (same binary, same database) counts every call in Redis
# against a default rate no run reaches, so it measures what the shared rate
# limit costs per call; its keys live under a prefix of this run's own.
REDIS_URL = os.environ.get("KEYGATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_PREFIX = f"keygate-bench-{os.getpid()}-{int(time.time())}:"
REDIS_LIMIT = {
    "KEYGATE_RATE_LIMIT_REDIS_URL": REDIS_URL,
    "KEYGATE_RATE_LIMIT_DEFAULT": "1000000/s",
    "KEYGATE_RATE_LIMIT_REDIS_PREFIX": REDIS_PREFIX,
}

NGINX_COMMON = """
worker_processes 1;
daemon off;
error_log {dir}/{name}-error.log warn;
pid {dir}/{name}.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/{name}-body;
  proxy_temp_path {dir}/{name}-proxy;
  fastcgi_temp_path {dir}/{name}-fastcgi;
  uwsgi_temp_path {dir}/{name}-uwsgi;
  scgi_temp_path {dir}/{name}-scgi;
  keepalive_requests 1000000;
  {body}
}}
"""

UPSTREAM_HTTP = """
  server {{
    listen 127.0.0.1:{port};
    location = /includes/api.php {{ default_type application/json; return 200 '{reply}'; }}
  }}
"""

FRONT_HTTP = """
  upstream whmcs {{ server 127.0.0.1:{upstream}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port};
    location = /static {{ default_type text/plain; return 200 'ok'; }}
    location = /includes/api.php {{
      proxy_pass http://whmcs;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
"""


def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu)] + argv


def start_nginx(workdir, name, body):
    conf = os.path.join(workdir, f"{name}.conf")
    with open(conf, "w") as f:
        f.write(NGINX_COMMON.format(dir=workdir, name=name, body=body))
    return subprocess.Popen(pinned(0, ["nginx", "-p", workdir, "-c", conf]))


def wait_http(url, data=None):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, data=data, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"server at {url} did not start")


def seed(workdir, seeder="target/release/examples/bench_seed", name="bench", count=None):
    db = f"sqlite://{workdir}/{name}.db"
    out = subprocess.run(
        [seeder, db, str(count or CREDENTIALS)],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    # Seeders since the client scope print two more credentials (unscoped,
    # scoped to client 1) for the scope runs; older ones only the first.
    return db, out[0], out[1], out[2:6]


# The keygates started, by port name (the CPU measurement reads their pids).
KEYGATES = {}


def start_keygate(db, binary="target/release/keygate", port_name="keygate", extra_env=None,
                  stderr=None):
    env = dict(os.environ)
    env.update({
        "KEYGATE_DATABASE_URL": db,
        "KEYGATE_LISTEN": f"127.0.0.1:{PORTS[port_name]}",
        "KEYGATE_UPSTREAM_URL": f"http://127.0.0.1:{PORTS['upstream']}/includes/api.php",
        "KEYGATE_UPSTREAM_IDENTIFIER": "master",
        "KEYGATE_UPSTREAM_SECRET": "master-secret",
        # One log line per call is the default; the benchmark measures the
        # decision and forwarding, as nginx runs with access_log off.
        "RUST_LOG": "warn",
    })
    env.update(extra_env or {})
    proc = subprocess.Popen(pinned(0, [binary, "serve"]), env=env,
                            stdout=subprocess.DEVNULL, stderr=stderr)
    KEYGATES[port_name] = proc
    return proc


def rss_mb(proc):
    """Resident and peak resident memory of a running process, in MB."""
    with open(f"/proc/{proc.pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def first_allowed_call(started, identifier, secret, port_name="keygate"):
    """Seconds from `started` until the gateway first forwards an allowed
    call (200): start-up as a client sees it, snapshot built and serving."""
    form = f"identifier={identifier}&secret={secret}&action=GetClients&responsetype=json"
    url = f"http://127.0.0.1:{PORTS[port_name]}/includes/api.php"
    deadline = started + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, data=form.encode(), timeout=1) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
        except Exception:
            pass
        time.sleep(0.01)
    sys.exit(f"keygate on port {PORTS[port_name]} allowed no call within 120 s")


def scope_targets(scope_credentials):
    """GetInvoices (client_param) and GetInvoice (object, warm cache) by an
    unscoped and a scoped credential of the same roles: the scope's cost,
    measured in pairs by scope_pairs."""
    plain_id, plain_secret, scoped_id, scoped_secret = scope_credentials
    keygate = f"http://127.0.0.1:{PORTS['keygate']}/includes/api.php"
    urlenc = "application/x-www-form-urlencoded"
    cases = []
    for action, extra, kind in (("GetInvoices", "", "client_param"),
                                ("GetInvoice", "&invoiceid=5", "object")):
        for label, ident, sec in (("unscoped", plain_id, plain_secret),
                                  ("scoped", scoped_id, scoped_secret)):
            form = f"identifier={ident}&secret={sec}&action={action}&responsetype=json{extra}"
            cases.append((f"keygate {kind} {label}", "POST", keygate, form, urlenc))
    return cases


def alternate(workdir, first, second, rounds, seconds, servers=None):
    """`rounds` rounds of back-to-back `seconds`-long wrk runs of two cases,
    order alternating, so that the machine's drift cancels within a round:
    the (first, second) results of each round (req/s, or with `servers`, a
    pid per case, req/s and server CPU per call)."""
    results = []
    for r in range(rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        cases = (first, second)
        pids = (servers or {}).get
        got = {i: wrk(workdir, *cases[i][1:], duration=seconds, server=pids(cases[i][0]))
               for i in order}
        results.append((got[0], got[1]))
    return results


def scope_pairs(workdir, cases):
    """The client scope's cost: each scoped call against the same call by an
    unscoped credential, in PAIR_ROUNDS rounds of two back-to-back
    PAIR_SECONDS wrk runs (order alternating), so that the machine's drift
    cancels within a round; the median of the per-round ratios is
    reported."""
    rounds = int(os.environ.get("PAIR_ROUNDS", "8"))
    seconds = int(os.environ.get("PAIR_SECONDS", "3"))
    if rounds == 0:
        return
    by_name = {case[0]: case for case in cases}
    print()
    for kind, target in (("client_param", 0.95), ("object", 0.90)):
        plain, scoped = by_name[f"keygate {kind} unscoped"], by_name[f"keygate {kind} scoped"]
        ratios = [b / a for a, b in alternate(workdir, plain, scoped, rounds, seconds)]
        spread = ", ".join(f"{x:.3f}" for x in sorted(ratios))
        print(f"client-scoped {kind} call vs the same call unscoped (req/s): "
              f"{statistics.median(ratios):.3f}x median of {rounds} paired rounds "
              f"(target >= {target:.2f}x; rounds: {spread})", flush=True)


def nginx_pairs(workdir, cases, servers):
    """keygate against nginx in NGINX_ROUNDS rounds (default 8) of two
    back-to-back PAIR_SECONDS wrk runs, order alternating, as the scope and
    usage pairs are measured: the machine's drift, which moves one 8 s run
    against another by 10-20 % here, cancels within a round. The median of
    the per-round ratios (req/s, and server CPU per call) is reported."""
    rounds = int(os.environ.get("NGINX_ROUNDS", "8"))
    seconds = int(os.environ.get("PAIR_SECONDS", "3"))
    if rounds == 0:
        return
    by_name = {case[0]: case for case in cases}
    print()
    for name, against in (("keygate /v1/authorize", "nginx static"),
                          ("keygate gateway -> upstream", "nginx proxy -> upstream")):
        got = alternate(workdir, by_name[name], by_name[against], rounds, seconds, servers)
        ratios = [a[0] / b[0] for a, b in got]
        cpu_ratios = [b[1] / a[1] for a, b in got]
        spread = ", ".join(f"{x:.2f}" for x in sorted(ratios))
        print(f"{name} vs {against} (req/s): {statistics.median(ratios):.3f}x median of "
              f"{rounds} paired rounds (rounds: {spread}); server CPU per call "
              f"{statistics.median(cpu_ratios):.3f}x", flush=True)


def usage_targets(identifier, secret):
    """The gateway and the sidecar with usage counted (the default) and
    without (KEYGATE_USAGE_ENABLED=false), same binary, same database."""
    form = f"identifier={identifier}&secret={secret}&action=GetClients&responsetype=json"
    auth = json.dumps({"identifier": identifier, "secret": secret, "action": "GetClients"})
    urlenc = "application/x-www-form-urlencoded"
    cases = []
    for label, port in (("counted", PORTS["keygate"]), ("not counted", PORTS["keygate_nousage"])):
        base = f"http://127.0.0.1:{port}"
        cases.append((f"keygate gateway {label}", "POST", f"{base}/includes/api.php", form, urlenc))
        cases.append((f"keygate /v1/authorize {label}", "POST", f"{base}/v1/authorize", auth,
                      "application/json"))
    return cases


def usage_pairs(workdir, cases):
    """What counting usage costs: each endpoint with the counters against
    the same endpoint without them, in PAIR_ROUNDS rounds of two
    back-to-back PAIR_SECONDS wrk runs (order alternating); the median of
    the per-round ratios (req/s without / with: the time a call takes with
    counters relative to without) is reported."""
    rounds = int(os.environ.get("PAIR_ROUNDS", "8"))
    seconds = int(os.environ.get("PAIR_SECONDS", "3"))
    if rounds == 0:
        return
    by_name = {case[0]: case for case in cases}
    print()
    for kind in ("gateway", "/v1/authorize"):
        counted, plain = by_name[f"keygate {kind} counted"], by_name[f"keygate {kind} not counted"]
        ratios = [a / b for a, b in alternate(workdir, plain, counted, rounds, seconds)]
        spread = ", ".join(f"{x:.3f}" for x in sorted(ratios))
        print(f"usage counters' cost, keygate {kind} (req/s without / with): "
              f"{statistics.median(ratios):.3f}x median of {rounds} paired rounds "
              f"(target <= 1.05x; rounds: {spread})", flush=True)


def targets(identifier, secret, baseline_credential=None, small_credential=None):
    form = f"identifier={identifier}&secret={secret}&action=GetClients&responsetype=json"
    upstream_form = "identifier=master&secret=master-secret&action=GetClients&responsetype=json"
    auth = json.dumps({"identifier": identifier, "secret": secret, "action": "GetClients"})
    urlenc = "application/x-www-form-urlencoded"
    nginx, keygate, upstream, limited = (
        f"http://127.0.0.1:{PORTS[k]}" for k in ("nginx", "keygate", "upstream", "keygate_redis"))
    cases = [
        ("nginx static", "GET", f"{nginx}/static", None, None),
        ("keygate /v1/authorize", "POST", f"{keygate}/v1/authorize", auth, "application/json"),
        ("nginx proxy -> upstream", "POST", f"{nginx}/includes/api.php", form, urlenc),
        ("keygate gateway -> upstream", "POST", f"{keygate}/includes/api.php", form, urlenc),
        ("keygate gateway (redis limit) -> upstream", "POST", f"{limited}/includes/api.php", form, urlenc),
        ("upstream direct", "POST", f"{upstream}/includes/api.php", upstream_form, urlenc),
    ]
    if SCALE:
        # Its own database, so its own credential (generated the same way).
        s_id, s_secret = small_credential
        small_form = f"identifier={s_id}&secret={s_secret}&action=GetClients&responsetype=json"
        small = f"http://127.0.0.1:{PORTS['keygate_small']}"
        cases.append((f"keygate gateway at {SMALL} -> upstream", "POST",
                      f"{small}/includes/api.php", small_form, urlenc))
    if BASELINE_BIN:
        # The baseline has its own database, seeded by its own seeder: an
        # older binary cannot open a schema migrated further.
        b_id, b_secret = baseline_credential
        form = f"identifier={b_id}&secret={b_secret}&action=GetClients&responsetype=json"
        auth = json.dumps({"identifier": b_id, "secret": b_secret, "action": "GetClients"})
        baseline = f"http://127.0.0.1:{PORTS['baseline']}"
        cases += [
            ("baseline /v1/authorize", "POST", f"{baseline}/v1/authorize", auth, "application/json"),
            ("baseline gateway -> upstream", "POST", f"{baseline}/includes/api.php", form, urlenc),
        ]
    return cases


def cpu_ticks(pid):
    """User plus system CPU time of a process so far, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def nginx_worker(workdir, name):
    """The pid of the (single) worker of the nginx started as `name`."""
    with open(os.path.join(workdir, f"{name}.pid")) as f:
        master = f.read().strip()
    out = subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout
    return int(out.split()[0])


def wrk(workdir, method, url, body, content_type, duration=None, server=None):
    """Requests per second; with `server` (a pid), also that process's CPU
    time per request in microseconds, user and system: what a request costs
    the server, steadier on a shared machine than throughput."""
    before = cpu_ticks(server) if server else 0
    rps = wrk_rps(workdir, method, url, body, content_type, duration)
    if not server:
        return rps
    seconds = (cpu_ticks(server) - before) / os.sysconf("SC_CLK_TCK")
    return rps, seconds / (rps * (duration or DURATION)) * 1e6


def wrk_rps(workdir, method, url, body, content_type, duration=None):
    script = os.path.join(workdir, "wrk.lua")
    with open(script, "w") as f:
        f.write(f'wrk.method = "{method}"\n')
        if body is not None:
            f.write(f"wrk.body = {json.dumps(body)}\n")
            f.write(f'wrk.headers["Content-Type"] = "{content_type}"\n')
    out = subprocess.run(
        pinned(1, ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration or DURATION}s", "-s", script, url]),
        check=True, capture_output=True, text=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"{url}: {errors.group(1)} error responses\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def oha(method, url, body, content_type, rate):
    argv = ["oha", "-z", f"{DURATION}s", "-c", str(CONNECTIONS), "-q", str(int(rate)),
            "--latency-correction", "--no-tui", "--output-format", "json", "-m", method]
    if body is not None:
        argv += ["-d", body, "-T", content_type]
    out = subprocess.run(pinned(1, argv + [url]), check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    percentiles = report["latencyPercentiles"]
    return percentiles["p50"] * 1000, percentiles["p99"] * 1000


def redis_cli(*args):
    """Runs redis-cli against REDIS_URL; returns its output lines."""
    out = subprocess.run(["redis-cli", "-u", REDIS_URL, *args], check=True,
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line]


def redis_script_calls():
    """How many Lua script calls (EVAL/EVALSHA) Redis has served so far."""
    calls = 0
    for line in redis_cli("INFO", "commandstats"):
        if line.startswith("cmdstat_eval"):
            calls += int(re.search(r"calls=(\d+)", line).group(1))
    return calls


def delete_redis_keys():
    keys = redis_cli("--scan", "--pattern", f"{REDIS_PREFIX}*")
    for start in range(0, len(keys), 500):
        redis_cli("DEL", *keys[start:start + 500])
    return len(keys)


def main():
    for tool in ("nginx", "wrk", "oha", "taskset", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run bench/http.sh")
    workdir = tempfile.mkdtemp(prefix="keygate-bench-")
    os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
    print(f"seeding {CREDENTIALS} credentials ...", flush=True)
    db, identifier, secret, scope_credentials = seed(workdir)
    small_db, small_credential = None, None
    if SCALE:
        small_db, s_id, s_secret, _ = seed(workdir, name="small", count=SMALL)
        small_credential = (s_id, s_secret)
    baseline_credential = None
    if BASELINE_BIN:
        baseline_db, b_id, b_secret, _ = seed(
            workdir, os.environ["KEYGATE_BASELINE_SEED"], "baseline")
        baseline_credential = (b_id, b_secret)
    limited_log_path = os.path.join(workdir, "keygate-redis.log")
    limited_log = open(limited_log_path, "w")
    procs = [
        start_nginx(workdir, "upstream", UPSTREAM_HTTP.format(port=PORTS["upstream"], reply=UPSTREAM_BODY)),
        start_nginx(workdir, "front", FRONT_HTTP.format(port=PORTS["nginx"], upstream=PORTS["upstream"])),
    ]
    try:
        wait_http(f"http://127.0.0.1:{PORTS['upstream']}/includes/api.php")
        # The plain keygate alone first: its start-up is measured on a
        # quiet CPU 0, not while the others load their snapshots.
        started = time.monotonic()
        main_keygate = start_keygate(db)
        procs.append(main_keygate)
        startup = first_allowed_call(started, identifier, secret)
        startup_rss = rss_mb(main_keygate)
        print(f"keygate serve with {CREDENTIALS} credentials: first allowed call after "
              f"{startup:.2f} s, RSS {startup_rss[0]:.0f} MB (peak {startup_rss[1]:.0f} MB)",
              flush=True)
        procs += [
            start_keygate(db, port_name="keygate_redis", extra_env=REDIS_LIMIT, stderr=limited_log),
            start_keygate(db, port_name="keygate_nousage", extra_env={"KEYGATE_USAGE_ENABLED": "false"}),
        ]
        if SCALE:
            procs.append(start_keygate(small_db, port_name="keygate_small"))
        if BASELINE_BIN:
            procs.append(start_keygate(baseline_db, BASELINE_BIN, "baseline"))
        for port in PORTS.values():
            wait_http(f"http://127.0.0.1:{port}/healthz")
        cases = targets(identifier, secret, baseline_credential, small_credential)
        if os.environ.get("SCOPE_ONLY"):
            scope_pairs(workdir, scope_targets(scope_credentials))
            return
        if os.environ.get("USAGE_ONLY"):
            usage_pairs(workdir, usage_targets(identifier, secret))
            return
        servers = server_pids(workdir, cases)
        script_calls = redis_script_calls()
        throughput = {name: [] for name, *_ in cases}
        cpu = {name: [] for name, *_ in cases}
        for rep in range(REPS):
            for name, method, url, body, ctype in cases:
                rps, per_call = wrk(workdir, method, url, body, ctype, server=servers[name])
                throughput[name].append(rps)
                cpu[name].append(per_call)
                print(f"rep {rep + 1}/{REPS} {name:30} {rps:10.0f} req/s "
                      f"{per_call:6.2f} us CPU per call", flush=True)
        rps = {name: statistics.median(values) for name, values in throughput.items()}
        # Half load: half of keygate's own throughput, the same rate for the
        # targets it is compared with.
        rates = {
            "nginx static": rps["keygate /v1/authorize"] / 2,
            "keygate /v1/authorize": rps["keygate /v1/authorize"] / 2,
            "nginx proxy -> upstream": rps["keygate gateway -> upstream"] / 2,
            "keygate gateway -> upstream": rps["keygate gateway -> upstream"] / 2,
            "keygate gateway (redis limit) -> upstream": rps["keygate gateway -> upstream"] / 2,
            "upstream direct": rps["keygate gateway -> upstream"] / 2,
        }
        if SCALE:
            rates[f"keygate gateway at {SMALL} -> upstream"] = rates["keygate gateway -> upstream"]
        if BASELINE_BIN:
            rates["baseline /v1/authorize"] = rates["keygate /v1/authorize"]
            rates["baseline gateway -> upstream"] = rates["keygate gateway -> upstream"]
        latency = {name: [] for name, *_ in cases}
        for rep in range(REPS):
            for name, method, url, body, ctype in cases:
                latency[name].append(oha(method, url, body, ctype, rates[name]))
        # A limiter that cannot reach Redis falls back to per-instance
        # limits and says so once, at warn level: then this was no Redis run.
        with open(limited_log_path) as f:
            log = f.read()
        if "Redis unreachable" in log:
            sys.exit(f"the Redis-limited keygate could not use Redis at {REDIS_URL}:\n{log}")
        script_calls = redis_script_calls() - script_calls
        print(f"Redis served {script_calls} rate-limit script calls during the runs", flush=True)
        if script_calls == 0:
            sys.exit("the Redis-limited keygate made no Redis calls")
        report(cases, rps, rates, latency, throughput, cpu)
        rss, peak = rss_mb(main_keygate)
        print(f"keygate serve with {CREDENTIALS} credentials after the runs: RSS {rss:.0f} MB "
              f"(peak {peak:.0f} MB; {startup_rss[0]:.0f} MB at start-up)", flush=True)
        nginx_pairs(workdir, cases, servers)
        scope_pairs(workdir, scope_targets(scope_credentials))
        usage_pairs(workdir, usage_targets(identifier, secret))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
        delete_redis_keys()
        shutil.rmtree(workdir, ignore_errors=True)


def server_pids(workdir, cases):
    """The process that answers each target: nginx's front or upstream
    worker, or the keygate listening on the target's port."""
    keygates = {PORTS[name]: proc.pid for name, proc in KEYGATES.items()}
    pids = {}
    for name, _method, url, *_ in cases:
        port = int(re.search(r":(\d+)/", url).group(1))
        if port == PORTS["nginx"]:
            pids[name] = nginx_worker(workdir, "front")
        elif port == PORTS["upstream"]:
            pids[name] = nginx_worker(workdir, "upstream")
        else:
            pids[name] = keygates[port]
    return pids


def paired(throughput, name, against):
    """Per-repetition ratios of two targets measured seconds apart."""
    return [a / b for a, b in zip(throughput[name], throughput[against])]


def report(cases, rps, rates, latency, throughput, cpu):
    p50 = {n: statistics.median(v[0] for v in values) for n, values in latency.items()}
    p99 = {n: statistics.median(v[1] for v in values) for n, values in latency.items()}
    print()
    print(f"{CREDENTIALS} credentials, {CONNECTIONS} connections, {DURATION}s runs, "
          f"median of {REPS} interleaved repetitions; servers on CPU 0, load on CPU 1")
    print()
    cpu = {n: statistics.median(values) for n, values in cpu.items()}
    print("| target | req/s (wrk) | server CPU µs/call | rate for latency | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, *_ in cases:
        print(f"| {name} | {rps[name]:.0f} | {cpu[name]:.2f} | {rates[name]:.0f}/s "
              f"| {p50[name]:.3f} | {p99[name]:.3f} |")
    print()
    authorize_ratio = rps["keygate /v1/authorize"] / rps["nginx static"]
    gateway_ratio = rps["keygate gateway -> upstream"] / rps["nginx proxy -> upstream"]
    for name, against in (("keygate /v1/authorize", "nginx static"),
                          ("keygate gateway -> upstream", "nginx proxy -> upstream")):
        each = ", ".join(f"{x:.2f}x" for x in paired(throughput, name, against))
        print(f"{name} vs {against}: per repetition {each}; server CPU per call "
              f"{cpu[against] / cpu[name]:.2f}x ({cpu[name]:.2f} vs {cpu[against]:.2f} µs)")
    added = p99["keygate gateway -> upstream"] - p99["upstream direct"]
    nginx_added = p99["nginx proxy -> upstream"] - p99["upstream direct"]
    print(f"keygate /v1/authorize vs nginx static (req/s): {authorize_ratio:.2f}x (target >= 0.9x)")
    print(f"keygate gateway vs nginx proxy (req/s):        {gateway_ratio:.2f}x "
          "(target >= 0.9x, stretch 1.0x)")
    print(f"p99 added over upstream direct at half load: keygate gateway {added:+.3f} ms, "
          f"nginx proxy {nginx_added:+.3f} ms (target: keygate's <= nginx's)")
    if SCALE:
        small = rps[f"keygate gateway at {SMALL} -> upstream"]
        print(f"keygate gateway at {CREDENTIALS} / at {SMALL} credentials (req/s): "
              f"{rps['keygate gateway -> upstream'] / small:.3f}x (target >= 0.9x)")
    limited = "keygate gateway (redis limit) -> upstream"
    limit_ratio = rps[limited] / rps["keygate gateway -> upstream"]
    limit_p99 = p99[limited] - p99["keygate gateway -> upstream"]
    print(f"keygate gateway with Redis rate limit vs plain gateway (req/s): {limit_ratio:.3f}x "
          f"(p99 at half load {limit_p99:+.3f} ms)")
    if BASELINE_BIN:
        for kind in ("gateway -> upstream", "/v1/authorize"):
            ratio = rps[f"keygate {kind}"] / rps[f"baseline {kind}"]
            print(f"keygate {kind} vs baseline {os.environ.get('BASELINE', '')} (req/s): {ratio:.3f}x")


if __name__ == "__main__":
    main()
