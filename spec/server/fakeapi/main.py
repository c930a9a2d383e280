"""Main: the command line, the threading HTTP server that owns the State,
the port file and --watch-pid.

Contract: main(argv) -> exit status; serves until shut down (control call,
Ctrl-C or the watched process ending). See ../README.md for the options.
"""

import argparse
import http.server
import ipaddress
import os
import socket
import sys
import threading
import time

from .handler import ConnectionGone, Handler
from .state import DEFAULT_CONFIG, State


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, state):
        self.state = state
        super().__init__(address, Handler)

    def handle_error(self, request, client_address):
        kind = sys.exc_info()[0]
        if kind and issubclass(kind, (ConnectionError, socket.timeout, ConnectionGone)):
            return
        super().handle_error(request, client_address)


def process_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open("/proc/%d/stat" % pid, "rb") as stat:
            # The state follows the parenthesised command name; Z = zombie.
            return stat.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def watch(state, pid):
    while True:
        time.sleep(0.5)
        if process_gone(pid):
            state.log("watched process %d is gone, exiting" % pid)
            os._exit(0)


def write_port_file(path, port):
    temporary = "%s.%d.tmp" % (path, os.getpid())
    with open(temporary, "w") as handle:
        handle.write("%d %d\n" % (port, os.getpid()))
    os.replace(temporary, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fake OpenAI Images API for tests and benchmarks.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port-file", help="write 'PORT PID' here once listening")
    parser.add_argument("--image-bytes", type=int, default=None,
                        help="answer with incompressible PNGs of about N bytes")
    parser.add_argument("--watch-pid", type=int, default=None,
                        help="exit when this process is gone")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback or ":" in args.host:
        parser.error("--host must be an IPv4 loopback address")
    if args.host == "localhost":
        args.host = "127.0.0.1"

    config = dict(DEFAULT_CONFIG)
    if args.image_bytes and args.image_bytes > 0:
        config["image_bytes"] = args.image_bytes
    state = State(config, verbose=args.verbose)
    if config["image_bytes"]:
        state.images.noise(config["image_bytes"])  # pay for the noise once, before serving
    server = Server((args.host, args.port), state)
    state.port = server.server_address[1]
    if args.watch_pid:
        threading.Thread(target=watch, args=(state, args.watch_pid), daemon=True).start()
    if args.port_file:
        write_port_file(args.port_file, state.port)
    state.log("listening on %s:%d" % (args.host, state.port))
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0
