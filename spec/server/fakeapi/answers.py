"""Answers: an HTTP answer as a list of body segments (bytes, pauses, repeated
bytes), a JSON encoder that keeps large base64 strings as their own segments,
and the API's error shape.

Contract: encode_json(value, pretty) -> [segments]; Answer(status, segments,
content_type, headers); ApiError(...).answer(pretty) -> Answer with the body
{"error": {"message", "type", "param", "code"}}.
"""

import json
import secrets


def new_id(prefix, nbytes=12):
    return prefix + secrets.token_hex(nbytes)


def dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Pause:
    """A pause inside an answer: the sender sleeps instead of writing."""
    __slots__ = ("seconds",)

    def __init__(self, seconds):
        self.seconds = seconds


class Repeat:
    """`count` copies of one byte, written without building them in memory."""
    __slots__ = ("byte", "count")

    def __init__(self, byte, count):
        self.byte = byte
        self.count = count


class RawString:
    """A JSON string value whose bytes need no escaping (base64 text): the
    encoder emits it as its own segment, so large images are never copied."""
    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


def segment_length(segment):
    if isinstance(segment, Pause):
        return 0
    if isinstance(segment, Repeat):
        return segment.count
    return len(segment)


def iterate_pieces(segments):
    """Yield the bytes of the segments as memoryviews (Repeat in 1 MiB
    pieces), and Pause objects as they come."""
    big = None
    for segment in segments:
        if isinstance(segment, Pause):
            yield segment
        elif isinstance(segment, Repeat):
            if big is None or big[:1] != segment.byte:
                big = segment.byte * (1 << 20)
            remaining = segment.count
            while remaining > 0:
                take = min(remaining, len(big))
                yield memoryview(big)[:take]
                remaining -= take
        elif segment:
            yield memoryview(segment)


def encode_json(value, pretty):
    """Encode to a list of byte segments; RawString values stay separate."""
    out = []
    sep = b": " if pretty else b":"

    def newline(level):
        return b"\n" + b"  " * level if pretty else b""

    def walk(item, level):
        if isinstance(item, RawString):
            out.append(b'"')
            out.append(item.data)
            out.append(b'"')
        elif isinstance(item, dict):
            if not item:
                out.append(b"{}")
                return
            out.append(b"{")
            first = True
            for key, child in item.items():
                out.append((b"" if first else b",") + newline(level + 1) + dumps(key) + sep)
                first = False
                walk(child, level + 1)
            out.append(newline(level) + b"}")
        elif isinstance(item, list):
            if not item:
                out.append(b"[]")
                return
            out.append(b"[")
            for index, child in enumerate(item):
                out.append((b"," if index else b"") + newline(level + 1))
                walk(child, level + 1)
            out.append(newline(level) + b"]")
        else:
            out.append(dumps(item))

    walk(value, 0)
    return out


def join_json(value):
    return b"".join(encode_json(value, False))


class Answer:
    """An HTTP answer: status, headers and a list of body segments."""

    def __init__(self, status, segments, content_type="application/json", headers=None):
        self.status = status
        self.segments = segments
        self.content_type = content_type
        self.headers = dict(headers or {})
        self.is_sse = content_type.startswith("text/event-stream")
        self.images = []          # sha256 of every final image in the answer
        self.partial_images = []  # sha256 of every partial image


def json_answer(status, value, pretty, headers=None):
    return Answer(status, encode_json(value, pretty), headers=headers)


class ApiError(Exception):
    def __init__(self, status, message, type_="invalid_request_error", param=None, code=None,
                 headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self):
        return {"error": {"message": self.message, "type": self.type,
                          "param": self.param, "code": self.code}}

    def answer(self, pretty):
        return json_answer(self.status, self.body(), pretty, self.headers)


def default_error_type(status):
    if status == 429:
        return "requests", "rate_limit_exceeded"
    if status >= 500:
        return "server_error", None
    return "invalid_request_error", None
