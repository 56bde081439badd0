#!/usr/bin/env python3
"""Runs every ```sh block of README.md, as the README shows it, against the
built ./caddy and the demo.

The blocks are read from README.md on every run, so an edit of the README
is what is tested, never a copy of it.

- A block with `$ ` prompts is a transcript: each `$ ` line is a command,
  and the lines under it, up to a blank line or a comment, are its answer.
  In other blocks every line is a command (a trailing `\\`, or a quote
  left open, joins the next line), and a comment right under one that holds JSON (`# {...}`) is its
  answer.
- An answer that is JSON is compared as JSON: the same keys, the same
  strings (a `…` in a string stands for any text there), numbers and
  booleans of the same type (times and ids are shown for their shape).
  Any other answer is compared as text. A command that prints something
  the README does not show, and that has no check here, fails.
- Commands run in a scratch directory, one bash each, with `caddy` on
  PATH being ./caddy; a variable a command sets (`TOKEN=$(...)`) is kept
  for the commands after it, in that block and in later ones.
- `make -f xcaddy.mk run [BACKEND=...]` starts the demo (with `-o build`:
  the smoke target has just built ./caddy), on its fixed ports. Against the
  default one every other runnable block runs, in README order; against
  each other backend, the quick start's own blocks. The backends named in
  the quick start's BACKEND comment are each run that way too.
- The commands that cannot run here are in SKIP below, with the reason.
  A command neither runnable nor listed fails, and so does an entry of
  SKIP that the README no longer has.
"""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DEMO_PORTS = {8080: "the demo edge", 8081: "the simulator", 2020: "wechat_api", 9000: "the example backend", 2019: "Caddy's admin endpoint"}

# Commands that cannot run here, each with the reason. Keys are the
# command as shlex reads it (comments dropped, words joined by a space).
SKIP = {
    "git clone https://github.com/caddy-wechat/caddy-wechat && cd caddy-wechat":
        "it needs the internet; this test runs in the checkout it would make",
    "make -f xcaddy.mk test":
        "this is the target that runs this script: it would recurse",
    "make -f xcaddy.mk build":
        "the smoke target's prerequisite: it has just built the ./caddy this script runs",
    "xcaddy build --with github.com/caddy-wechat/caddy-wechat":
        "it builds the published module from the internet (here the module proxy answers 403); "
        "`make -f xcaddy.mk build` is its local form, and its modules are checked by TestProductionModules",
    "xcaddy build --with github.com/caddy-wechat/caddy-wechat --with github.com/caddy-wechat/caddy-wechat/mock":
        "it builds the published module from the internet (here the module proxy answers 403); "
        "`make -f xcaddy.mk build` is this very build of the local tree",
}

# Every fence a reader would take for shell commands.
SHELL_FENCES = {"```sh", "```bash", "```shell", "```console", "```zsh"}

DEMO_RE = re.compile(r"^make -f xcaddy\.mk run(?: BACKEND=([a-z]+))?$")


def read_pem(path):
    with open(path) as f:
        return f.read()


# Checks of commands whose output the README does not show.
CHECKS = {
    "caddy wechat keygen": lambda out, err, cwd: (
        re.fullmatch(r"[A-Za-z0-9_-]{64}\n", out), "64 characters of base64url and a newline"),
    "caddy wechat keygen --algorithm EdDSA > token_key.pem": lambda out, err, cwd: (
        read_pem(os.path.join(cwd, "token_key.pem")).startswith("-----BEGIN PRIVATE KEY-----")
        and '"crv":"Ed25519"' in err, "a PKCS#8 PEM in token_key.pem, the Ed25519 JWK on stderr"),
    "caddy wechat keygen --algorithm ES256 > assertion_key.pem": lambda out, err, cwd: (
        read_pem(os.path.join(cwd, "assertion_key.pem")).startswith("-----BEGIN PRIVATE KEY-----")
        and '"crv":"P-256"' in err, "a PKCS#8 PEM in assertion_key.pem, the P-256 JWK on stderr"),
}


class Fail(Exception):
    pass


class Item:
    def __init__(self, line, heading, text, expected):
        self.line, self.heading, self.text, self.expected = line, heading, text, expected
        try:
            self.key = " ".join(shlex.split(text.replace("\\\n", " "), comments=True))
        except ValueError as e:
            raise Fail(f"README.md:{line}: cannot read the command {text!r} as a shell would: {e}")

    def where(self):
        return f"README.md:{self.line}"


def parse(md):
    """Every command of every ```sh block, with its answer if shown."""
    items, heading, lines = [], "", md.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line
        if line.strip() not in SHELL_FENCES:
            if line.startswith("```"):  # skip other fences whole
                i += 1
                while i < len(lines) and not lines[i].startswith("```"):
                    i += 1
            i += 1
            continue
        start = i + 1
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append((i + 1, lines[i]))
            i += 1
        i += 1
        items += parse_block(body, heading, start)
    return items


def parse_block(body, heading, start):
    items = []
    transcript = any(l.startswith("$ ") for _, l in body)
    j = 0
    while j < len(body):
        n, l = body[j]
        j += 1
        if transcript:
            if not l.startswith("$ "):
                if l.strip() and not l.startswith("#"):
                    raise Fail(f"README.md:{n}: a line of a transcript block that is neither a `$ ` command, an answer under one, nor a comment: {l!r}")
                continue
            text = l[2:]
            while (text.endswith("\\") or unclosed(text)) and j < len(body):
                text += "\n" + body[j][1]
                j += 1
            out = []
            while j < len(body) and body[j][1].strip() and not body[j][1].startswith(("$ ", "#")):
                out.append(body[j][1])
                j += 1
            items.append(Item(n, heading, text, "\n".join(out) if out else None))
        else:
            if not l.strip() or l.lstrip().startswith("#"):
                continue
            text = l
            while (text.endswith("\\") or unclosed(text)) and j < len(body):
                text += "\n" + body[j][1]
                j += 1
            expected = None
            if j < len(body) and re.match(r"^# [\[{]", body[j][1]):
                expected = body[j][1][2:]
                j += 1
            items.append(Item(n, heading, text, expected))
    if not items:
        raise Fail(f"README.md:{start}: a ```sh block with no command in it")
    return items


def unclosed(text):
    """Whether a shell would read on past text: a quote left open, as in
    a JSON body spread over several lines."""
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return True
    return False


def matches(want, got, path="$"):
    """None if got has want's shape, else where it differs."""
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(want) != set(got):
            return f"{path}: keys {sorted(got) if isinstance(got, dict) else got!r}, want {sorted(want)}"
        for k in want:
            d = matches(want[k], got[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(want, list):
        if not isinstance(got, list) or len(want) != len(got):
            return f"{path}: {got!r}, want a list of {len(want)}"
        for k, (w, g) in enumerate(zip(want, got)):
            d = matches(w, g, f"{path}[{k}]")
            if d:
                return d
        return None
    if isinstance(want, str):
        if isinstance(got, str):
            if "…" in want:
                head, _, tail = want.partition("…")
                if got.startswith(head) and got.endswith(tail) and len(got) >= len(head) + len(tail):
                    return None
            elif got == want:
                return None
        return f"{path}: {got!r}, want {want!r}"
    if type(want) is not type(got):
        return f"{path}: {got!r}, want a {type(want).__name__} like {want!r}"
    if isinstance(want, bool) and want != got:
        return f"{path}: {got!r}, want {want!r}"
    return None


class Shell:
    """Runs commands one bash each, keeping the variables they set."""

    def __init__(self, cwd, bindir):
        self.cwd, self.vars = cwd, {}
        self.env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"])

    def run(self, item):
        text = item.text
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=[^=]", text)
        script = "set -euo pipefail\n" + text
        if m:
            script += f'\nprintf %s "${m.group(1)}"'
        try:
            p = subprocess.run(["bash", "-c", script], cwd=self.cwd, env={**self.env, **self.vars},
                               capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            raise Fail(f"{item.where()}: `{text}` did not finish in 30 s")
        if p.returncode != 0:
            raise Fail(f"{item.where()}: `{text}` exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        if m:
            if not p.stdout:
                raise Fail(f"{item.where()}: `{text}` left {m.group(1)} empty\nstderr: {p.stderr}")
            self.vars[m.group(1)] = p.stdout
            return "set " + m.group(1)
        return self.compare(item, p.stdout, p.stderr)

    def compare(self, item, out, err):
        if item.expected is not None:
            try:
                want = json.loads(item.expected)
            except ValueError:
                if out.rstrip("\n") != item.expected:
                    raise Fail(f"{item.where()}: `{item.text}` printed\n{out}\nthe README shows\n{item.expected}")
                return "answer as shown"
            try:
                got = json.loads(out)
            except ValueError:
                raise Fail(f"{item.where()}: `{item.text}` printed\n{out}\nstderr: {err}\nthe README shows the JSON\n{item.expected}")
            d = matches(want, got)
            if d:
                raise Fail(f"{item.where()}: `{item.text}` printed\n{out}\nthe README shows\n{item.expected}\ndifference at {d}")
            return "answer as shown"
        if item.key in CHECKS:
            ok, what = CHECKS[item.key](out, err, self.cwd)
            if not ok:
                raise Fail(f"{item.where()}: `{item.text}` should give {what}; stdout: {out!r} stderr: {err!r}")
            return what
        if out.strip():
            raise Fail(f"{item.where()}: `{item.text}` printed\n{out}\nbut the README shows no answer under it and "
                       ".ci/readme_commands.py has no check for it: show the answer (a `# {...}` comment, or the lines "
                       "under a `$ ` command), or add a check to CHECKS")
        return "ran"


def busy_ports():
    busy = []
    for port in DEMO_PORTS:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(port)
    return busy


def demo_up():
    for port in DEMO_PORTS:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return False
    try:
        with urllib.request.urlopen("http://localhost:8080/", timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


class Demo:
    def __init__(self, args, log):
        self.args, self.log = args, log

    def __enter__(self):
        env = dict(os.environ)
        # Keep the demo's generated keys away from the user's own storage.
        env["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="readme-xdg-data-")
        env["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="readme-xdg-config-")
        self.dirs = (env["XDG_DATA_HOME"], env["XDG_CONFIG_HOME"])
        self.logf = open(self.log, "w")
        self.p = subprocess.Popen(["make", "-f", "xcaddy.mk", "-o", "build", "run"] + self.args, cwd=ROOT, env=env,
                                  stdout=self.logf, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.wait_up()
        except BaseException:
            self.__exit__()
            raise
        return self

    def wait_up(self):
        deadline = time.monotonic() + 90
        while not demo_up():
            if self.p.poll() is not None:
                raise Fail(f"`make -f xcaddy.mk run {' '.join(self.args)}` exited {self.p.returncode} before the demo was up:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise Fail(f"the demo of `make -f xcaddy.mk run {' '.join(self.args)}` was not up on ports {sorted(DEMO_PORTS)} within 90 s:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self):
        self.logf.flush()
        with open(self.log) as f:
            return "".join(f.readlines()[-30:])

    def __exit__(self, *exc):
        # make, .ci/demo, the backend and Caddy: the group this script started.
        try:
            os.killpg(self.p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
        self.logf.close()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        deadline = time.monotonic() + 15
        while busy_ports():
            if time.monotonic() > deadline:
                raise Fail(f"ports {busy_ports()} were still in use 15 s after the demo stopped")
            time.sleep(0.1)
        return False


def quickstart_backends(items):
    """The backends the quick start's BACKEND comment names."""
    for it in items:
        if DEMO_RE.match(it.key) and "BACKEND=" in it.text and "#" in it.text:
            comment = it.text.split("#", 1)[1]
            names = [re.sub(r"\s*\(default\)$", "", w.strip()) for w in comment.rsplit(":", 1)[-1].split(",")]
            if not names or not all(re.fullmatch(r"[a-z]+", n) for n in names):
                raise Fail(f"{it.where()}: cannot read the backends from the comment {comment.strip()!r} "
                           "(want `...: go (default), python, ...`)")
            return names
    return []


def main():
    t0 = time.monotonic()
    if not os.access(os.path.join(ROOT, "caddy"), os.X_OK):
        raise Fail("./caddy is missing: run make -f xcaddy.mk build first")
    with open(README) as f:
        items = parse(f.read())

    for key in SKIP:
        if not any(it.key == key for it in items):
            raise Fail(f"SKIP lists `{key}`, which README.md no longer has: remove it from .ci/readme_commands.py")
    demos, runnable = [], []
    for it in items:
        if it.key in SKIP:
            print(f"skip {it.where()}  {it.key}\n     ({SKIP[it.key]})")
        elif DEMO_RE.match(it.key):
            demos.append(it)
        else:
            runnable.append(it)
    if not demos or DEMO_RE.match(demos[0].key).group(1):
        raise Fail("README.md has no plain `make -f xcaddy.mk run`: the other blocks need the demo it starts")
    quick = demos[0].heading
    runs = [(it.key, DEMO_RE.match(it.key).group(1)) for it in demos]
    named = {b for _, b in runs}
    for b in quickstart_backends(items):
        if b != "go" and b not in named:
            runs.append((f"make -f xcaddy.mk run BACKEND={b}  (named in the quick start's comment)", b))
            named.add(b)

    busy = busy_ports()
    if busy:
        raise Fail("the demo's fixed ports are in use, so the README's commands cannot run: "
                   + ", ".join(f"{p} ({DEMO_PORTS[p]})" for p in busy)
                   + ". Another demo or Caddy is running (see `ss -ltnp`); stop it and run again.")

    work = tempfile.mkdtemp(prefix="readme-commands-")
    bindir = os.path.join(work, "bin")
    os.mkdir(bindir)
    os.symlink(os.path.join(ROOT, "caddy"), os.path.join(bindir, "caddy"))
    count = 0
    try:
        for first, (label, backend) in enumerate(runs):
            cwd = tempfile.mkdtemp(dir=work)
            shell = Shell(cwd, bindir)
            args = [f"BACKEND={backend}"] if backend else []
            chosen = runnable if first == 0 else [it for it in runnable if it.heading == quick]
            with Demo(args, os.path.join(work, f"demo-{backend or 'go'}.log")):
                print(f"demo {label}: up")
                for it in chosen:
                    what = shell.run(it)
                    count += 1
                    print(f"ok   {it.where()}  {it.key[:90]}{'…' if len(it.key) > 90 else ''}  ({what})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"readme commands: {count} commands run against {len(runs)} demos ({', '.join(b or 'go' for _, b in runs)}), "
          f"{sum(1 for it in items if it.key in SKIP)} skipped with their reasons, in {time.monotonic() - t0:.1f} s: ok")


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        sys.exit(f"FAIL readme commands: {e}")
