"""Handler: the HTTP side of one connection. Reads requests (Expect:
100-continue, chunked uploads), records every API request, applies queued
faults, routes to the images / files / batches code and sends answers
(Content-Length or chunked, gzip, drips, resets, truncation).

Contract: Handler is a BaseHTTPRequestHandler whose server has a `state`
(State) and a `shutdown()`; nothing here is module-global state.
"""

import gzip
import http.server
import json
import re
import socket
import struct
import time
import traceback
from urllib.parse import parse_qsl, urlsplit

from . import batches
from .answers import Answer, ApiError, Pause, dumps, iterate_pieces, json_answer, new_id, segment_length
from .control import control
from .faults import FORCES_STREAM, apply_fault, merge_segments, replacement_answer
from .generation import form_generation, json_generation
from .multipart import MultipartError, describe_parts, parse_multipart

ROUTES = [
    ("images", re.compile(r"^/v1/images/(generations|edits|variations)$")),
    ("azure_images", re.compile(r"^/openai/deployments/([^/]+)/images/(generations|edits|variations)$")),
    ("files", re.compile(r"^/v1/files$")),
    ("file", re.compile(r"^/v1/files/([^/]+)$")),
    ("file_content", re.compile(r"^/v1/files/([^/]+)/content$")),
    ("batches", re.compile(r"^/v1/batches$")),
    ("batch", re.compile(r"^/v1/batches/([^/]+)$")),
    ("batch_cancel", re.compile(r"^/v1/batches/([^/]+)/cancel$")),
    ("blob", re.compile(r"^/files/([A-Za-z0-9_-]+)\.(png|jpeg|webp)$")),
]
ALLOWED_METHODS = {"images": ("POST",), "azure_images": ("POST",), "files": ("POST", "GET"),
                   "file": ("GET", "DELETE"), "file_content": ("GET",),
                   "batches": ("POST", "GET"), "batch": ("GET",), "batch_cancel": ("POST",)}

REASONS = http.server.BaseHTTPRequestHandler.responses


class ConnectionGone(Exception):
    pass


class ClosedStream:
    """Stands in for the request's files once the socket is gone."""
    closed = False

    def write(self, data):
        raise ConnectionGone()

    def flush(self):
        pass

    def readline(self, *args):
        return b""

    def read(self, *args):
        return b""

    def close(self):
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-openai"
    timeout = 600

    # -- connection plumbing

    def setup(self):
        super().setup()
        self.state = self.server.state
        self.connection_id = self.state.new_connection()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def parse_request(self):
        self.expect_pending = False
        return super().parse_request()

    def handle_expect_100(self):
        # Answer "100 Continue" only when the body is really wanted, so that
        # drop_upload can refuse an upload before it starts.
        self.expect_pending = True
        return True

    def log_message(self, format, *args):
        self.state.log("%s - %s" % (self.address_string(), format % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def abort(self, reset):
        """Close the connection at once; with reset, abortively (RST)."""
        if reset:
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            except OSError:
                pass
        else:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for stream in (self.rfile, self.wfile):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        try:
            self.connection.close()
        except OSError:
            pass
        # The base class flushes and closes these after the request.
        self.rfile = ClosedStream()
        self.wfile = ClosedStream()
        self.close_connection = True

    def read_body(self):
        if self.expect_pending:
            self.expect_pending = False
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            pieces = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionGone()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                piece = self.rfile.read(size)
                if len(piece) < size:
                    raise ConnectionGone()
                pieces.append(piece)
                self.rfile.readline(3)
            return b"".join(pieces)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) < length:
            raise ConnectionGone()
        return body

    # -- sending

    def file_base_url(self):
        """Where the images a url answer names are fetched: this server, or
        the proxy before it that said so in a Forwarded header (RFC 7239:
        proto and host of its first element)."""
        fields = {}
        for pair in (self.headers.get("Forwarded") or "").split(",")[0].split(";"):
            name, _, value = pair.strip().partition("=")
            fields[name.lower()] = value.strip('"')
        if fields.get("proto") in ("http", "https") and re.match(r"^[A-Za-z0-9.\-\[\]:]+$", fields.get("host", "")):
            return "%s://%s" % (fields["proto"], fields["host"])
        return "http://127.0.0.1:%d" % self.state.port

    def pretty(self):
        return self.state.config_value("pretty")

    def send_answer(self, answer, request_id, fault=None, accepts_gzip=False):
        state = self.state
        action = fault["action"] if fault else None
        segments = answer.segments
        headers = {"content-type": answer.content_type, "x-request-id": request_id,
                   "openai-version": "2020-10-01", "openai-processing-ms": "1"}
        if answer.is_sse:
            headers["cache-control"] = "no-cache"
        if (state.config_value("gzip") and accepts_gzip and not answer.is_sse
                and action not in ("reset", "truncate", "drip")):
            segments = [gzip.compress(b"".join(merge_segments(segments)), 1)]
            headers["content-encoding"] = "gzip"
        for name, value in answer.headers.items():
            headers[name.lower()] = str(value)
        chunked = bool(state.config_value("chunked"))
        if chunked:
            headers["transfer-encoding"] = "chunked"
        else:
            headers["content-length"] = str(sum(segment_length(s) for s in segments))
        close_after = self.close_connection or action in ("reset", "truncate")
        if close_after:
            headers["connection"] = "close"
        head = ["HTTP/1.1 %d %s" % (answer.status, REASONS.get(answer.status, ("Unknown",))[0])]
        head += ["%s: %s" % (name, value) for name, value in headers.items()]
        self.connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))

        limit = None
        if action in ("reset", "truncate"):
            total = sum(segment_length(s) for s in segments)
            limit = int(fault.get("after_bytes", total // 2))
        piece_size, interval, drip_from = None, 0.0, 0
        if action == "drip":
            piece_size = max(1, int(fault.get("chunk", 64)))
            interval = float(fault.get("interval", 0.1))
            drip_from = max(0, int(fault.get("after_bytes", 0)))
        elif action == "sse_split":
            piece_size = max(1, int(fault.get("chunk", 5)))
            interval = float(fault.get("interval", 0.0))

        sent = 0
        buffered = []
        buffered_size = 0

        def write(data):
            if chunked:
                data = b"%x\r\n" % len(data) + bytes(data) + b"\r\n"
            self.connection.sendall(data)

        def flush():
            nonlocal buffered, buffered_size
            if buffered:
                write(b"".join(buffered))
                buffered, buffered_size = [], 0

        for piece in iterate_pieces(segments):
            if isinstance(piece, Pause):
                flush()
                time.sleep(piece.seconds)
                continue
            if limit is not None:
                if sent >= limit:
                    break
                piece = piece[:limit - sent]
            if piece_size:
                for offset in range(0, len(piece), piece_size):
                    if (sent or offset) and sent + offset >= drip_from:
                        time.sleep(interval)
                    write(piece[offset:offset + piece_size])
                sent += len(piece)
                continue
            sent += len(piece)
            if len(piece) >= 65536:
                flush()
                write(piece)
            else:
                buffered.append(bytes(piece))
                buffered_size += len(piece)
                if buffered_size >= 65536:
                    flush()
        flush()
        if action == "reset":
            self.abort(reset=True)
        elif action == "truncate":
            self.abort(reset=False)
        else:
            if chunked:
                self.connection.sendall(b"0\r\n\r\n")
            if close_after:
                self.close_connection = True

    # -- dispatch

    def dispatch(self):
        state = self.state
        url = urlsplit(self.path)
        path = url.path
        method = self.command
        if path.startswith("/__control/"):
            try:
                body = self.read_body()
                answer = control(state, self.server.shutdown, method, path, body)
            except ConnectionGone:
                self.close_connection = True
                return
            except Exception as problem:  # e.g. a fault with a non-numeric "times"
                answer = Answer(400, [dumps({"error": "control %s failed: %r" % (path, problem)})])
            self.send_answer(answer, new_id("req_", 16))
            return

        with state.lock:
            state.in_flight += 1
        try:
            self.api_request(method, path, url.query)
        except (ConnectionGone, ConnectionError, socket.timeout):
            self.close_connection = True
        except Exception as problem:  # a bug here must fail the client's test loudly
            traceback.print_exc()
            self.close_connection = True
            answer = Answer(500, [dumps({"error": {"message": "fake server bug: %r" % problem,
                                                   "type": "fake_server_error", "param": None,
                                                   "code": None}})])
            try:
                self.send_answer(answer, new_id("req_", 16))
            except (ConnectionGone, OSError):
                pass
        finally:
            with state.lock:
                state.in_flight -= 1

    def api_request(self, method, path, query_string):
        state = self.state
        request_id = new_id("req_", 16)
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = headers[name] + ", " + value if name in headers else value
        record = {"id": None, "connection": self.connection_id, "method": method, "path": path,
                  "query": dict(parse_qsl(query_string, keep_blank_values=True)),
                  "headers": headers, "json": None, "parts": None, "body_size": None,
                  "request_id": request_id, "fault": None, "status": None,
                  "images": [], "partial_images": [], "time": time.time(), "concurrent": 0}
        with state.lock:
            record["concurrent"] = state.in_flight - 1
        fault = state.take_fault(method, path)
        if fault:
            record["fault"] = fault["action"]
        if fault and fault["action"] == "drop_upload":
            state.add_record(record)
            time.sleep(fault["delay"])
            self.abort(reset=True)
            return
        body = self.read_body()
        record["body_size"] = len(body)
        with state.lock:
            record["concurrent"] = state.in_flight - 1
        content_type = self.headers.get("Content-Type", "")
        parts = None
        multipart_error = None
        if content_type.lower().startswith("multipart/"):
            try:
                parts = parse_multipart(content_type, body)
                record["parts"] = describe_parts(parts)
            except MultipartError as problem:
                multipart_error = str(problem)
                record["multipart_error"] = multipart_error
        elif body:
            try:
                record["json"] = json.loads(body)
            except ValueError:
                record["json"] = None
        state.add_record(record)

        delay = (fault["delay"] if fault else 0) + float(state.config_value("delay") or 0)
        if delay > 0:
            time.sleep(delay)
        if fault and fault["action"] == "drop":
            self.abort(reset=False)
            return

        answer = replacement_answer(fault, self.pretty()) if fault else None
        if answer is None:
            force_stream = bool(fault) and fault["action"] in FORCES_STREAM
            try:
                answer = self.route(method, path, record, body, parts, multipart_error,
                                    force_stream)
            except ApiError as error:
                answer = error.answer(self.pretty())
            if fault:
                answer = apply_fault(fault, answer, path)
        record["status"] = answer.status
        record["images"] = answer.images
        record["partial_images"] = answer.partial_images
        self.send_answer(answer, request_id, fault,
                         "gzip" in self.headers.get("Accept-Encoding", "").lower())

    def check_auth(self, azure):
        authorization = self.headers.get("Authorization", "")
        match = re.match(r"^Bearer\s+(\S+)\s*$", authorization)
        key = match.group(1) if match else None
        if azure and not key:
            key = (self.headers.get("api-key") or "").strip() or None
        if not key:
            raise ApiError(401, "You didn't provide an API key. You need to provide your API key "
                           "in an Authorization header using Bearer auth (i.e. Authorization: "
                           "Bearer YOUR_KEY).", code="invalid_api_key")
        expected = self.state.config_value("api_key")
        if expected and key != expected:
            masked = key[:3] + "*" * max(len(key) - 7, 0) + key[-4:] if len(key) > 8 else "****"
            raise ApiError(401, "Incorrect API key provided: %s. You can find your API key at "
                           "https://platform.openai.com/account/api-keys." % masked,
                           code="invalid_api_key")

    def route(self, method, path, record, body, parts, multipart_error, force_stream):
        state = self.state
        for name, pattern in ROUTES:
            match = pattern.match(path)
            if match:
                break
        else:
            name, match = None, None
        if name == "blob" and method == "GET":
            image = state.images.find_url(match.group(1))
            if image is None:
                return Answer(404, [b"BlobNotFound: The specified blob does not exist."],
                              "text/plain")
            answer = Answer(200, [image.data], image.content_type)
            answer.images = [image.sha256]
            return answer
        allowed = ALLOWED_METHODS.get(name)
        if name is None or method not in allowed:
            raise ApiError(404, "Invalid URL (%s %s)" % (method, path))
        azure = name == "azure_images"
        self.check_auth(azure)
        if azure and state.config_value("strict") and "api-version" not in record["query"]:
            return json_answer(404, {"error": {"code": "404", "message": "Resource not found"}},
                               self.pretty())
        if name in ("images", "azure_images"):
            return self.images_route(match, azure, body, parts, multipart_error, force_stream)
        return self.files_route(name, match, method, body, parts, multipart_error)

    def images_route(self, match, azure, body, parts, multipart_error, force_stream):
        operation = match.group(2 if azure else 1)
        model_hint = match.group(1) if azure else None
        if multipart_error:
            raise ApiError(400, "Invalid multipart/form-data body: " + multipart_error)
        if operation == "generations":
            try:
                values = json.loads(body) if body else None
            except ValueError:
                values = None
            if not isinstance(values, dict):
                raise ApiError(400, "We could not parse the JSON body of your request. "
                               "(HINT: This likely means you aren't using your HTTP library "
                               "correctly. The OpenAI API expects a JSON payload, but what "
                               "was sent was not valid JSON.)")
            generation = json_generation(self.state, operation, values, model_hint)
        else:
            if parts is None:
                raise ApiError(400, "Invalid Content-Type header (%s), expected "
                               "multipart/form-data."
                               % (self.headers.get("Content-Type") or "none"))
            generation = form_generation(self.state, operation, parts, model_hint)
        return generation.answer(self.file_base_url(), force_stream)

    def files_route(self, name, match, method, body, parts, multipart_error):
        """The Files and Batches endpoints."""
        state = self.state
        pretty = self.pretty()
        if name == "files":
            if method == "GET":
                return json_answer(200, batches.list_files(state), pretty)
            if multipart_error or parts is None:
                raise ApiError(400, "Invalid multipart/form-data body: %s"
                               % (multipart_error or "expected multipart/form-data"))
            fields = {name_: (filename, data) for name_, filename, _, data in parts}
            if "purpose" not in fields:
                raise ApiError(400, "Missing required parameter: 'purpose'.", param="purpose",
                               code="missing_required_parameter")
            if "file" not in fields or fields["file"][0] is None:
                raise ApiError(400, "Missing required parameter: 'file'.", param="file",
                               code="missing_required_parameter")
            entry = batches.store_file(state, fields["file"][1], fields["file"][0],
                                       fields["purpose"][1].decode("utf-8", "replace"))
            return json_answer(200, batches.file_object(entry), pretty)
        if name == "file":
            if method == "DELETE":
                return json_answer(200, batches.delete_file(state, match.group(1)), pretty)
            return json_answer(200, batches.file_object(batches.find_file(state, match.group(1))),
                               pretty)
        if name == "file_content":
            entry = batches.find_file(state, match.group(1))
            return Answer(200, [entry["content"]], "application/octet-stream")
        if name == "batches":
            if method == "GET":
                return json_answer(200, batches.list_batches(state), pretty)
            try:
                values = json.loads(body) if body else None
            except ValueError:
                values = None
            return json_answer(200, batches.new_batch(state, values), pretty)
        if name == "batch":
            return json_answer(200, batches.poll_batch(state, match.group(1),
                                                       self.file_base_url()), pretty)
        return json_answer(200, batches.cancel_batch(state, match.group(1)), pretty)
