#!/usr/bin/env python3
"""specdec serve on loopback against the bundled pair, driven with http.client: plain and streamed
completions and chat completions equal to `specdec generate` (greedy), a session that reuses its cache,
4 concurrent clients, a disconnect mid-stream that frees its slot, every bad input's error (the server
keeps serving), the API key, a full queue, and a clean stop on SIGINT/SIGTERM."""
import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time

SPECDEC = sys.argv[1]
KEY = "test-key"
COMMON = ["-t", "1", "--temp", "0", "--ignore-eos", "-c", "512"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def start(*flags):
    p = subprocess.Popen([SPECDEC, "serve", "--port", "0", *COMMON, *flags], stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    if "listening on http://127.0.0.1:" not in line:
        print("server did not start:", line, p.stderr.read(), file=sys.stderr)
        sys.exit(1)
    port = int(line.split("127.0.0.1:")[1].split()[0])
    threading.Thread(target=p.stderr.read, daemon=True).start()  # keep its stderr drained
    return p, port


def request(port, method, path, body=None, key=KEY, raw=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = {"Content-Type": "application/json", **(headers or {})}
    if key:
        h["Authorization"] = "Bearer " + key
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    return r.status, text


def post(port, path, body, **kw):
    status, text = request(port, "POST", path, body, **kw)
    return status, json.loads(text) if text.startswith("{") else text


def stream(port, path, body):
    """The events of a stream, as decoded JSON (the last one is the string [DONE])."""
    status, text = request(port, "POST", path, dict(body, stream=True))
    assert status == 200, (status, text)
    events = [e[len("data: "):] for e in text.split("\n\n") if e.startswith("data: ")]
    return [e if e == "[DONE]" else json.loads(e) for e in events]


def generate(prompt, n, chat=False):
    cmd = [SPECDEC, "generate", "-p", prompt, "-n", str(n), "--json", *COMMON]
    if chat:
        cmd += ["--chat", "--chat-template", "chatml"]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["text"]


def stop(server, sig, name):
    server.send_signal(sig)
    try:
        check(server.wait(timeout=20) == 0, name + " stops the server cleanly")
    except subprocess.TimeoutExpired:
        server.kill()
        check(False, name + " stops the server")


def recv_until(sock, marker):
    got = b""
    while marker not in got:
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def metric(port, name):
    _, text = request(port, "GET", "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


server, port = start("--chat-template", "chatml", "--api-key", KEY, "-np", "2", "--queue", "8")
try:
    # health needs no key; everything else does
    check(request(port, "GET", "/health", key=None) == (200, '{"status":"ok"}'), "health")
    check(request(port, "GET", "/v1/models", key=None)[0] == 401, "401 without a key")
    check(request(port, "GET", "/v1/models", key="wrong")[0] == 401, "401 with a wrong key")
    status, models = request(port, "GET", "/v1/models")
    check(status == 200 and json.loads(models)["data"][0]["id"] == "codepair-target-q4_0.gguf", "models")

    # plain and streamed completions equal generate's greedy output
    prompt = "def fib(n):"
    want = generate(prompt, 24)
    status, r = post(port, "/v1/completions", {"prompt": prompt, "max_tokens": 24, "model": "x", "foo": 1})
    check(status == 200 and r["choices"][0]["text"] == want, f"completion {r} != {want!r}")
    check(r["choices"][0]["finish_reason"] == "length" and r["usage"]["completion_tokens"] == 24, "usage")
    t = r["timings"]
    for k in ("prompt_n", "prompt_ms", "predicted_n", "predicted_ms", "predicted_per_second", "draft_n",
              "draft_n_accepted", "acceptance_by_position"):
        check(k in t, "timings." + k)
    ev = stream(port, "/v1/completions", {"prompt": prompt, "max_tokens": 24})
    check(ev[-1] == "[DONE]", "stream ends with [DONE]")
    check("".join(e["choices"][0]["text"] for e in ev[:-1]) == want, "streamed completion")
    check(ev[-2]["choices"][0]["finish_reason"] == "length" and "timings" in ev[-2], "stream's last chunk")

    # a session: the next prompt extends the last one and reuses the cached prefix
    status, r2 = post(port, "/v1/completions", {"prompt": prompt + want + "\n", "max_tokens": 4})
    check(status == 200 and r2["timings"]["cache_n"] >= 7, f"cache reused: {r2.get('timings')}")
    # other sampling settings (and a seed) change the slot's sampling, keeping its cache; greedy again
    # after them gives the greedy answer
    status, r3 = post(port, "/v1/completions", {"prompt": prompt + want + "\n", "max_tokens": 4,
                                                 "temperature": 0.7, "seed": 3})
    check(status == 200 and r3["timings"]["cache_n"] >= 7, f"sampled request reused the cache: {r3.get('timings')}")
    status, r4 = post(port, "/v1/completions", {"prompt": prompt, "max_tokens": 24})
    check(status == 200 and r4["choices"][0]["text"] == want and r4["timings"]["cache_n"] == r4["usage"]["prompt_tokens"] - 1,
          f"greedy after sampled: {r4}")

    # chat completions in the chatml template, plain and streamed
    msgs = [{"role": "user", "content": "hello"}]
    want_chat = generate("hello", 16, chat=True)
    status, r = post(port, "/v1/chat/completions", {"messages": msgs, "max_tokens": 16})
    check(status == 200 and r["choices"][0]["message"]["content"] == want_chat, f"chat {r} != {want_chat!r}")
    ev = stream(port, "/v1/chat/completions", {"messages": msgs, "max_tokens": 16})
    check(ev[0]["choices"][0]["delta"].get("role") == "assistant" and ev[-1] == "[DONE]", "chat stream")
    check("".join(e["choices"][0]["delta"].get("content", "") for e in ev[:-1]) == want_chat, "streamed chat")

    # stop strings end the answer before them
    cut = want[2:5]
    status, r = post(port, "/v1/completions", {"prompt": prompt, "max_tokens": 24, "stop": [cut]})
    check(r["choices"][0]["text"] == want[:want.index(cut)] and r["choices"][0]["finish_reason"] == "stop",
          f"stop {r['choices'][0]}")

    # 4 concurrent clients x 3 requests (2 slots, the rest wait in the queue)
    prompts = ["int main(", "for i in range(", "class Node:", "import os\n"]
    expected = {p: post(port, "/v1/completions", {"prompt": p, "max_tokens": 16})[1]["choices"][0]["text"]
                for p in prompts}
    results = []

    def client(p):
        for _ in range(3):
            s, r = post(port, "/v1/completions", {"prompt": p, "max_tokens": 16})
            results.append(s == 200 and r["choices"][0]["text"] == expected[p])

    threads = [threading.Thread(target=client, args=(p,)) for p in prompts]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    check(len(results) == 12 and all(results), f"concurrent: {results}")

    # a client that disconnects mid-stream cancels its generation and frees the slot
    before = metric(port, "specdec_tokens_predicted_total")
    sock = socket.create_connection(("127.0.0.1", port))
    body = json.dumps({"prompt": "x", "max_tokens": 480, "stream": True}).encode()
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
                 b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
                 b"\r\n\r\n" + body)
    check(b"data: " in recv_until(sock, b"data: "), "disconnect: the stream started")
    sock.close()
    deadline = time.time() + 10
    while metric(port, "specdec_slots_busy") > 0 and time.time() < deadline:
        time.sleep(0.05)
    check(metric(port, "specdec_slots_busy") == 0, "the slot is freed after a disconnect")
    used = metric(port, "specdec_tokens_predicted_total") - before
    print(f"disconnect: {used:.0f} of 480 tokens generated", flush=True)
    check(used < 480, f"the disconnect cancelled generation ({used:.0f} of 480 tokens)")

    # bad input: OpenAI-style errors with the right status, and the server keeps serving
    long_prompt = "word " * 2000
    bad = [
        ("invalid JSON", "POST", "/v1/completions", "{\"prompt\": ", 400),
        ("text after JSON", "POST", "/v1/completions", '{"prompt": "a"} x', 400),
        ("not an object", "POST", "/v1/completions", "[1]", 400),
        ("wrong type", "POST", "/v1/completions", '{"prompt": "a", "max_tokens": "9"}', 400),
        ("fractional max_tokens", "POST", "/v1/completions", '{"prompt": "a", "max_tokens": 1.5}', 400),
        ("wrong stream type", "POST", "/v1/completions", '{"prompt": "a", "stream": 1}', 400),
        ("empty prompt", "POST", "/v1/completions", '{"prompt": ""}', 400),
        ("no prompt", "POST", "/v1/completions", "{}", 400),
        ("over-long prompt", "POST", "/v1/completions", json.dumps({"prompt": long_prompt}), 400),
        ("max_tokens beyond the context", "POST", "/v1/completions", '{"prompt": "a", "max_tokens": 100000}', 400),
        ("temperature out of range", "POST", "/v1/completions", '{"prompt": "a", "temperature": -1}', 400),
        ("no messages", "POST", "/v1/chat/completions", '{"messages": []}', 400),
        ("bad message", "POST", "/v1/chat/completions", '{"messages": [{"role": "user"}]}', 400),
        ("bad role", "POST", "/v1/chat/completions", '{"messages": [{"role": "x", "content": "a"}]}', 400),
        ("body over the limit", "POST", "/v1/completions", "{\"prompt\": \"" + "a" * (1 << 21) + "\"}", 413),
        ("unknown endpoint", "GET", "/v1/nothing", None, 404),
        ("wrong method", "GET", "/v1/completions", None, 405),
    ]
    for what, method, path, raw, want_status in bad:
        try:
            status, text = request(port, method, path, raw=raw)
        except (ConnectionError, http.client.HTTPException) as e:  # 413 may close before the body is sent
            status, text = 413, '{"error": {"code": 413, "message": "%s", "type": "x"}}' % e
        err = json.loads(text).get("error", {}) if text.startswith("{") else {}
        check(status == want_status and err.get("code") == want_status and err.get("message") and err.get("type"),
              f"{what}: {status} {text[:200]}")
        check(request(port, "GET", "/health")[0] == 200, f"serving after {what}")
    status, r = post(port, "/v1/completions", {"prompt": prompt, "max_tokens": 24})
    check(status == 200 and r["choices"][0]["text"] == want, "a good request after the bad ones")
    check(metric(port, "specdec_requests_waiting") == 0, "metrics: queue length")
finally:
    stop(server, signal.SIGINT, "SIGINT")

# a full queue gives 503; SIGTERM ends a stream in flight
server, port = start("-np", "1", "--queue", "0")
try:
    sock = socket.create_connection(("127.0.0.1", port))
    body = json.dumps({"prompt": "x", "max_tokens": 480, "stream": True}).encode()
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    recv_until(sock, b"data: ")
    status, r = post(port, "/v1/completions", {"prompt": "a", "max_tokens": 2}, key=None)
    busy = metric(port, "specdec_slots_busy")
    print(f"second request while one streams: {status}", flush=True)
    check(status == 503 and r["error"]["code"] == 503 or busy == 0, f"full queue: {status} {r}")
    sock.close()
finally:
    stop(server, signal.SIGTERM, "SIGTERM")

if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("serve: all checks passed")
