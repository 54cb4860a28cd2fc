#!/usr/bin/env python3
"""Load benchmark of `specdec serve` (not a test): C concurrent clients (default 1, 2, 4), each sending R
streamed /v1/completions requests in turn, with speculation on (-md DRAFT) and off (the same server
without the draft), in one run. Per request it measures what a client sees: the time to the first token
and the decode rate after it (completion tokens / seconds from the first token to the last event). Beside
them, `specdec generate` on the same prompts gives the rate without the server, the aim being that one
client sees the same rate.

usage: bench/serve_load.py SPECDEC -m TARGET -md DRAFT [--prompts FILE.jsonl] [--clients 1,2,4]
                           [--requests R] [-n TOKENS] [-t THREADS] [--json OUT]
Prints a Markdown table (medians and p95 over all requests of a row); --json writes every request."""
import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time


def start_server(args, draft, slots):
    cmd = [args.specdec, "serve", "--port", "0", "-m", args.model, "-t", str(args.threads), "--temp", "0",
           "--ignore-eos", "-np", str(slots), "-c", str(args.ctx)]
    cmd += ["-md", draft] if draft else ["--no-draft"]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    if "listening on http://127.0.0.1:" not in line:
        sys.exit("server did not start: " + line + p.stderr.read())
    threading.Thread(target=p.stderr.read, daemon=True).start()
    return p, int(line.split("127.0.0.1:")[1].split()[0])


def one_request(port, prompt, n):
    """(seconds to the first token, completion tokens, seconds from the first token to the end, the server's
    own timings.predicted_per_second)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    body = {"prompt": prompt, "max_tokens": n, "temperature": 0, "stream": True}
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        sys.exit(f"request failed: {r.status} {r.read()[:200]}")
    t_first = None
    usage = timings = None
    buf = b""
    while True:
        chunk = r.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            if not event.startswith(b"data: ") or event == b"data: [DONE]":
                continue
            doc = json.loads(event[6:])
            if t_first is None and doc["choices"] and doc["choices"][0].get("text"):
                t_first = time.perf_counter()
            usage = doc.get("usage") or usage
            timings = doc.get("timings") or timings
    t_end = time.perf_counter()
    c.close()
    t_first = t_first or t_end
    return t_first - t0, usage["completion_tokens"], t_end - t_first, timings["predicted_per_second"]


def run_clients(port, prompts, n_clients, n_requests, n):
    results, lock = [], threading.Lock()

    def client(ci):
        for ri in range(n_requests):
            r = one_request(port, prompts[(ci * n_requests + ri) % len(prompts)], n)
            with lock:
                results.append(r)

    threads = [threading.Thread(target=client, args=(ci,)) for ci in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def generate_rate(args, draft, prompt):
    cmd = [args.specdec, "generate", "-m", args.model, "-t", str(args.threads), "--temp", "0", "--ignore-eos",
           "-n", str(args.n), "-c", str(args.ctx), "-p", prompt, "--json"]
    cmd += ["-md", draft] if draft else ["--no-draft"]
    doc = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return doc["tps"]


def p95(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("specdec")
    ap.add_argument("-m", dest="model", required=True)
    ap.add_argument("-md", dest="draft", required=True)
    ap.add_argument("--prompts", default="bench/prompts/mixed.jsonl")
    ap.add_argument("--clients", default="1,2,4")
    ap.add_argument("--requests", type=int, default=3)
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("-t", dest="threads", type=int, default=2)
    ap.add_argument("-c", dest="ctx", type=int, default=2048)
    ap.add_argument("--json")
    args = ap.parse_args()
    prompts = [json.loads(line)["prompt"] for line in open(args.prompts) if line.strip()]
    rows, raw = [], []
    for label, draft in (("on", args.draft), ("off", None)):
        gen = [generate_rate(args, draft, p) for p in prompts[: args.requests]]
        rows.append((label, "generate", 0, [], [statistics.median(gen)], []))
        for c in [int(x) for x in args.clients.split(",")]:
            server, port = start_server(args, draft, c)
            try:
                res = run_clients(port, prompts, c, args.requests, args.n)
            finally:
                server.terminate()
                server.wait(timeout=30)
            ttft = [r[0] for r in res]
            rate = [r[1] / r[2] for r in res if r[2] > 0]
            rows.append((label, "serve", c, ttft, rate, [r[3] for r in res]))
            raw += [{"speculation": label, "clients": c, "ttft_s": r[0], "tokens": r[1], "decode_s": r[2],
                     "server_predicted_per_second": r[3]} for r in res]
    print("| speculation | path | clients | TTFT median / p95 (ms) | tok/s per client median / p95-low |"
          " server's predicted_per_second median |")
    print("|---|---|---|---|---|---|")
    for label, path, c, ttft, rate, server_rate in rows:
        t = f"{statistics.median(ttft) * 1e3:.0f} / {p95(ttft) * 1e3:.0f}" if ttft else "-"
        low = sorted(rate)[max(0, len(rate) - 1 - int(round(0.95 * (len(rate) - 1))))]
        sr = f"{statistics.median(server_rate):.1f}" if server_rate else "-"
        print(f"| {label} | {path} | {c or '-'} | {t} | {statistics.median(rate):.1f} / {low:.1f} | {sr} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()
