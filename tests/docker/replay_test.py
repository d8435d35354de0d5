#!/usr/bin/env python3
"""replay_test.py — docker/Dockerfile without a container engine (make test-docker).

No Docker engine runs where mlpd is developed, so this replays the Dockerfile the way `docker
build` would order it, on the host:

* The build context is the repository's working tree as git sees it (tracked files plus
  untracked ones .gitignore does not ignore, with their uncommitted edits), minus what
  docker/Dockerfile.dockerignore excludes.
* Every stage but the last (the build stages) is replayed in its own empty directory standing
  for the image's root: each COPY copies only what it names, when it comes, so a later COPY is
  not visible to an earlier RUN; each RUN runs there with /bin/sh -c from the current WORKDIR
  with the stage's ENV (and a clean PATH), as root does in the image. RUN lines are run on the
  host itself (scripts/install-deps.sh is idempotent: it installs only what is missing), so a
  replayed RUN may not name an absolute path, which would be the host's.
* The last stage (the runtime image) is checked, not replayed: its RUN lines install Debian
  packages and add a user inside the image, which must not happen to the host. Its COPY
  --from sources must exist in the replayed stage; its apt-get list must hold the package of
  every library the copied binaries link (dpkg -S on this host, which must run the same Debian
  release as the image); its ENTRYPOINT + CMD must be exec form without --insecure; started
  as they say, the binary must exit non-zero naming MLPD_API_KEYS when no key is given, and
  with a key the HEALTHCHECK's URL must answer 200.

Before that a self-test replays two tiny Dockerfiles, so the replay itself is shown to honour
order, WORKDIR and ENV (a replay that ran everything in one tree would pass the real file).
Exit 0 when all holds; otherwise 1 with a line saying what failed.
"""
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

NAME = "replay_test"
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
KNOWN = {"FROM", "WORKDIR", "ENV", "COPY", "RUN", "USER", "VOLUME", "EXPOSE", "HEALTHCHECK",
         "ENTRYPOINT", "CMD", "LABEL", "STOPSIGNAL"}


class Fail(Exception):
    pass


def say(msg):
    print(f"{NAME}: {msg}", flush=True)


def parse(text):
    """Instructions [(line number, KEYWORD, rest)] with continuations joined and comments
    dropped (also inside a continued instruction, as docker does)."""
    out, buf, start = [], "", 0
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if not buf:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        kw, _, rest = buf.partition(" ")
        out.append((start, kw.upper(), rest.strip()))
        buf = ""
    if buf:
        raise Fail("the Dockerfile ends inside a continued line")
    return out


def subst(s, env):
    """$VAR and ${VAR} from the stage's ENV, as docker expands WORKDIR, ENV and COPY."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), s)


def parse_env(rest, env):
    if "=" not in rest.split(" ", 1)[0]:  # ENV KEY value
        k, _, v = rest.partition(" ")
        env[k] = subst(v.strip(), env)
        return
    for tok in shlex.split(rest):
        k, _, v = tok.partition("=")
        env[k] = subst(v, env)


def split_flags(rest):
    """COPY --flags, then the remaining words (the JSON array form too)."""
    flags = {}
    toks = shlex.split(rest)
    while toks and toks[0].startswith("--"):
        k, _, v = toks.pop(0)[2:].partition("=")
        flags[k] = v
    if toks and toks[0].startswith("["):  # COPY [--flags] ["src", ..., "dest"]
        return flags, json.loads(rest[rest.index("["):])
    return flags, toks


def exec_form(rest, what):
    try:
        v = json.loads(rest)
    except ValueError:
        raise Fail(f"{what} is not exec form (a JSON array): signals would go to a shell, "
                   f"not to mlpd")
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise Fail(f"{what} is not a JSON array of strings")
    return v


def inside(root, path):
    """The host path of an absolute image path in a stage root."""
    return os.path.join(root, path.lstrip("/"))


def copy_into(src, dest, many):
    """docker COPY of one source: a directory's contents merge into dest; a file goes to
    dest/ when dest ends with / (or is a directory, or there are several sources)."""
    if os.path.isdir(src):
        shutil.copytree(src, dest, dirs_exist_ok=True, symlinks=True)
        return
    if many or dest.endswith("/") or os.path.isdir(dest):
        os.makedirs(dest, exist_ok=True)
        dest = os.path.join(dest, os.path.basename(src))
    else:
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    shutil.copy2(src, dest, follow_symlinks=False)


class Stage:
    def __init__(self, idx, image, name, root):
        self.idx, self.image, self.name, self.root = idx, image, name, root
        self.workdir, self.env, self.lines = "/", {}, []


def split_stages(instrs, work):
    stages = []
    for n, kw, rest in instrs:
        if kw == "FROM":
            toks = rest.split()
            name = toks[2] if len(toks) >= 3 and toks[1].upper() == "AS" else None
            st = Stage(len(stages), toks[0], name, os.path.join(work, f"stage{len(stages)}"))
            os.makedirs(st.root)
            stages.append(st)
            continue
        if not stages:
            raise Fail(f"line {n}: {kw} before FROM")
        if kw not in KNOWN:
            raise Fail(f"line {n}: {kw} is not something this replay knows how to replay; "
                       f"teach tests/docker/replay_test.py rather than let it pass unchecked")
        stages[-1].lines.append((n, kw, rest))
    if len(stages) < 2:
        raise Fail("expected a build stage and a runtime stage")
    return stages


def stage_by(stages, ref, n):
    for st in stages:
        if st.name == ref or str(st.idx) == ref:
            return st
    raise Fail(f"line {n}: COPY --from={ref} names no earlier stage")


def do_copy(st, stages, ctx, n, rest):
    flags, words = split_flags(rest)
    if len(words) < 2:
        raise Fail(f"line {n}: COPY needs a source and a destination")
    srcs, dest = [subst(w, st.env) for w in words[:-1]], subst(words[-1], st.env)
    if not dest.startswith("/"):
        dest = os.path.join(st.workdir, dest)  # keeps a trailing /
    base = ctx if "from" not in flags else stage_by(stages, flags["from"], n).root
    found = []
    for s in srcs:
        if "from" in flags and not s.startswith("/"):
            raise Fail(f"line {n}: COPY --from source {s} is not absolute")
        hits = sorted(glob.glob(os.path.join(base, s.lstrip("/"))))
        if not hits:
            where = "the build context" if "from" not in flags else f"stage {flags['from']}"
            raise Fail(f"line {n}: COPY source {s} is not in {where} (docker build would "
                       f"stop here)")
        found += hits
    for h in found:
        copy_into(h, inside(st.root, dest), len(found) > 1)
    return found


def run_env(st):
    env = {"PATH": CLEAN_PATH, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    env.update(st.env)
    return env


def replay_build_stage(st, stages, ctx, log):
    for n, kw, rest in st.lines:
        if kw == "WORKDIR":
            w = subst(rest, st.env)
            st.workdir = w if w.startswith("/") else os.path.join(st.workdir, w)
            os.makedirs(inside(st.root, st.workdir), exist_ok=True)
        elif kw == "ENV":
            parse_env(rest, st.env)
        elif kw == "COPY":
            do_copy(st, stages, ctx, n, rest)
            log(f"  line {n}: COPY {rest}")
        elif kw == "RUN":
            if rest.lstrip().startswith("["):
                argv = exec_form(rest, f"line {n}: RUN")
            else:
                for word in shlex.split(rest):
                    if word.startswith("/"):
                        raise Fail(f"line {n}: RUN names the absolute path {word}; the replay "
                                   f"runs build-stage RUN lines on the host, where that is the "
                                   f"host's path")
                argv = ["/bin/sh", "-c", rest]
            cwd = inside(st.root, st.workdir)
            os.makedirs(cwd, exist_ok=True)
            log(f"  line {n}: RUN {rest}  (in {st.workdir})")
            t0 = time.monotonic()
            r = subprocess.run(argv, cwd=cwd, env=run_env(st), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0:
                tail = "\n".join(r.stdout.splitlines()[-25:])
                raise Fail(f"line {n}: RUN {rest} exited {r.returncode}:\n{tail}")
            log(f"    ok ({time.monotonic() - t0:.0f} s)")
        else:  # USER, VOLUME, EXPOSE, LABEL, ... change nothing a later build step reads
            log(f"  line {n}: {kw} (no effect on the build steps)")


# ---------------------------------------------------------------- the self-test


def self_test(work):
    """Replays two small Dockerfiles: one that only passes if COPY order, WORKDIR and ENV are
    honoured, and one whose RUN uses a file copied after it, which must fail."""
    ctx = os.path.join(work, "selftest-ctx")
    os.makedirs(os.path.join(ctx, "d"))
    for p, text in (("a.txt", "a\n"), ("b.txt", "b\n"), ("d/c.txt", "c\n")):
        with open(os.path.join(ctx, p), "w") as f:
            f.write(text)
    good = """FROM debian:bookworm AS build
WORKDIR /w
ENV GREETING=hello \\
    OTHER="two words"
COPY a.txt ./
# a comment
RUN test -f a.txt && test ! -e b.txt && test ! -e c.txt && test "$GREETING" = hello \\
 && test "$OTHER" = "two words" && test "${PWD##*/}" = w
WORKDIR sub
COPY b.txt d/ ./
RUN test -f b.txt && test -f c.txt && test ! -e d && test ! -e ../b.txt && echo x > made
FROM debian:bookworm-slim
COPY --from=build /w/sub/made /made
"""
    bad = """FROM debian:bookworm AS build
WORKDIR /w
RUN test -f a.txt
COPY a.txt ./
FROM debian:bookworm-slim
"""
    for label, text, should_pass in (("ordered", good, True), ("later COPY", bad, False)):
        w = os.path.join(work, "selftest-" + label.replace(" ", "-"))
        os.makedirs(w)
        try:
            stages = split_stages(parse(text), w)
            for st in stages[:-1]:
                replay_build_stage(st, stages, ctx, lambda m: None)
            for n, kw, rest in stages[-1].lines:
                if kw == "COPY":
                    do_copy(stages[-1], stages, ctx, n, rest)
            passed = True
        except Fail:
            passed = False
        if passed != should_pass:
            raise Fail(f"self-test '{label}': the replay {'failed' if should_pass else 'passed'}"
                       f" a Dockerfile it should have {'passed' if should_pass else 'failed'}")
    say("self-test ok: later COPYs are invisible to earlier RUNs; WORKDIR and ENV are honoured")


# ---------------------------------------------------------------- the build context


def make_context(repo, ctx):
    ls = subprocess.run(["git", "-C", repo, "ls-files", "-z", "-c", "-o", "--exclude-standard"],
                        stdout=subprocess.PIPE, check=True).stdout
    files = [f for f in ls.decode().split("\0") if f and os.path.lexists(os.path.join(repo, f))]
    ignore = []
    di = os.path.join(repo, "docker", "Dockerfile.dockerignore")
    if os.path.exists(di):
        with open(di) as f:
            ignore = [l.strip() for l in f if l.strip() and not l.startswith("#")]

    def ignored(path):
        parts = path.split("/")
        for pat in ignore:
            p = pat.strip("/")
            if p.startswith("**/"):
                if p[3:] in parts:
                    return True
            elif path == p or path.startswith(p + "/"):
                return True
        return False

    for f in files:
        if ignored(f):
            continue
        dst = os.path.join(ctx, f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.join(repo, f), dst, follow_symlinks=False)
    return len(files)


# ---------------------------------------------------------------- the runtime stage


def apt_packages(run_lines):
    pkgs = set()
    for _, rest in run_lines:
        for seg in re.split(r"&&|;|\|\|", rest):
            toks = seg.split()
            if "apt-get" in toks and "install" in toks:
                pkgs |= {t for t in toks[toks.index("install") + 1:] if not t.startswith("-")}
    return pkgs


def lib_package(soname, binary):
    """The Debian package that provides the library binary loads for soname (via ldd)."""
    r = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, text=True, check=True)
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m and m.group(1) == soname:
            real = os.path.realpath(m.group(2))
            for cand in (real, m.group(2)):
                d = subprocess.run(["dpkg", "-S", cand], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
                if d.returncode == 0:
                    return d.stdout.split(":")[0].strip()
            raise Fail(f"no Debian package on this host owns {real} ({soname})")
    raise Fail(f"ldd {binary} does not resolve {soname}")


def check_runtime(rt, stages, ctx, log):
    run_lines, entry, cmd, health, expose = [], [], [], None, []
    for n, kw, rest in rt.lines:
        if kw == "COPY":
            found = do_copy(rt, stages, ctx, n, rest)
            log(f"  line {n}: COPY {rest}: source present ({len(found)} path(s))")
        elif kw == "RUN":
            run_lines.append((n, rest))
        elif kw == "ENV":
            parse_env(rest, rt.env)
        elif kw == "WORKDIR":
            w = subst(rest, rt.env)
            rt.workdir = w if w.startswith("/") else os.path.join(rt.workdir, w)
        elif kw == "ENTRYPOINT":
            entry = exec_form(rest, f"line {n}: ENTRYPOINT")
        elif kw == "CMD":
            cmd = exec_form(rest, f"line {n}: CMD")
        elif kw == "HEALTHCHECK":
            health = (n, rest)
        elif kw == "EXPOSE":
            expose += rest.split()
    for n, rest in run_lines:
        log(f"  line {n}: RUN not replayed (runtime image: packages and a user inside the "
            f"image, not on this host): {rest[:70]}...")

    argv = entry + cmd
    if not argv:
        raise Fail("the runtime stage has neither ENTRYPOINT nor CMD")
    if any(a == "--insecure" or a.startswith("--insecure=") for a in argv):
        raise Fail(f"the runtime command {argv} has --insecure: anyone who reaches the port "
                   f"could write")
    if rt.env.get("MLPD_INSECURE") not in (None, "", "0", "false"):
        raise Fail("the runtime stage sets MLPD_INSECURE")
    if "MLPD_API_KEYS" in rt.env:
        raise Fail("the runtime stage bakes MLPD_API_KEYS into the image")

    # Every library the copied binaries link comes from a package the runtime stage installs.
    osr = open("/etc/os-release").read()
    host = re.search(r"^VERSION_CODENAME=(\S+)", osr, re.M)
    want = rt.image.split(":")[1].split("-")[0] if ":" in rt.image else "?"
    if not host or host.group(1) != want:
        raise Fail(f"cannot check the runtime packages: this host is Debian "
                   f"{host.group(1) if host else '?'} and the image is {rt.image}; package "
                   f"names differ between releases")
    pkgs = apt_packages(run_lines)
    bins = [p for p in glob.glob(os.path.join(rt.root, "**"), recursive=True)
            if os.path.isfile(p) and os.access(p, os.X_OK)]
    for b in bins:
        d = subprocess.run(["readelf", "-d", b], stdout=subprocess.PIPE, text=True, check=True)
        for soname in re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", d.stdout):
            pkg = lib_package(soname, b)
            if pkg != "libc6" and pkg not in pkgs:  # libc6 is in every Debian base image
                raise Fail(f"{os.path.relpath(b, rt.root)} links {soname} from {pkg}, which the "
                           f"runtime stage does not install (it installs {sorted(pkgs)})")
    log(f"  runtime packages cover every library of {len(bins)} copied binary/binaries")

    # Start it as ENTRYPOINT + CMD say. Absolute paths in the arguments are the image's, so
    # they map into the runtime stage's root; argv[0] is found on the image's PATH there.
    def image_path(a):
        if a.startswith("/"):
            return inside(rt.root, a)
        m = re.match(r"(--[\w-]+=)(/.*)", a)
        return m.group(1) + inside(rt.root, m.group(2)) if m else a

    exe = argv[0]
    if not exe.startswith("/"):
        path = rt.env.get("PATH", CLEAN_PATH).split(":")
        hits = [inside(rt.root, os.path.join(d, exe)) for d in path
                if os.path.isfile(inside(rt.root, os.path.join(d, exe)))]
        if not hits:
            raise Fail(f"{exe} is not on the image's PATH (nothing was copied there)")
        exe = hits[0]
    else:
        exe = inside(rt.root, exe)
    args = [exe] + [image_path(a) for a in argv[1:]]
    cwd = inside(rt.root, rt.workdir)
    os.makedirs(cwd, exist_ok=True)
    env = {"PATH": CLEAN_PATH, "HOME": cwd}
    env.update(rt.env)
    try:
        r = subprocess.run(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise Fail(f"started as the image starts it ({argv}) with no MLPD_API_KEYS, mlpd kept "
                   f"running for 30 s instead of refusing")
    if r.returncode == 0 or "MLPD_API_KEYS" not in r.stderr:
        raise Fail(f"with no MLPD_API_KEYS, {argv} should exit non-zero naming MLPD_API_KEYS; "
                   f"it exited {r.returncode} saying: {r.stderr.strip()!r}")
    log(f"  without MLPD_API_KEYS: exit {r.returncode}: {r.stderr.strip()}")

    # With a key it starts, and the HEALTHCHECK's URL answers 200 (on a free loopback port:
    # flags given after the image's are what `docker run IMAGE ...` appends, and the last wins).
    if not health:
        raise Fail("the runtime stage has no HEALTHCHECK")
    m = re.search(r"http://([^/\s]+)(/\S*)", health[1])
    if not m:
        raise Fail(f"line {health[0]}: HEALTHCHECK has no http:// URL")

    def port_of(hostport):
        return hostport.rsplit(":", 1)[1] if ":" in hostport else "80"

    listen = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--listen"]
    if listen and port_of(listen[-1]) != port_of(m.group(1)):
        raise Fail(f"HEALTHCHECK asks port {port_of(m.group(1))}, mlpd listens on {listen[-1]}")
    if expose and port_of(m.group(1)) not in [e.split("/")[0] for e in expose]:
        raise Fail(f"HEALTHCHECK asks port {port_of(m.group(1))}, EXPOSE says {expose}")
    pf = os.path.join(cwd, "port")
    env["MLPD_API_KEYS"] = "replay-test-key-0123456789:admin"
    p = subprocess.Popen(args + ["--listen", "127.0.0.1:0", "--port-file", pf], cwd=cwd, env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            if os.path.exists(pf) or p.poll() is not None:
                break
            time.sleep(0.1)
        if not os.path.exists(pf):
            why = p.stderr.read() if p.poll() is not None else "no port file after 30 s"
            raise Fail(f"with MLPD_API_KEYS set, mlpd did not start: {why}")
        port = open(pf).read().strip()
        url = f"http://127.0.0.1:{port}{m.group(2)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                status, body = resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read().decode()
        if status != 200:
            raise Fail(f"the HEALTHCHECK URL {m.group(2)} answered {status}: {body}")
        log(f"  with MLPD_API_KEYS: HEALTHCHECK {m.group(2)} answered 200 {body.strip()}")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=20)
        if rc != 0:
            raise Fail(f"SIGTERM (docker stop) exit status {rc}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def check_compose(repo):
    with open(os.path.join(repo, "docker", "compose.yaml")) as f:
        text = f.read()
    body = "\n".join(l.split("#", 1)[0] for l in text.splitlines())
    if "--insecure" in body or "MLPD_INSECURE" in body:
        raise Fail("docker/compose.yaml runs mlpd insecure")
    if "MLPD_API_KEYS" not in body:
        raise Fail("docker/compose.yaml does not pass MLPD_API_KEYS")


def main():
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    dockerfile = os.environ.get("DOCKERFILE", os.path.join(repo, "docker", "Dockerfile"))
    work = tempfile.mkdtemp(prefix="mlpd-docker-replay.")
    keep = os.environ.get("KEEP_TMP") == "1"
    t0 = time.monotonic()
    try:
        self_test(work)
        ctx = os.path.join(work, "context")
        os.makedirs(ctx)
        nfiles = make_context(repo, ctx)
        say(f"context: {nfiles} files of the working tree (git ls-files), minus "
            f"Dockerfile.dockerignore")
        with open(dockerfile) as f:
            stages = split_stages(parse(f.read()), work)
        for st in stages[:-1]:
            say(f"replaying stage {st.idx} ({st.image}{' AS ' + st.name if st.name else ''})")
            replay_build_stage(st, stages, ctx, say)
        rt = stages[-1]
        say(f"checking the runtime stage ({rt.image})")
        check_runtime(rt, stages, ctx, say)
        check_compose(repo)
        say(f"ok ({time.monotonic() - t0:.0f} s)")
        return 0
    except Fail as e:
        print(f"{NAME}: FAIL: {e}", file=sys.stderr)
        return 1
    finally:
        if keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
