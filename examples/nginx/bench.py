#!/usr/bin/python3
"""req/s of nginx in front of the Go upstream, (n0) proxying alone and (n1)
with auth_request to caddy-wechat's `wechat_auth { respond assertion }`,
as examples/nginx/nginx.conf.template sets it up. Run it through bench.sh.

One nginx serves both (n0 on its own port, with the same upstream block);
wrk runs n0 and n1 back to back, BENCH_ROUNDS times, with the same
Authorization header on every request of both (so n1 measures the gate's
verified-token cache hit, as the main benchmark's (b) does). For each run
it also reports how much of the machine's CPU went to processes other than
this benchmark's, the noise that a shared 2-core machine adds.

Environment: BENCH_DURATION (10s), BENCH_ROUNDS (5), BENCH_CONNECTIONS (64),
BENCH_THREADS (2), BENCH_WARMUP (3s), BENCH_QUIET_TIMEOUT (60: seconds to
wait before each run for other processes to leave the CPU; 0 waits not).
"""

import os
import re
import resource
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "recipes"))

import harness as H  # noqa: E402
from test_nginx import NginxRecipeTest  # noqa: E402  (how the test starts nginx)

DURATION = os.environ.get("BENCH_DURATION", "10s")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CONNS = os.environ.get("BENCH_CONNECTIONS", "64")
THREADS = os.environ.get("BENCH_THREADS", "2")
WARMUP = os.environ.get("BENCH_WARMUP", "3s")
QUIET_TIMEOUT = float(os.environ.get("BENCH_QUIET_TIMEOUT", "60"))
PATH = "/api/bench/items?page=1"
HOST = "shop.example.test"


def cpu_busy():
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def proc_cpu(pids):
    """utime+stime jiffies of pids and their threads."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def tree(pids):
    """pids and every descendant (nginx's workers)."""
    out = set(pids)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid in out:
                out.add(int(entry))
    return out


def wait_quiet():
    """Before a run: wait (at most BENCH_QUIET_TIMEOUT s) until the machine,
    on which this benchmark is idle now, is less than 15% busy for a second."""
    import time

    deadline = time.monotonic() + QUIET_TIMEOUT
    while True:
        b0, t0 = cpu_busy()
        time.sleep(1)
        b1, t1 = cpu_busy()
        busy = (b1 - b0) / max(t1 - t0, 1)
        if busy < 0.15 or time.monotonic() > deadline:
            return busy


def wrk(port, duration, token):
    cmd = ["wrk", "-t", THREADS, "-c", CONNS, "-d", duration, "--latency",
           "-H", f"Host: {HOST}", "-H", f"Authorization: Bearer {token}", f"http://127.0.0.1:{port}{PATH}"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stdout}{out.stderr}")
    text = out.stdout
    if "Non-2xx" in text or re.search(r"Socket errors: connect [1-9]|read [1-9]|write [1-9]", text):
        raise RuntimeError(f"wrk saw errors against :{port}:\n{text}")
    # Timeouts (no answer within wrk's 2 s) mean the machine was overloaded
    # by something else: counted and shown, not fatal.
    m = re.search(r"timeout (\d+)", text)
    timeouts = int(m.group(1)) if m else 0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))

    def lat(pct):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", text)
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    return rps, lat(50), lat(99), timeouts


def main():
    svc = H.Services("nginx-bench-")
    t = NginxRecipeTest
    t.svc = svc
    try:
        up_port, n0 = H.free_ports(2)
        up = svc.spawn("upstream", [os.path.join(H.ROOT, ".build", "benchupstream"), "-addr", f"127.0.0.1:{up_port}"])
        svc.wait_port(up_port, up, "upstream")

        class Backend:  # what NginxRecipeTest.nginx reads
            port = up_port
        t.backend = Backend
        caddy = H.caddy_binary()
        (admin, mock, t.edge, t.auth, t.port) = H.free_ports(5)
        key = H.generate_key(caddy, "HS256", svc.path("token.key")).strip()
        svc.caddy("caddy", caddy, os.path.join(HERE, "Caddyfile"), [mock, t.edge, t.auth], env={
            "CADDY_ADMIN_PORT": str(admin), "WECHAT_MOCK_PORT": str(mock), "WECHAT_EDGE_PORT": str(t.edge),
            "WECHAT_AUTH_PORT": str(t.auth), "WECHAT_TOKEN_KEY": key})
        # n0: the same nginx and upstream block, no auth_request.
        t.extra_server = ("\tserver {\n\t\tlisten 127.0.0.1:%d;\n\t\tlocation / {\n\t\t\tproxy_pass http://backend;\n"
                          "\t\t\tproxy_http_version 1.1;\n\t\t\tproxy_set_header Connection \"\";\n"
                          "\t\t\tproxy_set_header Host $host;\n\t\t}\n\t}\n" % n0)
        t.nginx("nginx", svc.tmp, t.port)
        token = H.login(t.port, "bench.1", HOST)["token"]
        for port, want in ((n0, 200), (t.port, 200)):
            r = H.request(port, "GET", PATH, [("Authorization", "Bearer " + token)], host=HOST)
            if r.status != want:
                raise RuntimeError(f"sanity :{port}: {r}")
        r = H.request(t.port, "GET", PATH, host=HOST)
        if r.status != 401:
            raise RuntimeError(f"n1 without a token: {r}")

        ours = [p.pid for _, p, _ in svc.procs]
        configs = [("n0", "nginx proxying alone", n0), ("n1", "nginx + auth_request to the respond gate", t.port)]
        for _, _, port in configs:
            wrk(port, WARMUP, token)
        runs = {name: [] for name, _, _ in configs}
        for rnd in range(ROUNDS):
            for name, _, port in configs:
                wait_quiet()
                pids = tree(ours)
                b0, t0 = cpu_busy()
                o0 = proc_cpu(pids)
                c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                rps, p50, p99, timeouts = wrk(port, DURATION, token)
                b1, t1 = cpu_busy()
                o1 = proc_cpu(pids)
                c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                hz = os.sysconf("SC_CLK_TCK")
                mine = (o1 - o0) + ((c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)) * hz
                others = max((b1 - b0) - mine, 0) / max(t1 - t0, 1)
                runs[name].append((rps, p50, p99, others, timeouts))
                print(f"round {rnd + 1} {name}: {rps:,.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
                      f"other processes {others:.0%} of the CPU" + (f"  {timeouts} timeouts" if timeouts else ""),
                      flush=True)

        load = open("/proc/loadavg").read().split()[:3]
        print()
        print(f"{ROUNDS} rounds of {DURATION}, {CONNS} connections, {THREADS} wrk threads, {os.cpu_count()} CPUs; "
              f"load average at the end {' '.join(load)}")
        print()
        print("| | configuration | req/s (median) | rounds | spread | p50 | p99 | others' CPU | timeouts |")
        print("|---|---|---:|---|---:|---:|---:|---:|---:|")
        med = {}
        for name, label, _ in configs:
            rs = [r[0] for r in runs[name]]
            med[name] = statistics.median(rs)
            spread = (max(rs) - min(rs)) / med[name]
            print(f"| ({name}) | {label} | {med[name]:,.0f} | {' / '.join(f'{x:,.0f}' for x in rs)} | {spread:.1%} | "
                  f"{statistics.median(r[1] for r in runs[name]):.2f} ms | {statistics.median(r[2] for r in runs[name]):.2f} ms | "
                  f"{statistics.median(r[3] for r in runs[name]):.0%} | {sum(r[4] for r in runs[name])} |")
        ratios = [a[0] and b[0] / a[0] for a, b in zip(runs["n0"], runs["n1"])]
        print()
        print(f"(n1)/(n0): {med['n1'] / med['n0']:.3f} of the medians; per round "
              f"{', '.join(f'{x:.3f}' for x in ratios)}")
        return 0
    except Exception:
        svc.stop(failed=True)
        raise
    finally:
        svc.stop()


if __name__ == "__main__":
    sys.exit(main())
