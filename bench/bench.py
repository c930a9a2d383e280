#!/usr/bin/env python3
"""gptimage benchmarks: gptimage, the curl CLI and openai-node doing the same
jobs against the fake Images API, side by side in one run.

Every job runs as its own child process; its CPU time (user + system) and
peak resident memory come from wait4(2) on that child, its wall time from a
monotonic clock around it. Each figure is the median of --repeat runs.
Prints a table and writes it, with the machine it came from, to
bench/results.md. Reports only: the exit status is non-zero only when a job
crashed or failed, never because of a time.

    bench/run.sh [--module-dir DIR] [--lua lua5.4] [--repeat 3] [--quick]
    bench/run.sh --callgrind      # where gptimage's instructions go
    bench/run.sh --hosts          # only the LÖVE frames and Neovim ticks, printed
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import polls

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(BENCH_DIR)
MIB = 1024 * 1024
API_KEY = "sk-bench"
PROMPT_BODY = {"prompt": "benchmark image", "model": "gpt-image-2.6-flare", "size": "1024x1024", "quality": "low"}


def fail(message):
    sys.stderr.write("bench: " + message + "\n")
    sys.exit(1)


class Measure:
    """One finished child: wall s, CPU s (user + sys), peak RSS in bytes."""

    def __init__(self, wall, cpu, rss, stdout):
        self.wall, self.cpu, self.rss, self.stdout = wall, cpu, rss, stdout


# Linux carries the peak RSS of the process that forked into the child's
# ru_maxrss (it is updated at exec), so a child of this Python process would
# never report less than Python's own size. GNU time is small: the job is
# forked from it, and its %M is the job's own peak. CPU comes from wait4 on
# the time process, which includes its reaped child, to the microsecond.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_measured(argv, env=None, cwd=None):
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    rss_file = tempfile.NamedTemporaryFile(prefix="gptimage-bench-rss-", delete=False)
    rss_file.close()
    command = [GNU_TIME, "-f", "%M", "-o", rss_file.name] + argv if GNU_TIME else argv
    start = time.monotonic()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    with open(rss_file.name) as handle:
        rss_text = handle.read().strip().splitlines()
    os.unlink(rss_file.name)
    if process.returncode != 0:
        raise RuntimeError("%s exited with %d\n%s%s" % (" ".join(argv), process.returncode, stdout, stderr))
    # ru_maxrss and %M are in KiB on Linux
    rss_kib = int(rss_text[-1]) if GNU_TIME and rss_text else usage.ru_maxrss
    return Measure(wall, usage.ru_utime + usage.ru_stime, rss_kib * 1024, stdout)


def median_measure(measures):
    return Measure(statistics.median(m.wall for m in measures), statistics.median(m.cpu for m in measures),
                   statistics.median(m.rss for m in measures), measures[-1].stdout)


class FakeServer:
    def __init__(self, image_bytes):
        self.dir = tempfile.mkdtemp(prefix="gptimage-bench-server-")
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(SOURCE_DIR, "spec", "server", "fake_api.py"), "--port", "0",
             "--port-file", port_file, "--image-bytes", str(image_bytes), "--watch-pid", str(os.getpid())],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                fail("the fake server did not start:\n" + self.log.read())
            time.sleep(0.05)
        with open(port_file) as handle:
            self.port = int(handle.read().split()[0])
        self.root = "http://127.0.0.1:%d" % self.port
        self.base_url = self.root + "/v1"

    def control(self, method, name, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.root + "/__control/" + name, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())

    def config(self, **settings):
        return self.control("POST", "config", settings)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Tools:
    """How each contender runs a job: calls one after another, each for n
    images, saved or kept in memory, or `concurrent` calls at once."""

    def __init__(self, args, server, work_dir):
        self.server = server
        self.work_dir = work_dir
        self.lua = args.lua
        module_dir = os.path.abspath(args.module_dir)
        self.lua_env = dict(os.environ)
        self.lua_env["LUA_CPATH"] = module_dir + "/?.so;;"
        self.lua_env["LUA_PATH"] = SOURCE_DIR + "/lua/?.lua;" + SOURCE_DIR + "/lua/?/init.lua;;"
        self.lua_env.pop("OPENAI_API_KEY", None)
        self.curl = shutil.which("curl")
        # gptimage loads libcurl only when a request starts; the curl CLI's
        # own libcurl is the one it would load
        self.libcurl = libcurl_of(os.path.join(module_dir, "gptimage.so")) or \
            (self.curl and libcurl_of(self.curl))
        self.node = shutil.which("node")
        self.node_note = None
        sdk_dir = os.environ.get("OPENAI_SDK_DIR") or os.path.join(SOURCE_DIR, "spec", "conformance")
        if not self.node:
            self.node_note = "node not found: openai-node skipped"
        elif not os.path.exists(os.path.join(sdk_dir, "node_modules", "openai", "package.json")):
            self.node_note = ("openai-node skipped: the SDK is not installed "
                              "(npm ci --prefix spec/conformance)")
            self.node = None
        self.body_files = {}
        self.image_bytes = args.image_bytes

    def names(self):
        return ["gptimage"] + (["curl"] if self.curl else []) + (["openai-node"] if self.node else [])

    def body_file(self, n):
        if n not in self.body_files:
            path = os.path.join(self.work_dir, "body-%d.json" % n)
            with open(path, "w") as handle:
                json.dump(dict(PROMPT_BODY, n=n), handle)
            self.body_files[n] = path
        return self.body_files[n]

    def argv(self, tool, out_dir, calls, n, mode, concurrent=1, base_url=None, ca_file=None):
        base_url = base_url or self.server.base_url
        job = [base_url, out_dir, str(calls), str(n), mode, str(concurrent)]
        if tool == "gptimage":
            return [self.lua, os.path.join(BENCH_DIR, "gptimage_job.lua")] + job + [ca_file or "-"], self.lua_env
        if tool == "openai-node":
            return [self.node, os.path.join(BENCH_DIR, "node_job.mjs")] + job, None
        # curl: one process, every request in one option set (so the
        # connection is reused, as one gptimage client does), the JSON
        # answer written to disk as it is; -Z for concurrent jobs.
        argv = [self.curl, "-sS", "--fail", "-H", "Authorization: Bearer " + API_KEY,
                "-H", "Content-Type: application/json", "--data-binary", "@" + self.body_file(n)]
        if ca_file:
            argv += ["--cacert", ca_file]
        count = concurrent if concurrent > 1 else calls
        if concurrent > 1:
            # over HTTP/2 curl waits to multiplex on one connection
            argv[1:1] = ["-Z", "--parallel-max", str(concurrent)] + ([] if ca_file else ["--parallel-immediate"])
        url = base_url + "/images/generations"
        for index in range(1, count + 1):
            target = "/dev/null" if mode == "bytes" else os.path.join(out_dir, "curl-%03d.json" % index)
            argv += ["-o", target, url]
        return argv, None

    def run(self, tool, repeat, calls, n, mode, concurrent=1, base_url=None, ca_file=None):
        measures = []
        for _ in range(repeat):
            out_dir = tempfile.mkdtemp(prefix="out-", dir=self.work_dir)
            argv, env = self.argv(tool, out_dir, calls, n, mode, concurrent, base_url, ca_file)
            measure = run_measured(argv, env=env)
            answers = concurrent if concurrent > 1 else calls
            expected = 0 if mode == "bytes" else answers * (1 if tool == "curl" else n)
            written = [f for f in os.listdir(out_dir) if os.path.getsize(os.path.join(out_dir, f)) > 0]
            if len(written) != expected:
                raise RuntimeError("%s wrote %d files, expected %d" % (tool, len(written), expected))
            shutil.rmtree(out_dir)
            measures.append(measure)
        return median_measure(measures)

    def startup(self, tool, repeat):
        """Cost of loading the library and making a client: the median over
        `repeat` processes, minus the bare interpreter's median start."""
        if tool == "gptimage":
            loaded = [self.lua, "-e", 'require("gptimage").new{ api_key = "sk-bench" }']
            bare = [self.lua, "-e", ""]
            env = self.lua_env
        elif tool == "curl":
            # the floor under gptimage's start: the same interpreter loading
            # the libcurl gptimage is linked with, as require loads a module
            if not self.libcurl:
                return None
            loaded = [self.lua, "-e", 'assert(package.loadlib(%r, "*"))' % self.libcurl]
            bare = [self.lua, "-e", ""]
            env = self.lua_env
        elif tool == "openai-node":
            loaded = [self.node, os.path.join(BENCH_DIR, "node_job.mjs"), self.server.base_url, "-", "0", "0",
                      "startup"]
            bare = [self.node, "-e", ""]
            env = None
        else:
            return None

        def mean(argv):
            runs = [run_measured(argv, env=env) for _ in range(repeat)]
            return statistics.median(m.wall for m in runs), statistics.median(m.cpu for m in runs), \
                max(m.rss for m in runs)

        loaded_wall, loaded_cpu, loaded_rss = mean(loaded)
        bare_wall, bare_cpu, _ = mean(bare)
        return Measure(loaded_wall - bare_wall, loaded_cpu - bare_cpu, loaded_rss, "")


def libcurl_of(module):
    """The libcurl file a module or program is linked with, from ldd, or None."""
    try:
        output = subprocess.run(["ldd", module], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in output.splitlines():
        parts = line.split("=>")
        if len(parts) == 2 and parts[0].strip().startswith("libcurl"):
            path = parts[1].split("(")[0].strip()
            return path or None
    return None


def version_of(argv, env=None):
    try:
        output = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
        return (output.stdout or output.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def machine_info(args, tools):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    build_type, c_flags = "unknown", ""
    cache = os.path.join(args.module_dir, "CMakeCache.txt")
    if os.path.exists(cache):
        with open(cache) as handle:
            for line in handle:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    build_type = line.split("=", 1)[1].strip() or "(none: no optimisation flags)"
                elif line.startswith("CMAKE_C_FLAGS:"):
                    c_flags = line.split("=", 1)[1].strip()
    info = [
        ("machine", "%s, %s, %s cores" % (platform.machine(), cpu, os.cpu_count())),
        ("kernel", platform.release()),
        ("load average at the end", " ".join("%.2f" % x for x in os.getloadavg())),
        ("gptimage", version_of([tools.lua, "-e", 'local g = require "gptimage" print(g.version)'], tools.lua_env)
         + " (" + " ".join(version_of([tools.lua, "-v"]).split()[:2]) + "; CMake build type " + build_type
         + ((", CFLAGS " + c_flags) if c_flags else "") + ")"),
    ]
    if tools.curl:
        info.append(("curl", version_of([tools.curl, "--version"])))
    if tools.node:
        sdk = version_of([tools.node, "-e", "console.log(require(process.argv[1]).version)",
                          os.path.join(os.environ.get("OPENAI_SDK_DIR")
                                       or os.path.join(SOURCE_DIR, "spec", "conformance"),
                                       "node_modules", "openai", "package.json")])
        info.append(("openai-node", sdk + " on node " + version_of([tools.node, "--version"])))
    return info


def profile(tools, work_dir):
    """Instruction counts (repeatable whatever the machine's load) of the
    saved-image job, by function, with callgrind_annotate's summary."""
    if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
        fail("valgrind (with callgrind_annotate) is needed for --callgrind")
    out_dir = tempfile.mkdtemp(prefix="out-", dir=work_dir)
    data = os.path.join(work_dir, "callgrind.out")
    argv, env = tools.argv("gptimage", out_dir, 5, 1, "save")
    subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + data] + argv,
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report = subprocess.run(["callgrind_annotate", "--inclusive=no", data], capture_output=True, text=True,
                            check=True).stdout
    lines = report.splitlines()
    start = next((i for i, line in enumerate(lines) if "PROGRAM TOTALS" in line), 0)
    sys.stdout.write("gptimage saving 5 images of %s bytes, instructions by function:\n" % tools.image_bytes)
    sys.stdout.write("\n".join(lines[start:start + 25]) + "\n")


def fmt_ratio(a, b):
    if a is None or b is None or b <= 0:
        return "-"
    return "%.2fx" % (a / b)


def default_module_dir():
    """The Lua 5.4 build the README and scripts/build.sh make, else build/."""
    for folder in ("build/lua5.4", "build"):
        path = os.path.join(SOURCE_DIR, folder)
        if os.path.exists(os.path.join(path, "gptimage.so")):
            return path
    return os.path.join(SOURCE_DIR, "build/lua5.4")


def hosts_only(args, server, work_dir):
    """The LÖVE frames and Neovim ticks alone, printed as their tables with
    the load average (the shared machine's other work shows in the wall clock)."""
    sys.stdout.write("load average before: %s\n" % " ".join("%.2f" % v for v in os.getloadavg()))
    curl8_env = polls.libcurl8_env()
    love8 = nvim8 = None
    try:
        love, nvim = polls.host_figures(server, args.luajit_module_dir, work_dir, runs=args.host_runs)
        if curl8_env:
            love8, nvim8 = polls.host_figures(server, args.luajit_module_dir, work_dir, runs=args.host_runs,
                                              extra_env=curl8_env)
    except RuntimeError as error:
        fail(str(error))
    baseline = polls.load_baseline()
    if love:
        sys.stdout.write("\n".join(polls.love_table(love, baseline)) + "\n")
    else:
        sys.stdout.write("LÖVE frames: skipped (love, xvfb-run or %s/gptimage.so missing)\n" % args.luajit_module_dir)
    if nvim:
        sys.stdout.write("\n".join(polls.nvim_table(nvim, baseline)) + "\n")
    else:
        sys.stdout.write("Neovim ticks: skipped (nvim or %s/gptimage.so missing)\n" % args.luajit_module_dir)
    for title, figures, table in (("LÖVE frames", love8, polls.love_table), ("Neovim ticks", nvim8, polls.nvim_table)):
        if figures:
            sys.stdout.write("%s on libcurl 8:\n%s\n" % (title, "\n".join(table(figures, None))))
    sys.stdout.write("load average after: %s\n" % " ".join("%.2f" % v for v in os.getloadavg()))


def main():
    parser = argparse.ArgumentParser(description="gptimage vs curl vs openai-node")
    parser.add_argument("--module-dir", default=os.environ.get("GPTIMAGE_BUILD_DIR") or default_module_dir(),
                        help="folder holding gptimage.so (default $GPTIMAGE_BUILD_DIR, else the "
                             "README's build/lua5.4, else build/)")
    parser.add_argument("--lua", default=os.environ.get("GPTIMAGE_LUA") or "lua5.4")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the median is reported")
    parser.add_argument("--startup-repeat", type=int, default=30)
    parser.add_argument("--image-bytes", type=int, default=3000000)
    parser.add_argument("--quick", action="store_true", help="one run per case, 10 startups")
    parser.add_argument("--results", default=os.path.join(BENCH_DIR, "results.md"),
                        help="markdown output ('-' for none)")
    parser.add_argument("--callgrind", action="store_true",
                        help="instead: profile gptimage saving 5 images under valgrind's callgrind")
    parser.add_argument("--no-polls", action="store_true", help="skip the per-poll, LÖVE and HTTP/2 figures")
    parser.add_argument("--luajit-module-dir",
                        default=os.environ.get("GPTIMAGE_LUAJIT_BUILD_DIR") or os.path.join(SOURCE_DIR, "build", "luajit"),
                        help="LuaJIT build for the LÖVE frame figures (default build/luajit)")
    parser.add_argument("--hosts", action="store_true",
                        help="only the LÖVE frame and Neovim tick figures, printed (results.md is left alone)")
    parser.add_argument("--host-runs", type=int, default=3, help="generations per LÖVE frame run (default 3)")
    parser.add_argument("--save-poll-baseline", metavar="LABEL",
                        help="only run the per-poll cases and keep them as the 'before' of later runs")
    parser.add_argument("--only-polls", action="store_true",
                        help="only run the per-poll cases and print their table (results.md is left alone)")
    parser.add_argument("--only-trust", action="store_true",
                        help="only the first-TLS-connection figures, printed (results.md is left alone)")
    parser.add_argument("--poll-cases", metavar="TEXT",
                        help="per-poll cases whose key (size|mode|jobs|pacing|transport) contains TEXT only")
    parser.add_argument("--poll-baseline", metavar="FILE", default=polls.BASELINE,
                        help="the 'before' of the per-poll table (default bench/poll_baseline.json)")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.startup_repeat = 1, 10
    if not os.path.exists(os.path.join(args.module_dir, "gptimage.so")):
        fail("no gptimage.so in %s: build first (cmake -S . -B build/lua5.4 && "
             "cmake --build build/lua5.4, or scripts/build.sh) or give --module-dir" % args.module_dir)

    work_dir = tempfile.mkdtemp(prefix="gptimage-bench-")
    server = FakeServer(args.image_bytes)
    if args.hosts:
        try:
            hosts_only(args, server, work_dir)
        finally:
            server.stop()
            shutil.rmtree(work_dir, ignore_errors=True)
        return
    tools = Tools(args, server, work_dir)
    if args.callgrind:
        try:
            profile(tools, work_dir)
        finally:
            server.stop()
            shutil.rmtree(work_dir, ignore_errors=True)
        return
    want_h2 = not args.no_polls and shutil.which("node") and shutil.which("openssl")
    front = polls.H2Front(server.root, work_dir) if want_h2 else None
    # the same module on libcurl 8 where the system's is 7.88: it reads
    # HTTP/2 a chunk per call, and most users (and their games and editors)
    # have it
    curl8_env = polls.libcurl8_env() if not args.no_polls else None
    curl8_version = polls.libcurl_version(tools.lua, dict(tools.lua_env, **curl8_env)) if curl8_env else None
    transports = [("HTTP/1.1", server.base_url, None, None)]
    if front:
        transports.append(("HTTP/2", front.base_url, front.ca_file, None))
        if curl8_env:
            transports.append((polls.LIBCURL8, front.base_url, front.ca_file, curl8_env))
    if args.only_trust:
        if not front:
            fail("the trust figures need node and openssl for the HTTP/2 front")
        try:
            figures = polls.trust_figures(tools, front, work_dir)
        finally:
            front.stop()
            server.stop()
            shutil.rmtree(work_dir, ignore_errors=True)
        sys.stdout.write("\n".join(polls.trust_table(figures) if figures else ["no system trust store"]) + "\n")
        return
    if args.only_polls:
        try:
            results = polls.run_polls(tools, server, work_dir, transports, args.quick, args.poll_cases)
        finally:
            if front:
                front.stop()
            server.stop()
            shutil.rmtree(work_dir, ignore_errors=True)
        baseline = polls.load_baseline(args.poll_baseline)
        sys.stdout.write("\n".join(polls.poll_table(results, baseline)[0]) + "\n")
        sys.stdout.write("before: %s\n" % (baseline["label"] if baseline else "none"))
        sys.stdout.write(json.dumps(results, sort_keys=True) + "\n")
        return
    if args.save_poll_baseline:
        try:
            polls.save_baseline(polls.run_polls(tools, server, work_dir, transports, args.quick, args.poll_cases),
                                args.save_poll_baseline, path=args.poll_baseline)
        finally:
            if front:
                front.stop()
            server.stop()
            shutil.rmtree(work_dir, ignore_errors=True)
        sys.stderr.write("written to %s\n" % args.poll_baseline)
        return
    names = tools.names()
    image_mib = args.image_bytes / MIB
    rows = []          # (case key, title, tool, Measure)
    results = {}       # (case key, tool) -> Measure
    started = time.monotonic()

    def case(key, title, calls, n, mode, concurrent=1, only=None):
        for tool in (only or names):
            sys.stderr.write("  %-34s %s\n" % (title, tool))
            measure = tools.run(tool, args.repeat, calls, n, mode, concurrent)
            results[(key, tool)] = measure
            rows.append((key, title, tool, measure))

    try:
        sys.stderr.write("benchmarking against the fake server on port %d (%d-byte images, %d runs per case)\n"
                         % (server.port, args.image_bytes, args.repeat))
        case("seq20", "20 sequential calls, saved", 20, 1, "save")
        case("n8", "one call n=8, saved", 1, 8, "save")
        case("bytes8", "one call n=8, bytes (no save)", 1, 8, "bytes")
        case("n1", "one call n=1, saved", 1, 1, "save")
        server.config(delay=1)
        case("delay1", "1 call, 1 s server delay", 1, 1, "save")
        case("conc8", "8 concurrent calls, 1 s delay", 1, 1, "save", concurrent=8)
        server.config(delay=0, image_bytes=4 * args.image_bytes)
        case("n1big", "one call n=1 of %.0f MB, saved" % (4 * args.image_bytes / 1e6), 1, 1, "save")
        server.config(image_bytes=args.image_bytes)
        poll_results = h2_rows = love_figures = nvim_figures = love8 = nvim8 = None
        if not args.no_polls:
            poll_results = polls.run_polls(tools, server, work_dir, transports, args.quick)
            love_figures, nvim_figures = polls.host_figures(server, args.luajit_module_dir, work_dir)
            if curl8_env:
                love8, nvim8 = polls.host_figures(server, args.luajit_module_dir, work_dir, extra_env=curl8_env)
        trust_figures = None
        if front:
            h2_rows, h2_sessions, h2_streams = polls.http2_figures(tools, server, front, work_dir, args.repeat)
            trust_figures = polls.trust_figures(tools, front, work_dir)
        for tool in names:
            sys.stderr.write("  %-34s %s\n" % ("startup", tool))
            measure = tools.startup(tool, args.startup_repeat)
            if measure:
                results[("startup", tool)] = measure
        info = machine_info(args, tools)
    except RuntimeError as error:
        if front:
            front.stop()
        server.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
        fail(str(error))
    if front:
        front.stop()
    server.stop()
    shutil.rmtree(work_dir, ignore_errors=True)
    elapsed = time.monotonic() - started

    lines = []
    lines.append("| case | tool | wall s | CPU s | peak RSS MiB | CPU vs curl | CPU vs node | wall vs curl |")
    lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, title, tool, m in rows:
        curl_m, node_m = results.get((key, "curl")), results.get((key, "openai-node"))
        lines.append("| %s | %s | %.3f | %.3f | %.1f | %s | %s | %s |" % (
            title, tool, m.wall, m.cpu, m.rss / MIB,
            fmt_ratio(m.cpu, curl_m and curl_m.cpu) if tool != "curl" else "",
            fmt_ratio(m.cpu, node_m and node_m.cpu) if tool != "openai-node" else "",
            fmt_ratio(m.wall, curl_m and curl_m.wall) if tool != "curl" else ""))
    for tool in names:
        m = results.get(("startup", tool))
        if m:
            title = "require + new (median of %d, minus bare interpreter)" % args.startup_repeat
            if tool == "curl":
                title = "loading libcurl alone (median of %d, minus bare interpreter)" % args.startup_repeat
            lines.append("| %s | %s | %.2f ms | %.2f ms | %.1f | | | |"
                         % (title, tool, m.wall * 1000, m.cpu * 1000, m.rss / MIB))

    def get(key, tool="gptimage"):
        return results.get((key, tool))

    targets = []

    def target(text, value, ok):
        targets.append("| %s | %s | %s |" % (text, value, "met" if ok else "**not met**"))

    for key, label in (("seq20", "20 sequential"), ("n8", "n=8")):
        g, c, nd = get(key), get(key, "curl"), get(key, "openai-node")
        if c:
            target("CPU saving (%s) <= 1.5x curl" % label, fmt_ratio(g.cpu, c.cpu), g.cpu <= 1.5 * c.cpu)
        if nd:
            target("CPU saving (%s) <= 1/4 openai-node" % label, fmt_ratio(g.cpu, nd.cpu), g.cpu <= 0.25 * nd.cpu)
    peak8 = get("n8").rss
    target("peak RSS saving n=8 x %.0f MB <= 24 MiB" % (args.image_bytes / 1e6), "%.1f MiB" % (peak8 / MIB),
           peak8 <= 24 * MIB)
    peaks = [get("n1").rss, peak8, get("n1big").rss]
    spread = max(peaks) / min(peaks)
    target("peak RSS flat (n=1, n=8, 4x size) within 10%", "%.1f / %.1f / %.1f MiB (max/min %.2f)"
           % tuple([p / MIB for p in peaks] + [spread]), spread <= 1.10)
    decoded = int(get("bytes8").stdout.strip() or "0")
    bytes_peak = get("bytes8").rss
    target("bytes mode peak <= decoded + 16 MiB", "%.1f MiB for %.1f MiB decoded (+%.1f)"
           % (bytes_peak / MIB, decoded / MIB, (bytes_peak - decoded) / MIB), bytes_peak <= decoded + 16 * MIB)
    one, eight = get("delay1"), get("conc8")
    target("8 concurrent delayed calls <= 1.15x one", fmt_ratio(eight.wall, one.wall), eight.wall <= 1.15 * one.wall)
    if poll_results:
        poll_lines = polls.poll_table(poll_results, polls.load_baseline(args.poll_baseline))[0]
        for transport in ("HTTP/1.1", "HTTP/2", polls.LIBCURL8):
            for mode in polls.MODES:
                picked = [r for key, r in poll_results.items()
                          if key.endswith("|" + transport) and "|%s|" % mode in key]
                if not picked:
                    continue
                other = max(r["other_longest_ms"] for r in picked)
                longest = max(r["longest_ms"] for r in picked)
                other_p99 = max(r["other_p99_ms"] for r in picked)
                p99 = max(r["p99_ms"] for r in picked)
                # handing a finished image to Lua (one copy into a Lua string) may exceed the budget: it is
                # the one piece of work the issue exempts, reported per MB in the per-poll table
                target("longest client:poll() without a delivery <= 2 ms CPU (%s, %s, every case)" % (mode, transport),
                       "%.2f ms (%.2f ms with deliveries)" % (other, longest), other <= 2.0)
                target("client:poll() p99 without a delivery <= 0.5 ms CPU (%s, %s, every case)" % (mode, transport),
                       "%.3f ms (%.3f ms with deliveries)" % (other_p99, p99), other_p99 <= 0.5)
    for label, figures in (("LÖVE", love_figures), ("LÖVE on libcurl 8", love8)):
        for partials, f in sorted((figures or {}).items()):
            target("%s, 6 MB image, %s partials: no frame over 16.7 ms (wall; game-thread CPU)" % (label, partials),
                   "%.1f ms; %.1f ms" % (f["longest_ms"], f["cpu_longest_ms"]), f["longest_ms"] <= 16.7)
    for label, figures in (("Neovim", nvim_figures), ("Neovim on libcurl 8", nvim8)):
        for mode, f in sorted((figures or {}).items()):
            target("%s, four 6 MB images (%s): no tick over 2 ms" % (label, mode), "%.2f ms" % f["longest_ms"],
                   f["longest_ms"] <= 2.0)
    if h2_rows:
        h2_g = next(m for _, tool, m in h2_rows if tool == "gptimage")
        h2_c = next((m for _, tool, m in h2_rows if tool == "curl"), None)
        if h2_c:
            target("CPU over HTTP/2 (8 x 6 MB) <= 1.5x curl", fmt_ratio(h2_g.cpu, h2_c.cpu), h2_g.cpu <= 1.5 * h2_c.cpu)
        target("64 concurrent jobs over HTTP/2 open one connection", "%d connection(s), up to %d streams at once"
               % (h2_sessions, h2_streams), h2_sessions == 1)
    if trust_figures:
        slow = trust_figures["bundle and a folder that differs"]
        fast = trust_figures["folder of the same certificates, alone"]
        target("first TLS connection, system trust store: longest poll <= 2 ms CPU",
               "%.2f ms (%.2f ms with the bundle and a folder that differs)" % (fast["longest_ms"],
                                                                                slow["longest_ms"]),
               fast["longest_ms"] <= 2.0)
    start_m = get("startup")
    floor = get("startup", "curl")
    target("require + new < 5 ms", "%.2f ms wall, %.2f ms CPU%s" % (
        start_m.wall * 1000, start_m.cpu * 1000,
        "; libcurl alone: %.2f ms" % (floor.wall * 1000) if floor else ""), start_m.wall < 0.005)

    notes = [
        "Images: the fake server's incompressible noise PNG of %d bytes (%.1f MiB), base64 in JSON;"
        " gpt-image-2.6-flare, 1024x1024, quality low." % (args.image_bytes, image_mib),
        "Each figure is the median of %d runs; CPU = user + system time of the job's process"
        " (wait4), peak RSS = its maximum resident set size (GNU time's %%M); the fake server, on the"
        " same cores, is not counted." % args.repeat,
        "gptimage: `bench/gptimage_job.lua`, one client, `save` to a file (or bytes kept in memory);"
        " concurrent calls are `client:start` jobs on that client.",
        "curl: one `curl` process per case with every request in one option set (the connection is"
        " reused), each JSON answer written to disk undecoded (bytes mode: to /dev/null); concurrent"
        " calls with `-Z --parallel-max 8`. It does not decode: the floor for moving the bytes.",
        "require + new: gptimage loads libcurl when the first request starts (src/curlapi.h), so"
        " the first request pays the libcurl row once; the saving cases include it.",
        "openai-node: `bench/node_job.mjs`, `client.images.generate`, `Buffer.from(b64_json, 'base64')`,"
        " `fs.writeFileSync`; concurrent calls with `Promise.all`. Its times include node's start and"
        " the SDK import (see the require + new row).",
    ]
    if not GNU_TIME:
        notes.append("/usr/bin/time (Debian package `time`) not found: peak RSS figures include the"
                     " harness's own size, which Linux carries into each child")
    if tools.node_note:
        notes.append(tools.node_note)
    if not tools.curl:
        notes.append("curl not found: the curl floor was skipped")

    text = []
    text.append("# gptimage benchmark results\n")
    text.append("Latest run of `bench/run.sh`, %s, %.0f s.\n" % (
        datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), elapsed))
    for name, value in info:
        text.append("- %s: %s" % (name, value))
    text.append("")
    text.extend(lines)
    text.append("\n## Targets (reported, never enforced)\n")
    text.append("| target | measured | |")
    text.append("| --- | --- | --- |")
    text.extend(targets)
    if poll_results:
        baseline = polls.load_baseline(args.poll_baseline)
        text.append("\n## CPU per client:poll()\n")
        text.append("Each case starts its jobs on one client and calls `client:poll()` until all are done,"
                    " back to back or with a 60 fps frame (16 ms) between polls; each poll is timed by the"
                    " process's CPU clock (`bench/poll_job.lua`). A delivery is a poll that hands a finished"
                    " result to Lua (in bytes mode it copies the image into a Lua string: its cost per MB is"
                    " the last column but one). \"before\" is %s. These machines are virtual: the CPU clock"
                    " also runs while the host has taken the core away, so a single poll of several ms in a"
                    " case whose others stay under one is often that, not work (`perf record -k"
                    " CLOCK_MONOTONIC` over two such polls, of 2.2 and 5.0 ms, took no sample at all for 2 and 4.5 ms"
                    " of them).\n"
                    % (baseline["label"] if baseline else "not recorded (bench/poll_baseline.json)"))
        if curl8_version and front:
            text.append("\"%s\": the HTTP/2 cases again, the same module on libcurl %s (`scripts/libcurl8.sh`, put"
                        " first on `LD_LIBRARY_PATH`); they have no \"before\".\n" % (polls.LIBCURL8, curl8_version))
        text.extend(poll_lines)
    if love_figures:
        text.append("\n## LÖVE frames\n")
        text.append("`bench/love_frames` in a real LÖVE window under Xvfb: `images:generate` of a 6 MB image"
                    " until it is drawn, three times, every frame measured by the wall clock and by the game"
                    " thread's CPU clock (the wall clock also counts every other process on these shared"
                    " cores). Partial images arrive 0.1 s apart and are drawn as they come.\n")
        text.extend(polls.love_table(love_figures, polls.load_baseline()))
        if love8:
            text.append("\nThe same on libcurl %s (the same module, `LD_LIBRARY_PATH`):\n" % curl8_version)
            text.extend(polls.love_table(love8, None))
    if nvim_figures:
        text.append("\n## Neovim ticks\n")
        text.append("`bench/nvim_ticks.lua` in headless Neovim: `gptimage.nvim` generating four 6 MB images at"
                    " once; every `client:poll()` its timer makes, by the process's CPU clock.\n")
        text.extend(polls.nvim_table(nvim_figures, polls.load_baseline()))
        if nvim8:
            text.append("\nThe same on libcurl %s (the same module, `LD_LIBRARY_PATH`):\n" % curl8_version)
            text.extend(polls.nvim_table(nvim8, None))
    if h2_rows:
        text.append("\n## HTTP/2 over TLS\n")
        text.append("The same fake API behind spec/server/h2_front.mjs (Node's http2, a certificate made"
                    " for the run); curl multiplexes too (`-Z` without `--parallel-immediate`).\n")
        text.append("| case | tool | wall s | CPU s | peak RSS MiB | CPU vs curl |")
        text.append("| --- | --- | ---: | ---: | ---: | ---: |")
        h2_curl = next((m for _, tool, m in h2_rows if tool == "curl"), None)
        for title, tool, m in h2_rows:
            text.append("| %s | %s | %.3f | %.3f | %.1f | %s |" % (
                title, tool, m.wall, m.cpu, m.rss / MIB,
                fmt_ratio(m.cpu, h2_curl and h2_curl.cpu) if tool != "curl" else ""))
        text.append("| 64 concurrent jobs, saved, 0.5 s server delay | gptimage | %d connection(s) | "
                    "up to %d streams at once | | |" % (h2_sessions, h2_streams))
    if trust_figures:
        text.append("\n## First TLS connection and the trust store\n")
        text.append("One 1024x1024 job over HTTP/2 without `ca_file`, `SSL_CERT_FILE` the system bundle plus the"
                    " front's certificate, `SSL_CERT_DIR` a hashed folder (`openssl rehash`) of the system"
                    " certificates alone (it differs: the pair is loaded, and the bundle parsed whole, by libcurl"
                    " for every new connection, or once per client where connections share a parsed store,"
                    " src/castore.h) or with the front's too (the same: it is loaded alone, src/trust.h). The"
                    " longest poll is the one that makes the TLS handshake; the start call readies the client's"
                    " transport (loads libcurl, judges the trust store, parses what it needs); median of 5 runs"
                    " by the process's CPU clock.\n")
        text.extend(polls.trust_table(trust_figures))
    text.append("\n## Method\n")
    text.extend("- " + note for note in notes)
    report = "\n".join(text) + "\n"
    sys.stdout.write(report)
    if args.results != "-":
        with open(args.results, "w") as handle:
            handle.write(report)
        sys.stderr.write("written to %s\n" % args.results)


if __name__ == "__main__":
    main()
