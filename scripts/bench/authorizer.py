#!/usr/bin/env python3
"""Benchmark the API authorizer against a Node.js authorizer doing the same, in one run.

Both get the same task root (authz.json, the example's policies), the same pool keys (an
RSA key made here, its JWKS served on 127.0.0.1) and the same REQUEST events (payload 2.0,
GET /projects/{projectId} with a Cognito-shaped access token, alternately for a project the
user has and one they have not). For each: init (process start to its first request for an
event: policies, schema and key set loaded), per-call latency (event handed out -> answer),
its own code (the decision line's microseconds: JWT check + Cedar), peak memory (VmHWM).
Figures are for comparing the two in the same run, not absolutes.
"""
import base64, json, os, statistics, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
from trigger import Runtime, init_once, peak_kib, lambda_env  # noqa: E402

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402

POOL = "us-east-1_BENCH"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
CLIENT = "benchclient"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def keys():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    jwk = {"kid": "bench-kid", "kty": "RSA", "alg": "RS256", "use": "sig",
           "n": b64(numbers.n.to_bytes(256, "big")), "e": b64(numbers.e.to_bytes(3, "big"))}
    return key, {"keys": [jwk]}


def token(key):
    now = int(time.time())
    header = {"kid": "bench-kid", "alg": "RS256"}
    claims = {"sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "cognito:groups": ["engineers"], "iss": ISSUER,
              "version": 2, "client_id": CLIENT, "token_use": "access", "scope": "openid profile",
              "auth_time": now, "exp": now + 3600, "iat": now, "jti": "x", "username": "jane",
              "projects": ["alpha", "gamma"]}
    signing = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing}.{b64(sig)}"


def serve_jwks(jwks):
    body = json.dumps(jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/{POOL}/.well-known/jwks.json"


def event(jwt, project):
    return {"version": "2.0", "type": "REQUEST", "routeKey": "GET /projects/{projectId}",
            "rawPath": f"/projects/{project}", "identitySource": [f"Bearer {jwt}"],
            "headers": {"authorization": f"Bearer {jwt}"}, "pathParameters": {"projectId": project},
            "requestContext": {"http": {"method": "GET", "path": f"/projects/{project}"}}}


def bench(name, argv, env, jwt, invocations, warmup=50):
    rt = Runtime()
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=lambda_env(rt, env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    total = warmup + invocations
    for i in range(total):
        rt.events.put((f"r{i}", event(jwt, "alpha" if i % 2 == 0 else "beta")))
    deadline = time.time() + 120
    while len(rt.done) < total and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    peak = peak_kib(proc.pid) if proc.poll() is None else 0
    proc.terminate()
    proc.wait(timeout=10)
    rt.server.shutdown()
    if len(rt.done) < total:
        sys.exit(f"{name}: only {len(rt.done)} of {total} calls answered; output:\n" + "".join(lines[-20:]))
    answers = [json.loads(rt.done[f"r{i}"][1])["isAuthorized"] for i in range(total)]
    if answers[:2] != [True, False]:
        sys.exit(f"{name}: expected ALLOW for alpha and DENY for beta, got {answers[:2]}; output:\n" + "".join(lines[-10:]))
    lat = sorted((rt.done[f"r{i}"][0] - rt.sent[f"r{i}"]) * 1000 for i in range(warmup, total))
    own = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "decision" in rec and "micros" in rec:
            own.append(float(rec["micros"]) / 1000)
    own = sorted(own[warmup:])
    pct = lambda xs, p: xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")
    return {"name": name, "init_ms": (rt.first_next - started) * 1000, "p50_ms": pct(lat, 0.5),
            "p99_ms": pct(lat, 0.99), "own_p50_ms": pct(own, 0.5), "own_p99_ms": pct(own, 0.99),
            "peak_mib": peak / 1024}


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--rust", required=True, help="the authorizer, built for this machine with the lambda profile")
    ap.add_argument("--root", required=True, help="the task root: authz.json, policies/, schema.cedarschema")
    ap.add_argument("--node-dir", required=True, help="folder with node-authorizer.js and node_modules")
    ap.add_argument("--invocations", type=int, default=1000)
    ap.add_argument("--inits", type=int, default=11)
    ap.add_argument("--zip-bytes", type=int, default=0)
    args = ap.parse_args()
    key, jwks = keys()
    url = serve_jwks(jwks)
    jwt = token(key)
    env = {"LAMBDA_TASK_ROOT": args.root, "AUTHZ_USER_POOL_ID": POOL, "AUTHZ_ISSUER": ISSUER,
           "AUTHZ_CLIENTS": CLIENT, "AUTHZ_JWKS_URL": url}
    node_env = dict(env, NODE_PATH=os.path.join(args.node_dir, "node_modules"))
    rust_argv = [args.rust]
    node_argv = ["node", os.path.join(args.node_dir, "node-authorizer.js")]
    results = [bench("rust (this project)", rust_argv, env, jwt, args.invocations),
               bench("node.js (aws-jwt-verify + cedar-wasm)", node_argv, node_env, jwt, args.invocations)]
    # Init again, interleaved, one start of each in turn, so a busy moment weighs on both.
    inits = [(init_once(rust_argv, env), init_once(node_argv, node_env)) for _ in range(args.inits)]
    results[0]["init_ms"] = statistics.median(i[0] for i in inits)
    results[1]["init_ms"] = statistics.median(i[1] for i in inits)
    print(f"| authorizer | init, median of {args.inits} (ms) | call p50 (ms) | call p99 (ms) | own code p50 (ms) | own code p99 (ms) | peak RSS (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['name']} | {r['init_ms']:.1f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['own_p50_ms']:.3f} | {r['own_p99_ms']:.3f} | {r['peak_mib']:.1f} |")
    rust, node = results
    print(f"\ninit speed-up over Node.js: {node['init_ms'] / rust['init_ms']:.1f}x; own code p50 {node['own_p50_ms'] / rust['own_p50_ms']:.1f}x faster; "
          f"zip: {args.zip_bytes / 1048576:.2f} MiB ({args.zip_bytes} bytes); {args.invocations} warm calls each")
    ok = rust["init_ms"] < 20 and rust["own_p50_ms"] < 0.3 and args.zip_bytes <= 4 * 1048576 and node["init_ms"] >= 10 * rust["init_ms"]
    print("targets (init < 20 ms, own code p50 < 0.3 ms, zip <= 4 MiB, init >= 10x faster than Node.js): " + ("met" if ok else "NOT met"))



if __name__ == "__main__":
    main()
