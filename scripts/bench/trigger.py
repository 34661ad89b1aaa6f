#!/usr/bin/env python3
"""Benchmark the trigger against the blog's Node.js trigger, in one run on this machine.

For each trigger it starts a fake Lambda Runtime API on 127.0.0.1, spawns the function
process against it (DynamoDB is the local emulator's), and measures:
  - init: process start to its first request for an event (ready for the first login),
  - per-login latency: event handed out -> response received, over many warm invocations,
  - for ours, the time spent in our own code (total minus the GetItem round trip, from the
    trigger's own log line),
  - peak memory (VmHWM) of the process.
Prints a Markdown table; figures are for comparing the two in the same run, not absolutes.
"""
import json, os, statistics, subprocess, sys, threading, time, queue, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EVENT = {
    "version": "2", "triggerSource": "TokenGeneration_Authentication", "region": "us-east-1",
    "userPoolId": "us-east-1_BENCH", "userName": "bench-user",
    "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "benchclient"},
    "request": {"userAttributes": {"sub": "x"}, "groupConfiguration": {"groupsToOverride": [], "iamRolesToOverride": [], "preferredRole": None},
                "scopes": ["aws.cognito.signin.user.admin"]},
    "response": {"claimsAndScopeOverrideDetails": None},
}


class Runtime:
    """A minimal Lambda Runtime API: hands out queued events, records when answers arrive."""

    def __init__(self):
        self.events = queue.Queue()
        self.first_next = None
        self.sent = {}
        self.done = {}
        self.errors = []
        rt = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if rt.first_next is None:
                    rt.first_next = time.perf_counter()
                rid, body = rt.events.get()
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 5000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                rt.sent[rid] = time.perf_counter()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                parts = self.path.split("/")
                if "error" in self.path:
                    rt.errors.append(body.decode(errors="replace"))
                if len(parts) > 4 and parts[3] == "invocation":
                    rt.done[parts[4]] = (time.perf_counter(), body)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"


def peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def lambda_env(rt, env):
    return dict(os.environ, **env, AWS_LAMBDA_RUNTIME_API=rt.address, AWS_LAMBDA_FUNCTION_NAME="bench",
                AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                AWS_LAMBDA_LOG_STREAM_NAME="bench", AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/bench",
                AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1")


def init_once(argv, env):
    """One process start: milliseconds to its first request for an event."""
    return init_ms(argv, env, 1)


def init_ms(argv, env, runs):
    """Median of `runs` process starts: start to the first request for an event."""
    times = []
    for _ in range(runs):
        rt = Runtime()
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=lambda_env(rt, env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while rt.first_next is None and time.time() < deadline and proc.poll() is None:
            time.sleep(0.0005)
        if rt.first_next is None:
            sys.exit(f"{argv[0]} never asked for an event")
        times.append((rt.first_next - started) * 1000)
        proc.kill()
        proc.wait()
        rt.server.shutdown()
    return statistics.median(times)


def bench(name, argv, env, invocations, warmup, expect="p-100"):
    rt = Runtime()
    full_env = lambda_env(rt, env)
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    total = warmup + invocations
    for i in range(total):
        rt.events.put((f"r{i}", EVENT))
    deadline = time.time() + 120
    while len(rt.done) < total and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    peak = peak_kib(proc.pid) if proc.poll() is None else 0
    proc.terminate()
    proc.wait(timeout=10)
    rt.server.shutdown()
    if len(rt.done) < total:
        sys.exit(f"{name}: only {len(rt.done)} of {total} invocations answered; output:\n" + "".join(lines[-20:]))
    if rt.errors:
        sys.exit(f"{name}: invocations failed: {rt.errors[:2]}")
    last = json.loads(rt.done[f"r{total - 1}"][1])
    claims = (last.get("response") or {})
    if expect and expect not in json.dumps(claims):
        sys.exit(f"{name}: the answer lacks the row's claims: {json.dumps(claims)}")
    lat = sorted((rt.done[f"r{i}"][0] - rt.sent[f"r{i}"]) * 1000 for i in range(warmup, total))
    own = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("message") == "login" and "total_us" in rec:
            own.append((float(rec["total_us"]) - float(rec["lookup_us"])) / 1000)
    own = sorted(own[warmup:])
    pct = lambda xs, p: xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")
    return {
        "name": name, "init_ms": (rt.first_next - started) * 1000, "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99),
        "own_p50_ms": pct(own, 0.5), "own_p99_ms": pct(own, 0.99), "peak_mib": peak / 1024, "response": claims,
    }


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--rust", required=True, help="the trigger's bootstrap, built for this machine")
    ap.add_argument("--hello", help="the lambda_runtime hello world (scripts/bench/hello), same profile: the floor")
    ap.add_argument("--init-only", action="store_true", help="only init, ours against the hello world (median of --runs)")
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--node-dir", help="folder with harness.js, blog-trigger.js and node_modules")
    ap.add_argument("--table", required=True)
    ap.add_argument("--invocations", type=int, default=500)
    ap.add_argument("--zip-bytes", type=int, default=0)
    args = ap.parse_args()
    rust_cfg = json.dumps({"table": args.table, "claims": [{"attribute": "projects"}]})
    rust_env = {"TRIGGER_CONFIG": rust_cfg, "AWS_ENDPOINT_URL": args.endpoint}
    if args.init_only:
        # Interleaved, one start of each in turn, so that a busy moment on a shared machine
        # weighs on both alike.
        pairs = [(init_once([args.rust], rust_env), init_once([args.hello], {})) for _ in range(args.runs)]
        ours = statistics.median(p[0] for p in pairs)
        floor = statistics.median(p[1] for p in pairs)
        print("| function (built with the lambda profile, run natively) | init, median of %d (ms) |" % args.runs)
        print("| --- | ---: |")
        print(f"| the trigger | {ours:.1f} |")
        print(f"| lambda_runtime hello world (the floor) | {floor:.1f} |")
        print(f"\nthe trigger's init is {ours / floor:.1f}x the floor's ({ours - floor:+.1f} ms)")
        return
    results = [
        bench("rust (this project)", [args.rust], {"TRIGGER_CONFIG": rust_cfg, "AWS_ENDPOINT_URL": args.endpoint}, args.invocations, 20),
        bench("node.js (blog, aws-sdk v2)", ["node", os.path.join(args.node_dir, "harness.js")],
              {"AWS_ENDPOINT_URL": args.endpoint, "NODE_PATH": os.path.join(args.node_dir, "node_modules")}, args.invocations, 20),
    ]
    if args.hello:
        results.append(bench("lambda_runtime hello world (floor)", [args.hello], {}, args.invocations, 20, expect=None))
    for r in results:
        print(f"{r['name']}: response {json.dumps(r['response'])}", file=sys.stderr)
    print("| trigger | init (ms) | login p50 (ms) | login p99 (ms) | own code p50 (ms) | own code p99 (ms) | peak RSS (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        own = "n/a" if r["own_p50_ms"] != r["own_p50_ms"] else f"{r['own_p50_ms']:.3f}"
        own99 = "n/a" if r["own_p99_ms"] != r["own_p99_ms"] else f"{r['own_p99_ms']:.3f}"
        print(f"| {r['name']} | {r['init_ms']:.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {own} | {own99} | {r['peak_mib']:.1f} |")
    rust, node = results[:2]
    print(f"\ninit speed-up over Node.js: {node['init_ms'] / rust['init_ms']:.1f}x; zip: {args.zip_bytes / 1048576:.2f} MiB ({args.zip_bytes} bytes); "
          f"{args.invocations} warm invocations each")


if __name__ == "__main__":
    main()
