"""Per-poll CPU and HTTP/2 figures for bench/bench.py.

How much CPU one `client:poll()` takes while big images arrive (what a game
polling once per frame, or an editor timer, pays), measured by
bench/poll_job.lua in its own process for each case; and the same fake API
over HTTP/2 with TLS (spec/server/h2_front.mjs): CPU against the curl CLI
and how many connections concurrent jobs open. Reports only; nothing here
fails because of a time.

A baseline (bench/poll_baseline.json, written with --save-poll-baseline from
an older build) fills the "before" columns of the per-poll table.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(BENCH_DIR)
BASELINE = os.path.join(BENCH_DIR, "poll_baseline.json")

# 3840x2160 RGB, stored (incompressible): the biggest legal size's worth of
# noise. The fake's noise PNG is square; the byte count is what matters here.
UHD_BYTES = 3840 * 2160 * 3 + 2160 + 70
SIZES = [("6 MB", 6000000), ("3840x2160 (24.9 MB)", UHD_BYTES)]
# save: to files; bytes: each image handed over as a Lua string (one copy,
# the only work allowed over the budget); buffer: as a gptimage.Buffer.
MODES = ["save", "bytes", "buffer"]
JOBS = [1, 4, 16]
# 0: polls back to back; 16: one poll per 60 fps frame, data piling up between.
PACINGS = [0, 16]
# the transport label of the HTTP/2 cases run on libcurl 8 (libcurl8_dir)
LIBCURL8 = "HTTP/2 on libcurl 8"


class H2Front:
    """The HTTP/2-over-TLS front before a running fake server, with a
    certificate for 127.0.0.1 made now by openssl."""

    def __init__(self, upstream_root, work_dir):
        self.dir = tempfile.mkdtemp(prefix="h2-", dir=work_dir)
        self.ca_file = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", self.ca_file], check=True, capture_output=True)
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.process = subprocess.Popen(
            [shutil.which("node"), os.path.join(SOURCE_DIR, "spec", "server", "h2_front.mjs"),
             "--upstream", upstream_root, "--cert", self.ca_file, "--key", key, "--port-file", port_file,
             "--watch-pid", str(os.getpid())],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                raise RuntimeError("the HTTP/2 front did not start:\n" + self.log.read())
            time.sleep(0.05)
        with open(port_file) as handle:
            self.port = int(handle.read().split()[0])
        self.root = "https://127.0.0.1:%d" % self.port
        self.base_url = self.root + "/v1"

    def stats(self):
        output = subprocess.run(["curl", "-sS", "--cacert", self.ca_file, self.root + "/__h2/stats"],
                                capture_output=True, text=True, check=True).stdout
        return json.loads(output)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def case_key(size_label, mode, jobs, pacing, transport):
    return "%s|%s|%d|%d|%s" % (size_label, mode, jobs, pacing, transport)


def libcurl8_dir():
    """The folder of a libcurl 8 to run the same module on when the
    system's is older (scripts/libcurl8.sh), or None."""
    script = os.path.join(SOURCE_DIR, "scripts", "libcurl8.sh")
    env = dict(os.environ)
    env.pop("CI", None)  # none to be had is no error here: the rows are left out
    answer = subprocess.run(["bash", script, os.path.join(SOURCE_DIR, "build", "libcurl8")], env=env,
                            capture_output=True, text=True)
    found = answer.stdout.strip()
    return found if answer.returncode == 0 and found else None


def libcurl8_env():
    """The environment that runs the same module on libcurl 8 (its folder
    first on LD_LIBRARY_PATH), or None when there is none to be had."""
    found = libcurl8_dir()
    if not found:
        return None
    return {"LD_LIBRARY_PATH": os.pathsep.join([found] + [p for p in [os.environ.get("LD_LIBRARY_PATH")] if p])}


def libcurl_version(lua, env):
    """The version of the libcurl the module loads in env (gptimage.libcurl()), "8"
    when it cannot be read (only asked of libcurl8_env)."""
    answer = subprocess.run([lua, "-e", 'print((require "gptimage".libcurl()))'], env=env,
                            capture_output=True, text=True)
    return answer.stdout.strip() or "8"


def poll_case(tools, base_url, ca_file, mode, jobs, pacing, work_dir, env=None):
    out_dir = tempfile.mkdtemp(prefix="poll-", dir=work_dir)
    argv = [tools.lua, os.path.join(BENCH_DIR, "poll_job.lua"), base_url, out_dir, mode, str(jobs), str(pacing),
            ca_file or "-"]
    answer = subprocess.run(argv, env=dict(tools.lua_env, **(env or {})), capture_output=True, text=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    if answer.returncode != 0:
        raise RuntimeError("%s exited with %d\n%s%s" % (" ".join(argv), answer.returncode, answer.stdout,
                                                         answer.stderr))
    return json.loads(answer.stdout.strip().splitlines()[-1])


def run_polls(tools, server, work_dir, transports, quick=False, only=None):
    """Every per-poll case (those whose key contains `only`, when given);
    returns {case key: figures}."""
    results = {}
    for transport, base_url, ca_file, env in transports:
        for size_label, image_bytes in SIZES:
            server.config(image_bytes=image_bytes)
            for mode in MODES:
                for jobs in JOBS:
                    for pacing in PACINGS:
                        if quick and (jobs == 4 or (pacing and transport != "HTTP/1.1")):
                            continue
                        if only and only not in case_key(size_label, mode, jobs, pacing, transport):
                            continue
                        sys.stderr.write("  per poll: %s %s %d jobs, %d ms between polls, %s\n"
                                         % (size_label, mode, jobs, pacing, transport))
                        results[case_key(size_label, mode, jobs, pacing, transport)] = poll_case(
                            tools, base_url, ca_file, mode, jobs, pacing, work_dir, env)
    server.config(image_bytes=tools.image_bytes)
    return results


def save_baseline(results, label, love=None, path=BASELINE):
    with open(path, "w") as handle:
        json.dump({"label": label, "results": results, "love": love or {}}, handle, indent=1, sort_keys=True)
        handle.write("\n")


def load_baseline(path=BASELINE):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def poll_table(results, baseline):
    before = (baseline or {}).get("results", {})
    lines = [
        "| image | mode | jobs | between polls | transport | polls | longest ms | p99 ms | before: longest | "
        "before: p99 | longest without a delivery | p99 without a delivery | delivery ms/MB (bytes) | CPU s |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    worst_longest, worst_p99, worst_other = 0.0, 0.0, 0.0
    for key, r in results.items():
        size_label, mode, jobs, pacing, transport = key.split("|")
        b = before.get(key)
        lines.append("| %s | %s | %s | %s ms | %s | %d | %.2f | %.3f | %s | %s | %.2f | %.3f | %s | %.3f |" % (
            size_label, mode, jobs, pacing, transport, r["polls"], r["longest_ms"], r["p99_ms"],
            "%.2f" % b["longest_ms"] if b else "-", "%.3f" % b["p99_ms"] if b else "-",
            r["other_longest_ms"], r["other_p99_ms"], "%.2f" % r["delivery_ms_per_mb"] if mode == "bytes" else "-", r["cpu_s"]))
        worst_longest = max(worst_longest, r["longest_ms"])
        worst_p99 = max(worst_p99, r["p99_ms"])
        worst_other = max(worst_other, r["other_longest_ms"])
    return lines, worst_longest, worst_p99, worst_other


def http2_figures(tools, server, front, work_dir, repeat):
    """gptimage and curl over HTTP/2: CPU of 8 concurrent 6 MB calls, and
    the connections 64 concurrent jobs opened."""
    rows = []
    server.config(image_bytes=6000000)
    for tool in ["gptimage"] + (["curl"] if tools.curl else []):
        sys.stderr.write("  HTTP/2: 8 concurrent 6 MB calls, %s\n" % tool)
        rows.append(("8 concurrent calls of 6 MB, saved, HTTP/2", tool,
                     tools.run(tool, repeat, 1, 1, "save", concurrent=8, base_url=front.base_url,
                               ca_file=front.ca_file)))
    server.config(image_bytes=None, delay=0.5)
    before = front.stats()["sessions"]
    sys.stderr.write("  HTTP/2: 64 concurrent jobs\n")
    tools.run("gptimage", 1, 1, 1, "save", concurrent=64, base_url=front.base_url, ca_file=front.ca_file)
    after = front.stats()
    server.config(image_bytes=tools.image_bytes, delay=0)
    return rows, after["sessions"] - before, after["max_open_streams"]


def love_frames(server, luajit_dir, source_dir=SOURCE_DIR, runs=3, extra_env=None):
    """Frame times of bench/love_frames in a real LÖVE window under Xvfb, 6 MB
    images, without and with 2 partial images; {partials: figures}, or None
    when love, xvfb-run or a LuaJIT build is missing. extra_env: added to
    the game's environment (libcurl8_env)."""
    love, xvfb = shutil.which("love"), shutil.which("xvfb-run")
    if not love or not xvfb or not luajit_dir or not os.path.exists(os.path.join(luajit_dir, "gptimage.so")):
        return None
    figures = {}
    server.config(image_bytes=6000000, sse_interval=0.1)
    env = dict(os.environ, GPTIMAGE_BASE_URL=server.base_url, GPTIMAGE_SOURCE_DIR=source_dir,
               GPTIMAGE_BUILD_DIR=os.path.abspath(luajit_dir), SDL_AUDIODRIVER="dummy", **(extra_env or {}))
    try:
        for partials in (0, 2):
            sys.stderr.write("  LÖVE frames: 6 MB image, %d partial images%s\n"
                             % (partials, " (libcurl 8)" if extra_env else ""))
            answer = subprocess.run([xvfb, "-a", "-s", "-screen 0 640x480x24", love,
                                     os.path.join(BENCH_DIR, "love_frames"), str(partials), str(runs)],
                                    env=env, capture_output=True, text=True, timeout=300)
            lines = [line for line in answer.stdout.splitlines() if line.startswith("{")]
            if os.environ.get("GPTIMAGE_FRAME_TRACE") == "1":
                sys.stderr.write(answer.stderr)  # what the longest frames spent where
            if answer.returncode != 0 or not lines:
                raise RuntimeError("the LÖVE frame benchmark failed:\n%s%s" % (answer.stdout, answer.stderr))
            figures[str(partials)] = json.loads(lines[-1])
    finally:
        server.config(image_bytes=None, sse_interval=0)
    return figures


def host_figures(server, luajit_dir, work_dir, runs=3, extra_env=None):
    """The LÖVE frames and the Neovim ticks (love_frames, nvim_ticks), with
    extra_env added to both hosts' environment: (love, nvim)."""
    return (love_frames(server, luajit_dir, runs=runs, extra_env=extra_env),
            nvim_ticks(server, luajit_dir, work_dir, extra_env=extra_env))


def love_table(figures, baseline):
    before = (baseline or {}).get("love", {})
    lines = [
        "| partial images | frames | longest frame, wall ms | p99 wall ms | longest frame, game-thread CPU ms | "
        "p99 CPU ms | before: longest wall | before: longest CPU | partials shown |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for partials, f in sorted(figures.items()):
        b = before.get(partials)
        lines.append("| %s | %d | %.1f | %.1f | %.1f | %.1f | %s | %s | %d |" % (
            partials, f["frames"], f["longest_ms"], f["p99_ms"], f["cpu_longest_ms"], f["cpu_p99_ms"],
            "%.1f" % b["longest_ms"] if b else "-", "%.1f" % b["cpu_longest_ms"] if b else "-", f["partials_shown"]))
    return lines


def nvim_ticks(server, luajit_dir, work_dir, source_dir=SOURCE_DIR, extra_env=None):
    """CPU of every gptimage.nvim timer tick while four 6 MB images arrive,
    saved and as bytes (bench/nvim_ticks.lua); {mode: figures}, or None
    when nvim or a LuaJIT build is missing. extra_env: added to the
    editor's environment (libcurl8_env)."""
    nvim = shutil.which("nvim")
    if not nvim or not luajit_dir or not os.path.exists(os.path.join(luajit_dir, "gptimage.so")):
        return None
    figures = {}
    server.config(image_bytes=6000000)
    try:
        for mode in ("save", "bytes"):
            sys.stderr.write("  Neovim ticks: four 6 MB images, %s%s\n" % (mode, " (libcurl 8)" if extra_env else ""))
            save_dir = tempfile.mkdtemp(prefix="nvim-", dir=work_dir) if mode == "save" else ""
            env = dict(os.environ, GPTIMAGE_BASE_URL=server.base_url, GPTIMAGE_SOURCE_DIR=source_dir,
                       GPTIMAGE_BUILD_DIR=os.path.abspath(luajit_dir), GPTIMAGE_SAVE_DIR=save_dir,
                       **(extra_env or {}))
            answer = subprocess.run([nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c",
                                     "luafile " + os.path.join(BENCH_DIR, "nvim_ticks.lua")],
                                    env=env, capture_output=True, text=True, timeout=300)
            if save_dir:
                shutil.rmtree(save_dir, ignore_errors=True)
            lines = [line for line in (answer.stdout + answer.stderr).splitlines() if line.startswith("{")]
            if answer.returncode != 0 or not lines:
                raise RuntimeError("the Neovim tick benchmark failed:\n%s%s" % (answer.stdout, answer.stderr))
            figures[mode] = json.loads(lines[-1])
    finally:
        server.config(image_bytes=None)
    return figures


def nvim_table(figures, baseline):
    before = (baseline or {}).get("nvim", {})
    lines = ["| images | ticks | longest tick, CPU ms | p99 ms | before: longest | before: ticks |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for mode, f in sorted(figures.items()):
        b = before.get(mode)
        lines.append("| four 6 MB, %s | %d | %.2f | %.3f | %s | %s |" % (
            mode, f["ticks"], f["longest_ms"], f["p99_ms"], "%.2f" % b["longest_ms"] if b else "-",
            b["ticks"] if b else "-"))
    return lines


SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
SYSTEM_DIR = "/etc/ssl/certs"


def _hashed_copy(pems, path):
    """A folder holding a copy of each PEM file, under OpenSSL hash names."""
    os.mkdir(path)
    for index, pem in enumerate(pems):
        shutil.copyfile(pem, os.path.join(path, "cert%04d.pem" % index))
    subprocess.run(["openssl", "rehash", path], check=True, capture_output=True)
    return path


def trust_figures(tools, front, work_dir, runs=5):
    """The poll that makes the first TLS connection, as a user of the system
    trust store meets it: the system bundle plus the front's certificate,
    with a folder that differs (each connection parses the whole bundle,
    libcurl's default pair before src/trust.c) and with a folder of the same
    certificates (src/trust.c loads it alone). {case: figures}, or None
    without a Debian-style system store."""
    if not os.path.exists(SYSTEM_BUNDLE):
        return None
    system = sorted(os.path.join(SYSTEM_DIR, name) for name in os.listdir(SYSTEM_DIR) if name.endswith(".pem"))
    base = tempfile.mkdtemp(prefix="trust-", dir=work_dir)
    bundle = os.path.join(base, "bundle.pem")
    with open(bundle, "w") as out:
        for pem in [SYSTEM_BUNDLE, front.ca_file]:
            with open(pem) as handle:
                out.write(handle.read().rstrip("\n") + "\n")
    cases = [("bundle and a folder that differs", _hashed_copy(system, os.path.join(base, "system"))),
             ("folder of the same certificates, alone", _hashed_copy(system + [front.ca_file],
                                                                      os.path.join(base, "same")))]
    figures = {}
    for label, folder in cases:
        env = dict(tools.lua_env, SSL_CERT_FILE=bundle, SSL_CERT_DIR=folder)
        check = subprocess.run([tools.lua, "-e", 'print(require "gptimage".trust().uses)'], env=env,
                               capture_output=True, text=True)
        runs_seen = []
        for _ in range(runs):
            sys.stderr.write("  first TLS connection: %s\n" % label)
            out_dir = tempfile.mkdtemp(prefix="poll-", dir=work_dir)
            answer = subprocess.run([tools.lua, os.path.join(BENCH_DIR, "poll_job.lua"), front.base_url, out_dir,
                                     "save", "1", "0", "-"], env=env, capture_output=True, text=True)
            shutil.rmtree(out_dir, ignore_errors=True)
            if answer.returncode != 0:
                raise RuntimeError("poll_job.lua exited with %d\n%s%s" % (answer.returncode, answer.stdout,
                                                                          answer.stderr))
            runs_seen.append(json.loads(answer.stdout.strip().splitlines()[-1]))
        runs_seen.sort(key=lambda r: r["longest_ms"])
        middle = runs_seen[len(runs_seen) // 2]
        figures[label] = {"uses": check.stdout.strip(), "longest_ms": middle["longest_ms"],
                          "cpu_s": middle["cpu_s"], "polls": middle["polls"], "start_ms": middle["start_ms"],
                          "certificates": len(system) + 1}
    shutil.rmtree(base, ignore_errors=True)
    return figures


def trust_table(figures):
    lines = ["| trust store | certificates | loaded | longest poll, CPU ms | CPU of all polls, ms | CPU of the start call, ms |",
             "| --- | ---: | --- | ---: | ---: | ---: |"]
    for label, f in figures.items():
        lines.append("| %s | %d | %s | %.2f | %.2f | %.2f |" % (label, f["certificates"], f["uses"], f["longest_ms"],
                                                                f["cpu_s"] * 1000, float(f["start_ms"])))
    return lines
