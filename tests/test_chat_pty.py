#!/usr/bin/env python3
"""specdec chat through a pseudo-terminal, as a user meets it: two turns with the bundled (template-less)
pair and --chat-template chatml; each answer must equal what `specdec generate` gives for the same rendered
prompt (rendered by `specdec chat-template`), and a Ctrl-C in the middle of a long answer stops that answer
and leaves the loop asking for the next turn.

Usage: test_chat_pty.py PATH/TO/specdec"""
import json
import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import time

SPECDEC = sys.argv[1]
FLAGS = ["--chat-template", "chatml", "--temp", "0", "-t", "1", "-td", "1"]
N = 24
STOP = "<|im_end|>"
fails = 0


def fail(msg):
    global fails
    fails += 1
    print("FAIL:", msg)


def generate_answer(messages, tmp):
    """The answer `generate` gives for the rendered conversation, cut at the end-of-turn text as chat cuts it."""
    conv, prompt = os.path.join(tmp, "conv.json"), os.path.join(tmp, "prompt.txt")
    with open(conv, "w") as f:
        json.dump(messages, f)
    with open(prompt, "wb") as f:
        f.write(subprocess.run([SPECDEC, "chat-template", "--chat-template", "chatml", "--messages", conv],
                               check=True, capture_output=True).stdout)
    out = subprocess.run([SPECDEC, "generate", "-f", prompt, "--parse-special", "--json", "-n", str(N)]
                         + FLAGS[2:], check=True, capture_output=True).stdout
    return json.loads(out)["text"].split(STOP)[0]


class Terminal:
    """specdec chat on the slave side of a pty; everything it writes (stdout and stderr) is read back."""

    def __init__(self, args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(SPECDEC, [SPECDEC, "chat"] + args)
        self.seen = b""

    def read_until(self, needle, timeout=60):
        """Reads until needle has appeared after the text read so far; returns what came before it."""
        start, deadline = len(self.seen), time.time() + timeout
        while needle not in self.seen[start:]:
            left = deadline - time.time()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise TimeoutError("no %r in %r" % (needle, self.seen[start:][-400:]))
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk:
                raise EOFError("chat ended; it wrote %r" % self.seen[start:][-400:])
            self.seen += chunk
        return self.seen[start:start + self.seen[start:].index(needle)]

    def type(self, text):
        os.write(self.fd, text.encode())


def answer_of(screen, line):
    """The answer on screen after the echoed line (the terminal writes \\r\\n for \\n)."""
    text = screen.decode("utf-8", "replace").replace("\r\n", "\n")
    return text.split(line + "\n", 1)[-1].rsplit("\n[", 1)[0]


def session(args, talk):
    """Runs talk(term) against a chat started with args, then ends it with Ctrl-D: it must exit 0."""
    term = Terminal(args)
    try:
        term.read_until(b"> ")
        talk(term)
        term.type("\x04")  # Ctrl-D: the chat ends
        _, status = os.waitpid(term.pid, 0)
        if os.WEXITSTATUS(status) != 0:
            fail("chat exited %d after Ctrl-D" % os.WEXITSTATUS(status))
    except (TimeoutError, EOFError) as e:
        fail(str(e))
        os.kill(term.pid, signal.SIGKILL)
        os.waitpid(term.pid, 0)


def two_turns(term, tmp):
    messages = []
    for line in ["Write a function", "Now test it"]:
        term.type(line + "\n")
        screen = term.read_until(b"\n> ")
        got = answer_of(screen, line)
        messages.append({"role": "user", "content": line})
        want = generate_answer(messages, tmp)
        messages.append({"role": "assistant", "content": want})
        if os.environ.get("VERBOSE"):
            print("turn %d: %r" % (len(messages) // 2, got))
        if not want or got.rstrip("\n") != want.rstrip("\n"):
            fail("turn %d: chat answered %r, generate %r" % (len(messages) // 2, got, want))
        if b"kept]" not in screen or (len(messages) > 2 and b" 0 kept]" in screen):
            fail("turn %d did not keep the cache: %r" % (len(messages) // 2, screen[-200:]))


def interrupt_answer(term):
    """A Ctrl-C mid-answer (a long one: -n is per answer) stops it, not the chat."""
    term.type("Write a long story\n")
    term.read_until(b"story\r\n")
    time.sleep(0.3)
    term.type("\x03")  # the terminal's interrupt character: SIGINT to the foreground process
    screen = term.read_until(b"\n> ", timeout=30)
    if b"[stopped;" not in screen:
        fail("Ctrl-C did not report a stopped answer: %r" % screen[-300:])
    term.type("And another\n")
    screen = term.read_until(b"\n> ", timeout=120)
    if b"kept]" not in screen:
        fail("no answer after the Ctrl-C: %r" % screen[-300:])


def main():
    with tempfile.TemporaryDirectory() as tmp:
        session(FLAGS + ["-n", str(N)], lambda term: two_turns(term, tmp))
    session(FLAGS + ["-n", "100000", "-c", "4096"], interrupt_answer)


main()
if fails:
    print("test_chat_pty: %d failures" % fails)
    sys.exit(1)
print("test_chat_pty: ok")
