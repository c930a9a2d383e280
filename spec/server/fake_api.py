#!/usr/bin/env python3
"""A local stand-in for the OpenAI Images API, its Files and Batches endpoints
and the Azure OpenAI deployment routes, for the specs, the conformance suite
and the benchmarks.

Answers have the shapes of the official SDK's types (openai-node
resources/images.d.ts, files.d.ts, batches.d.ts) and carry real, decodable
PNG / JPEG / WebP images. Every API request is recorded, and a control API
under /__control/ queues faults (errors, delays, dropped or reset
connections, truncated or dripping bodies, corrupt base64, broken SSE) so
that a client can be driven through every failure it must survive.

Python 3 standard library only. Listens on loopback only. See README.md.
"""

import argparse
import base64
import gzip
import hashlib
import http.server
import ipaddress
import json
import math
import os
import re
import secrets
import socket
import struct
import sys
import threading
import time
import traceback
import zlib
from email.message import Message
from urllib.parse import parse_qsl, urlsplit

# A 16x16 baseline JPEG and a 16x16 lossless WebP: the standard library
# cannot encode either, and output_format jpeg/webp must still answer with
# bytes that real decoders accept.
JPEG_BYTES = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsK"
    "CwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQU"
    "FBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBT/wAARCAAQABAD"
    "ASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAb/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QA"
    "FQEBAQAAAAAAAAAAAAAAAAAABwj/xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oADAMBAAIRAxEAPwCC"
    "AUaAn//Z")
WEBP_BYTES = base64.b64decode("UklGRh4AAABXRUJQVlA4TBEAAAAvD8ADAAdQvKIUuf+BiOh/AAA=")

# Output image tokens per image for gpt-image-1 (1024x1024, 1024x1536,
# 1536x1024); other sizes scale the square figure by area.
OUTPUT_TOKENS = {
    "low": (272, 408, 400),
    "medium": (1056, 1584, 1568),
    "high": (4160, 6240, 6208),
}
TABLE_SIZES = ("1024x1024", "1024x1536", "1536x1024")
PARTIAL_IMAGE_TOKENS = 100
INPUT_IMAGE_TOKENS = {"low": 194, "high": 1290}
MAX_SIDE = 4096

DEFAULT_CONFIG = {
    "image_bytes": None,    # png answers become random-noise PNGs of about N bytes
    "batch_polls": 2,       # GET /v1/batches/{id} calls until "completed"
    "gzip": False,          # gzip answers when the request accepts it
    "strict": True,         # reject what the real API rejects (see README)
    "pretty": True,         # indent JSON answers like the real API does
    "chunked": False,       # Transfer-Encoding: chunked instead of Content-Length
    "sse_interval": 0.0,    # seconds between SSE events
    "delay": 0.0,           # seconds before every API answer
    "api_key": None,        # when set, any other key gets 401 invalid_api_key
}

FAULT_ACTIONS = {
    "status", "error", "html", "delay", "drip", "reset", "truncate", "drop",
    "drop_upload", "bad_base64", "escape_slashes", "huge", "sse_malformed",
    "sse_split", "not_json", "empty_data",
}
# Actions that transform the normal answer rather than replace it.
NEEDS_NORMAL_ANSWER = {
    "delay", "drip", "reset", "truncate", "bad_base64", "escape_slashes",
    "huge", "sse_malformed", "sse_split",
}

VERBOSE = False


def log(*args):
    if VERBOSE:
        print("fake_api:", *args, file=sys.stderr, flush=True)


def new_id(prefix, nbytes=12):
    return prefix + secrets.token_hex(nbytes)


def dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------- answers

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


def json_answer(status, value, headers=None):
    return Answer(status, encode_json(value, STATE.config_value("pretty")), headers=headers)


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

    def answer(self):
        return json_answer(self.status, self.body(), self.headers)


def default_error_type(status):
    if status == 429:
        return "requests", "rate_limit_exceeded"
    if status >= 500:
        return "server_error", None
    return "invalid_request_error", None


# ---------------------------------------------------------------- images

class Image:
    __slots__ = ("data", "b64", "sha256", "content_type", "ext", "width", "height")

    def __init__(self, data, content_type, ext, width, height):
        self.data = data
        self.b64 = base64.b64encode(data)
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.content_type = content_type
        self.ext = ext
        self.width = width
        self.height = height


def png_chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def encode_png(width, height, colour_type, raw, level):
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(raw, level)) + png_chunk(b"IEND", b""))


def palette_colour(variant):
    return bytes(((40 + 67 * variant) % 256, (120 + 101 * variant) % 256, (200 + 29 * variant) % 256))


def solid_png(width, height, variant, transparent):
    colour = palette_colour(variant)
    if transparent:
        # Left half fully transparent, right half opaque: a real alpha channel.
        left = width // 2
        row = (colour + b"\x00") * left + (colour + b"\xff") * (width - left)
        colour_type = 6
    else:
        row = colour * width
        colour_type = 2
    raw = (b"\x00" + row) * height
    return encode_png(width, height, colour_type, raw, 6)


def noise_png(target_bytes):
    """An incompressible PNG of about target_bytes: random pixels, stored."""
    target_bytes = max(int(target_bytes), 64)
    width = max(1, int(math.sqrt(target_bytes / 3)))
    stride = 1 + 3 * width
    height = max(1, round((target_bytes - 70) / stride))
    raw = bytearray(os.urandom(stride * height))
    raw[0::stride] = bytes(height)  # filter type 0 at the start of every row
    return encode_png(width, height, 2, bytes(raw), 0), width, height


class ImageStore:
    """Caches every generated image and remembers what was served, so the
    same bytes can be fetched again by sha256 or by a url-response id."""

    def __init__(self):
        self.lock = threading.Lock()
        self.cache = {}
        self.by_sha = {}
        self.by_url_id = {}

    def _remember(self, key, make):
        with self.lock:
            image = self.cache.get(key)
            if image is None:
                image = make()
                self.cache[key] = image
                self.by_sha[image.sha256] = image
            return image

    def solid(self, width, height, variant, transparent):
        return self._remember(("solid", width, height, variant, transparent),
                              lambda: Image(solid_png(width, height, variant, transparent),
                                            "image/png", "png", width, height))

    def noise(self, target_bytes):
        def make():
            data, width, height = noise_png(target_bytes)
            return Image(data, "image/png", "png", width, height)
        return self._remember(("noise", int(target_bytes)), make)

    def constant(self, kind):
        if kind == "jpeg":
            return self._remember(("jpeg",), lambda: Image(JPEG_BYTES, "image/jpeg", "jpeg", 16, 16))
        return self._remember(("webp",), lambda: Image(WEBP_BYTES, "image/webp", "webp", 16, 16))

    def publish_url(self, image):
        url_id = new_id("img-", 10)
        with self.lock:
            self.by_url_id[url_id] = image
        return url_id

    def find_url(self, url_id):
        with self.lock:
            return self.by_url_id.get(url_id)

    def find_sha(self, sha):
        with self.lock:
            return self.by_sha.get(sha)

    def forget_urls(self):
        with self.lock:
            self.by_url_id.clear()


IMAGES = ImageStore()


# ---------------------------------------------------------------- state

class State:
    def __init__(self, start_config):
        # Re-entrant: batch completion runs the generation code under it.
        self.lock = threading.RLock()
        self.start_config = dict(start_config)
        self.config = dict(start_config)
        self.faults = []
        self.records = []
        self.files = {}
        self.batches = {}
        self.connections = 0
        self.in_flight = 0
        self.next_fault_id = 1
        self.port = 0

    def config_value(self, name):
        with self.lock:
            return self.config.get(name)

    def reset(self):
        with self.lock:
            self.config = dict(self.start_config)
            self.faults = []
            self.records = []
            self.files = {}
            self.batches = {}
        IMAGES.forget_urls()

    def new_connection(self):
        with self.lock:
            self.connections += 1
            return self.connections

    def add_fault(self, fault):
        with self.lock:
            fault["id"] = self.next_fault_id
            self.next_fault_id += 1
            self.faults.append(fault)
            return fault["id"], len(self.faults)

    def take_fault(self, method, path):
        with self.lock:
            for index, fault in enumerate(self.faults):
                if fault.get("method") and fault["method"].upper() != method:
                    continue
                if fault["path"] not in path:
                    continue
                if fault["times"] > 0:
                    fault["times"] -= 1
                    if fault["times"] == 0:
                        del self.faults[index]
                return dict(fault)
            return None

    def add_record(self, record):
        with self.lock:
            record["id"] = len(self.records) + 1
            self.records.append(record)

    def stats(self):
        with self.lock:
            used = {record["connection"] for record in self.records}
            return {"connections": len(used), "requests": len(self.records),
                    "accepted_connections": self.connections, "in_flight": self.in_flight,
                    "pending_faults": len(self.faults)}


STATE = State(DEFAULT_CONFIG)


# ---------------------------------------------------------------- multipart

class MultipartError(Exception):
    pass


def header_param(header_value, name):
    message = Message()
    message["content-disposition"] = header_value
    return message.get_param(name, header="content-disposition")


def parse_multipart(content_type, body):
    """Parse multipart/form-data strictly; returns [(name, filename, type, bytes)]."""
    message = Message()
    message["content-type"] = content_type or ""
    if message.get_content_type() != "multipart/form-data":
        raise MultipartError("expected multipart/form-data, got %r" % (content_type,))
    boundary = message.get_param("boundary")
    if not boundary:
        raise MultipartError("multipart body without a boundary parameter")
    delimiter = b"--" + boundary.encode("latin-1")
    if not body.startswith(delimiter):
        raise MultipartError("multipart body does not start with its boundary")
    parts = []
    position = len(delimiter)
    while True:
        if body.startswith(b"--", position):
            break  # closing delimiter
        if not body.startswith(b"\r\n", position):
            raise MultipartError("boundary not followed by CRLF")
        position += 2
        header_end = body.find(b"\r\n\r\n", position)
        if header_end < 0:
            raise MultipartError("part headers never end")
        headers = {}
        for line in body[position:header_end].split(b"\r\n"):
            if not line:
                continue
            name, colon, value = line.partition(b":")
            if not colon:
                raise MultipartError("malformed part header %r" % line[:80])
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("utf-8", "replace")
        content_start = header_end + 4
        next_delimiter = body.find(b"\r\n" + delimiter, content_start)
        if next_delimiter < 0:
            raise MultipartError("part is not closed by a boundary")
        disposition = headers.get("content-disposition")
        if not disposition or not disposition.lower().startswith("form-data"):
            raise MultipartError("part without Content-Disposition: form-data")
        field_name = header_param(disposition, "name")
        if field_name is None:
            raise MultipartError("part without a name")
        message = Message()
        message["content-disposition"] = disposition
        filename = message.get_filename()
        parts.append((field_name, filename, headers.get("content-type"),
                      body[content_start:next_delimiter]))
        position = next_delimiter + 2 + len(delimiter)
    return parts


def describe_parts(parts):
    described = []
    for name, filename, content_type, data in parts:
        entry = {"name": name, "filename": filename, "content_type": content_type,
                 "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        if filename is None:
            entry["value"] = data.decode("utf-8", "replace")
        described.append(entry)
    return described


# ---------------------------------------------------------------- generation

class Params:
    """Request parameters from a JSON body (typed) or form fields (text)."""

    def __init__(self, values, from_form):
        self.values = values
        self.from_form = from_form

    def has(self, name):
        return self.values.get(name) is not None

    def get(self, name, kind, default=None):
        value = self.values.get(name)
        if value is None:
            return default
        if kind == "string":
            if isinstance(value, str):
                return value
        elif kind == "integer":
            if self.from_form:
                if re.fullmatch(r"-?\d+", value.strip()):
                    return int(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                return value
        elif kind == "boolean":
            if self.from_form:
                if value in ("true", "false"):
                    return value == "true"
            elif isinstance(value, bool):
                return value
        if not STATE.config_value("strict"):
            return default
        got = type(value).__name__
        got = {"str": "a string", "int": "an integer", "float": "a decimal", "bool": "a boolean",
               "list": "an array", "dict": "an object"}.get(got, got)
        raise ApiError(400, "Invalid type for '%s': expected %s, but got %s instead."
                       % (name, {"string": "a string", "integer": "an integer",
                                 "boolean": "a boolean"}[kind], got),
                       param=name, code="invalid_type")


def parse_size(label):
    if label is None or label == "auto":
        return "1024x1024", 1024, 1024
    match = re.fullmatch(r"(\d{1,5})x(\d{1,5})", label)
    if not match or not (0 < int(match.group(1)) <= MAX_SIDE and 0 < int(match.group(2)) <= MAX_SIDE):
        if STATE.config_value("strict"):
            raise ApiError(400, "Invalid value: '%s'. Supported values are: '1024x1024', "
                           "'1024x1536', '1536x1024', and 'auto'." % label,
                           param="size", code="invalid_value")
        return "1024x1024", 1024, 1024
    return label, int(match.group(1)), int(match.group(2))


def output_tokens_per_image(quality, size_label, width, height):
    row = OUTPUT_TOKENS[quality]
    if size_label in TABLE_SIZES:
        return row[TABLE_SIZES.index(size_label)]
    return max(1, round(row[0] * width * height / (1024 * 1024)))


class Generation:
    """One images request, resolved: which images go back and with what metadata."""

    def __init__(self, operation, params, input_images=0, model_hint=None):
        strict = STATE.config_value("strict")
        self.operation = operation
        self.model = params.get("model", "string") or model_hint or "dall-e-2"
        self.gpt = not self.model.startswith("dall-e")
        self.prompt = params.get("prompt", "string")
        if operation != "variations" and strict and not self.prompt:
            raise ApiError(400, "Missing required parameter: 'prompt'.", param="prompt",
                           code="missing_required_parameter")
        self.prompt = self.prompt or ""
        if operation in ("edits", "variations") and strict and input_images == 0:
            raise ApiError(400, "Missing required parameter: 'image'.", param="image",
                           code="missing_required_parameter")
        if self.gpt and strict:
            for name in ("response_format", "style"):
                if params.has(name):
                    raise ApiError(400, "Unknown parameter: '%s'." % name, param=name,
                                   code="unknown_parameter")
        self.n = params.get("n", "integer", 1)
        if strict and not 1 <= self.n <= 10:
            raise ApiError(400, "Invalid 'n': integer %s. Expected a value between 1 and 10."
                           % ("below minimum value" if self.n < 1 else "above maximum value"),
                           param="n", code="integer_below_min_value" if self.n < 1
                           else "integer_above_max_value")
        self.n = min(max(self.n, 1), 10)
        if strict and self.model == "dall-e-3" and self.n != 1:
            raise ApiError(400, "Invalid 'n': dall-e-3 only supports n=1.", param="n",
                           code="invalid_value")
        self.size_label, self.width, self.height = parse_size(params.get("size", "string"))
        quality = params.get("quality", "string")
        self.quality = quality if quality in OUTPUT_TOKENS else "medium"
        background = params.get("background", "string")
        self.background = "transparent" if background == "transparent" else "opaque"
        output_format = params.get("output_format", "string") or "png"
        self.output_format = output_format if output_format in ("png", "jpeg", "webp") else "png"
        if not self.gpt:
            self.output_format = "png"
        self.response_format = params.get("response_format", "string") or "b64_json"
        if self.gpt:
            self.response_format = "b64_json"
        self.stream = bool(params.get("stream", "boolean", False))
        self.partial_images = params.get("partial_images", "integer", 0) if self.stream else 0
        self.partial_images = min(max(self.partial_images, 0), 3)
        params.get("output_compression", "integer")
        self.input_fidelity = params.get("input_fidelity", "string") or "low"
        self.input_images = input_images
        self.created = int(time.time())

    def image(self, index):
        if self.output_format in ("jpeg", "webp"):
            return IMAGES.constant(self.output_format)
        image_bytes = STATE.config_value("image_bytes")
        if image_bytes:
            return IMAGES.noise(image_bytes)
        return IMAGES.solid(self.width, self.height, index % 16, self.background == "transparent")

    def partial(self, index):
        if self.output_format in ("jpeg", "webp"):
            return IMAGES.constant(self.output_format)
        return IMAGES.solid(self.width, self.height, 16 + index % 4, self.background == "transparent")

    def usage(self, images):
        text_tokens = max(1, math.ceil(len(self.prompt) / 4))
        per_input = INPUT_IMAGE_TOKENS["high" if self.input_fidelity == "high" else "low"]
        image_tokens = per_input * self.input_images
        output_tokens = images * (output_tokens_per_image(self.quality, self.size_label,
                                                          self.width, self.height)
                                  + PARTIAL_IMAGE_TOKENS * self.partial_images)
        input_tokens = text_tokens + image_tokens
        return {"input_tokens": input_tokens,
                "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text_tokens},
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens}

    def revised_prompt(self):
        return "A detailed rendering of: " + self.prompt

    def response_value(self, file_base_url):
        """The ImagesResponse as a dict whose base64 strings are RawString."""
        value = {"created": self.created}
        if self.gpt:
            value["background"] = self.background
        data = []
        served = []
        for index in range(self.n):
            image = self.image(index)
            served.append(image.sha256)
            if self.response_format == "url":
                url_id = IMAGES.publish_url(image)
                item = {"url": "%s/files/%s.%s" % (file_base_url, url_id, image.ext)}
            else:
                item = {"b64_json": RawString(image.b64)}
            if self.model == "dall-e-3":
                item["revised_prompt"] = self.revised_prompt()
            data.append(item)
        value["data"] = data
        if self.gpt:
            value["output_format"] = self.output_format
            value["quality"] = self.quality
            value["size"] = self.size_label
            value["usage"] = self.usage(self.n)
        return value, served

    def answer(self, file_base_url, force_stream=False):
        if self.stream or force_stream:
            return self.stream_answer()
        value, served = self.response_value(file_base_url)
        answer = Answer(200, encode_json(value, STATE.config_value("pretty")))
        answer.images = served
        return answer

    def event_prefix(self):
        return "image_edit" if self.operation == "edits" else "image_generation"

    def stream_events(self):
        """[(event name, value dict)] for a streamed answer."""
        prefix = self.event_prefix()
        common = {"background": self.background, "created_at": self.created,
                  "output_format": self.output_format, "quality": self.quality,
                  "size": self.size_label}
        events = []
        for index in range(self.n):
            for partial_index in range(self.partial_images):
                image = self.partial(partial_index)
                value = {"type": prefix + ".partial_image", "b64_json": RawString(image.b64)}
                value.update(common)
                value["partial_image_index"] = partial_index
                events.append((value["type"], value, image.sha256, True))
            image = self.image(index)
            value = {"type": prefix + ".completed", "b64_json": RawString(image.b64)}
            value.update(common)
            value["usage"] = self.usage(1)
            events.append((value["type"], value, image.sha256, False))
        return events

    def stream_answer(self):
        interval = float(STATE.config_value("sse_interval") or 0)
        segments = []
        answer = Answer(200, segments, content_type="text/event-stream; charset=utf-8")
        for number, (name, value, sha, partial) in enumerate(self.stream_events()):
            if number and interval > 0:
                segments.append(Pause(interval))
            segments.append(b"event: " + name.encode() + b"\ndata: " + join_json(value) + b"\n\n")
            (answer.partial_images if partial else answer.images).append(sha)
        return answer


# ---------------------------------------------------------------- batches

BATCH_ENDPOINTS = ("/v1/images/generations", "/v1/images/edits")


def file_object(entry):
    return {"id": entry["id"], "object": "file", "bytes": len(entry["content"]),
            "created_at": entry["created_at"], "filename": entry["filename"],
            "purpose": entry["purpose"], "status": "processed", "expires_at": None,
            "status_details": None}


def store_file(content, filename, purpose):
    entry = {"id": new_id("file-", 11), "content": content, "filename": filename,
             "purpose": purpose, "created_at": int(time.time())}
    with STATE.lock:
        STATE.files[entry["id"]] = entry
    return entry


def find_file(file_id):
    with STATE.lock:
        entry = STATE.files.get(file_id)
    if entry is None:
        raise ApiError(404, "No such File object: %s" % file_id, param="id")
    return entry


def new_batch(body):
    if not isinstance(body, dict):
        raise ApiError(400, "We could not parse the JSON body of your request.")
    input_file_id = body.get("input_file_id")
    endpoint = body.get("endpoint")
    window = body.get("completion_window")
    for name, value in (("input_file_id", input_file_id), ("endpoint", endpoint),
                        ("completion_window", window)):
        if not isinstance(value, str) or not value:
            raise ApiError(400, "Missing required parameter: '%s'." % name, param=name,
                           code="missing_required_parameter")
    if endpoint not in BATCH_ENDPOINTS:
        raise ApiError(400, "Invalid value: '%s'. Supported values are: %s."
                       % (endpoint, ", ".join("'%s'" % e for e in BATCH_ENDPOINTS)),
                       param="endpoint", code="invalid_value")
    if window != "24h":
        raise ApiError(400, "Invalid value: '%s'. Supported values are: '24h'." % window,
                       param="completion_window", code="invalid_value")
    with STATE.lock:
        if input_file_id not in STATE.files:
            raise ApiError(400, "Invalid 'input_file_id': '%s'. File with ID '%s' does not exist."
                           % (input_file_id, input_file_id), param="input_file_id",
                           code="invalid_value")
        polls_needed = int(STATE.config.get("batch_polls") or 0)
    created = int(time.time())
    batch = {"id": new_id("batch_"), "object": "batch", "endpoint": endpoint, "errors": None,
             "input_file_id": input_file_id, "completion_window": window,
             "status": "validating", "output_file_id": None, "error_file_id": None,
             "created_at": created, "in_progress_at": None, "expires_at": created + 86400,
             "finalizing_at": None, "completed_at": None, "failed_at": None,
             "expired_at": None, "cancelling_at": None, "cancelled_at": None,
             "request_counts": {"total": 0, "completed": 0, "failed": 0},
             "metadata": body.get("metadata")}
    with STATE.lock:
        STATE.batches[batch["id"]] = {"object": batch, "polls": 0, "polls_needed": polls_needed}
    return batch


def batch_line_result(line_number, line, endpoint, file_base_url):
    """(is_success, output line bytes) for one JSONL input line."""
    request_id = new_id("batch_req_")
    custom_id = None
    try:
        request = json.loads(line)
        if not isinstance(request, dict):
            raise ValueError("line is not a JSON object")
        custom_id = request.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise ValueError("missing custom_id")
        if request.get("method") != "POST":
            raise ValueError("method must be POST")
        if request.get("url") != endpoint:
            raise ValueError("url %r does not match the batch endpoint %s"
                             % (request.get("url"), endpoint))
        body = request.get("body")
        if not isinstance(body, dict):
            raise ValueError("missing body object")
    except ValueError as problem:
        error = {"code": "invalid_request",
                 "message": "Line %d: %s" % (line_number, problem)}
        return False, dumps({"id": request_id, "custom_id": custom_id if isinstance(custom_id, str)
                             else None, "response": None, "error": error})
    http_request_id = new_id("req_", 16)
    operation = endpoint.rsplit("/", 1)[1]
    try:
        prompt = body.get("prompt")
        if isinstance(prompt, str) and "FAIL" in prompt:
            raise ApiError(400, "Your request was rejected by the safety system.",
                           type_="image_generation_user_error", code="moderation_blocked")
        inputs = body.get("image", body.get("images"))
        count = len(inputs) if isinstance(inputs, list) else (1 if inputs else 0)
        generation = Generation(operation, Params(dict(body, stream=None), False), count)
        value, _ = generation.response_value(file_base_url)
        status, payload, ok = 200, join_json(value), True
    except ApiError as error:
        status, payload, ok = error.status, dumps(error.body()), False
    prefix = dumps({"id": request_id, "custom_id": custom_id})[:-1]
    return ok, (prefix + b',"response":{"status_code":' + str(status).encode()
                + b',"request_id":' + dumps(http_request_id) + b',"body":' + payload
                + b'},"error":null}')


def complete_batch(entry, file_base_url):
    batch = entry["object"]
    content = find_file(batch["input_file_id"])["content"]
    outputs, errors = [], []
    lines = [line for line in content.split(b"\n") if line.strip()]
    for number, line in enumerate(lines, 1):
        ok, result = batch_line_result(number, line, batch["endpoint"], file_base_url)
        (outputs if ok else errors).append(result)
    now = int(time.time())
    if outputs:
        batch["output_file_id"] = store_file(b"\n".join(outputs) + b"\n", "%s_output.jsonl"
                                             % batch["id"], "batch_output")["id"]
    if errors:
        batch["error_file_id"] = store_file(b"\n".join(errors) + b"\n", "%s_error.jsonl"
                                            % batch["id"], "batch_output")["id"]
    batch["request_counts"] = {"total": len(lines), "completed": len(outputs),
                               "failed": len(errors)}
    batch["in_progress_at"] = batch["in_progress_at"] or now
    batch["finalizing_at"] = now
    batch["completed_at"] = now
    batch["status"] = "completed"


def poll_batch(batch_id, file_base_url):
    with STATE.lock:
        entry = STATE.batches.get(batch_id)
    if entry is None:
        raise ApiError(404, "No batch found with id '%s'." % batch_id, param="batch_id")
    with STATE.lock:
        batch = entry["object"]
        entry["polls"] += 1
        status = batch["status"]
        if status == "cancelling":
            batch["status"] = "cancelled"
            batch["cancelled_at"] = int(time.time())
        elif status in ("validating", "in_progress"):
            if entry["polls"] >= entry["polls_needed"]:
                complete_batch(entry, file_base_url)
            else:
                batch["status"] = "in_progress"
                batch["in_progress_at"] = batch["in_progress_at"] or int(time.time())
                content = STATE.files.get(batch["input_file_id"], {}).get("content", b"")
                batch["request_counts"]["total"] = sum(1 for line in content.split(b"\n")
                                                       if line.strip())
        return json.loads(json.dumps(batch))


def cancel_batch(batch_id):
    with STATE.lock:
        entry = STATE.batches.get(batch_id)
        if entry is None:
            raise ApiError(404, "No batch found with id '%s'." % batch_id, param="batch_id")
        batch = entry["object"]
        if batch["status"] not in ("validating", "in_progress"):
            raise ApiError(400, "Cannot cancel a batch with status '%s'." % batch["status"])
        batch["status"] = "cancelling"
        batch["cancelling_at"] = int(time.time())
        return json.loads(json.dumps(batch))


def list_value(items):
    return {"object": "list", "data": items,
            "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None, "has_more": False}


# ---------------------------------------------------------------- faults

def fault_from_request(value):
    if not isinstance(value, dict):
        raise ValueError("a fault is a JSON object")
    action = value.get("action")
    if action not in FAULT_ACTIONS:
        raise ValueError("unknown fault action %r; known: %s" % (action, ", ".join(sorted(FAULT_ACTIONS))))
    fault = dict(value)
    fault["times"] = int(value.get("times", 1))
    if fault["times"] == 0:
        raise ValueError("times must be a positive count, or -1 for every request")
    fault["path"] = value.get("path") or "/images/"
    fault["delay"] = float(value.get("delay", 0) or 0)
    return fault


def html_page(status):
    return ("<html>\r\n<head><title>%d Bad Gateway</title></head>\r\n<body>\r\n"
            "<center><h1>%d Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
            "</body>\r\n</html>\r\n" % (status, status)).encode()


def replacement_answer(fault):
    """The answer of a fault that replaces the normal answer, or None."""
    action = fault["action"]
    headers = fault.get("headers") or {}
    if action == "status":
        status = int(fault.get("status", 500))
        body = fault.get("body")
        if body is None:
            type_, code = default_error_type(status)
            body = join_json({"error": {"message": "Injected status %d." % status, "type": type_,
                                        "param": None, "code": code}})
        elif not isinstance(body, str):
            body = join_json(body)
        else:
            body = body.encode("utf-8")
        content_type = fault.get("content_type")
        if content_type is None:
            try:
                json.loads(body)
                content_type = "application/json"
            except ValueError:
                content_type = "text/plain; charset=utf-8"
        return Answer(status, [body], content_type, headers)
    if action == "error":
        status = int(fault.get("status", 400))
        type_, code = default_error_type(status)
        error = ApiError(status, fault.get("message", "Injected error."),
                         fault.get("type", type_), fault.get("param"), fault.get("code", code),
                         headers)
        return error.answer()
    if action == "html":
        status = int(fault.get("status", 502))
        return Answer(status, [html_page(status)], fault.get("content_type", "text/html"), headers)
    if action == "not_json":
        body = fault.get("body", "upstream connect error or disconnect/reset before headers")
        return Answer(int(fault.get("status", 200)), [body.encode("utf-8")],
                      fault.get("content_type", "text/plain"), headers)
    if action == "empty_data":
        return json_answer(200, {"created": int(time.time()), "data": []}, headers)
    return None


def merge_segments(segments):
    """Join neighbouring byte segments (never across a Pause) so that body
    transforms can search whole JSON documents / SSE events."""
    merged, pending = [], []
    for segment in segments:
        if isinstance(segment, (bytes, bytearray)):
            pending.append(bytes(segment))
            continue
        if pending:
            merged.append(b"".join(pending))
            pending = []
        if isinstance(segment, Repeat):
            merged.append(segment.byte * segment.count)
        else:
            merged.append(segment)
    if pending:
        merged.append(b"".join(pending))
    return merged


B64_KEY = re.compile(rb'"b64_json"\s*:\s*"')


def corrupt_base64(segments, variant):
    segments = merge_segments(segments)
    for index, segment in enumerate(segments):
        if isinstance(segment, Pause):
            continue
        match = B64_KEY.search(segment)
        if not match:
            continue
        start = match.end()
        end = segment.index(b'"', start)
        length = end - start
        # Inside a quartet in the middle, never in the final (padded) quartet.
        spot = start + min(max(length // 2 // 4 * 4 + 1, 1), max(length - 5, 0))
        if variant == "padding":
            segment = segment[:spot] + b"=" + segment[spot + 1:]
        elif variant == "length":
            segment = segment[:spot] + segment[spot + 1:]
        else:
            segment = segment[:spot] + b"*" + segment[spot + 1:]
        segments[index] = segment
        break
    return segments


def escape_slashes(segments):
    return [segment.replace(b"/", b"\\/") if isinstance(segment, bytes) else segment
            for segment in merge_segments(segments)]


def pad_huge(answer, size):
    segments = merge_segments(answer.segments)
    if answer.is_sse:
        return [b": ", Repeat(b"a", size), b"\n\n"] + segments
    first = segments[0]
    brace = first.index(b"{")
    return ([first[:brace + 1] + b'"padding":"', Repeat(b"a", size), b'",' + first[brace + 1:]]
            + segments[1:])


def split_sse_event(event):
    """Rewrite one LF event: CRLF line ends, a comment, an id and the data
    field spread over two data lines (which SSE joins with a newline)."""
    lines = event.rstrip(b"\n").split(b"\n")
    out = [b": keep-alive"]
    for line in lines:
        if line.startswith(b"data: "):
            data = line[6:]
            cut = data.find(b'",') + 2 if data.find(b'",') >= 0 else 1
            out.append(b"data: " + data[:cut])
            out.append(b"data:" + data[cut:])
        else:
            out.append(line)
    out.insert(2, b"id: " + str(len(event)).encode())
    return b"\r\n".join(out) + b"\r\n\r\n"


def malformed_sse(answer, prefix):
    broken = (b"event: " + prefix + b".partial_image\n"
              b'data: {"type":"' + prefix + b'.partial_image","b64_json":"iVBORw0KGgo\n\n')
    return [broken] + merge_segments(answer.segments)


# ---------------------------------------------------------------- HTTP

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

REASONS = http.server.BaseHTTPRequestHandler.responses


class ConnectionGone(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-openai"
    timeout = 600

    # -- connection plumbing

    def setup(self):
        super().setup()
        self.connection_id = STATE.new_connection()
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
        log("%s - %s" % (self.address_string(), format % args))

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
        return "http://127.0.0.1:%d" % STATE.port

    def send_answer(self, answer, request_id, fault=None, accepts_gzip=False):
        action = fault["action"] if fault else None
        segments = answer.segments
        headers = {"content-type": answer.content_type, "x-request-id": request_id,
                   "openai-version": "2020-10-01", "openai-processing-ms": "1"}
        if answer.is_sse:
            headers["cache-control"] = "no-cache"
        if (STATE.config_value("gzip") and accepts_gzip and not answer.is_sse
                and action not in ("reset", "truncate", "drip")):
            segments = [gzip.compress(b"".join(merge_segments(segments)), 1)]
            headers["content-encoding"] = "gzip"
        for name, value in answer.headers.items():
            headers[name.lower()] = str(value)
        chunked = bool(STATE.config_value("chunked"))
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
        piece_size, interval = None, 0.0
        if action == "drip":
            piece_size = max(1, int(fault.get("chunk", 64)))
            interval = float(fault.get("interval", 0.1))
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
                    if sent or offset:
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
        url = urlsplit(self.path)
        path = url.path
        method = self.command
        if path.startswith("/__control/"):
            try:
                body = self.read_body()
                answer = control(method, path, body)
            except ConnectionGone:
                self.close_connection = True
                return
            except Exception as problem:  # e.g. a fault with a non-numeric "times"
                answer = Answer(400, [dumps({"error": "control %s failed: %r" % (path, problem)})])
            self.send_answer(answer, new_id("req_", 16))
            return

        with STATE.lock:
            STATE.in_flight += 1
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
            with STATE.lock:
                STATE.in_flight -= 1

    def api_request(self, method, path, query_string):
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
        with STATE.lock:
            record["concurrent"] = STATE.in_flight - 1
        fault = STATE.take_fault(method, path)
        if fault:
            record["fault"] = fault["action"]
        if fault and fault["action"] == "drop_upload":
            STATE.add_record(record)
            time.sleep(fault["delay"])
            self.abort(reset=True)
            return
        body = self.read_body()
        record["body_size"] = len(body)
        with STATE.lock:
            record["concurrent"] = STATE.in_flight - 1
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
        STATE.add_record(record)

        delay = (fault["delay"] if fault else 0) + float(STATE.config_value("delay") or 0)
        if delay > 0:
            time.sleep(delay)
        if fault and fault["action"] == "drop":
            self.abort(reset=False)
            return

        answer = replacement_answer(fault) if fault else None
        if answer is None:
            force_stream = bool(fault) and fault["action"] in ("sse_malformed", "sse_split")
            try:
                answer = self.route(method, path, record, body, parts, multipart_error,
                                    force_stream)
            except ApiError as error:
                answer = error.answer()
            if fault:
                answer = self.apply_fault(fault, answer, path)
        record["status"] = answer.status
        record["images"] = answer.images
        record["partial_images"] = answer.partial_images
        self.send_answer(answer, request_id, fault,
                         "gzip" in self.headers.get("Accept-Encoding", "").lower())

    def apply_fault(self, fault, answer, path):
        action = fault["action"]
        if action == "bad_base64":
            answer.segments = corrupt_base64(answer.segments, fault.get("variant", "char"))
        elif action == "escape_slashes":
            answer.segments = escape_slashes(answer.segments)
        elif action == "huge":
            answer.segments = pad_huge(answer, int(fault.get("bytes", 16 * 1024 * 1024)))
        elif action == "sse_malformed" and answer.is_sse:
            prefix = b"image_edit" if path.endswith("/edits") else b"image_generation"
            answer.segments = malformed_sse(answer, prefix)
        elif action == "sse_split" and answer.is_sse:
            answer.segments = [b"".join(split_sse_event(event + b"\n\n")
                                        for event in segment.split(b"\n\n") if event)
                               if isinstance(segment, bytes) else segment
                               for segment in merge_segments(answer.segments)]
        for name, value in (fault.get("headers") or {}).items():
            answer.headers[name] = value
        return answer

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
        expected = STATE.config_value("api_key")
        if expected and key != expected:
            masked = key[:3] + "*" * max(len(key) - 7, 0) + key[-4:] if len(key) > 8 else "****"
            raise ApiError(401, "Incorrect API key provided: %s. You can find your API key at "
                           "https://platform.openai.com/account/api-keys." % masked,
                           code="invalid_api_key")

    def route(self, method, path, record, body, parts, multipart_error, force_stream):
        for name, pattern in ROUTES:
            match = pattern.match(path)
            if match:
                break
        else:
            name, match = None, None
        if name == "blob" and method == "GET":
            image = IMAGES.find_url(match.group(1))
            if image is None:
                return Answer(404, [b"BlobNotFound: The specified blob does not exist."],
                              "text/plain")
            answer = Answer(200, [image.data], image.content_type)
            answer.images = [image.sha256]
            return answer
        allowed = {"images": ("POST",), "azure_images": ("POST",), "files": ("POST", "GET"),
                   "file": ("GET", "DELETE"), "file_content": ("GET",),
                   "batches": ("POST", "GET"), "batch": ("GET",),
                   "batch_cancel": ("POST",)}.get(name)
        if name is None or method not in allowed:
            raise ApiError(404, "Invalid URL (%s %s)" % (method, path))
        azure = name == "azure_images"
        self.check_auth(azure)
        if azure and STATE.config_value("strict") and "api-version" not in record["query"]:
            return json_answer(404, {"error": {"code": "404", "message": "Resource not found"}})

        if name in ("images", "azure_images"):
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
                generation = Generation(operation, Params(values, False), 0, model_hint)
            else:
                if parts is None:
                    raise ApiError(400, "Invalid Content-Type header (%s), expected "
                                   "multipart/form-data."
                                   % (self.headers.get("Content-Type") or "none"))
                generation = self.form_generation(operation, parts, model_hint)
            return generation.answer(self.file_base_url(), force_stream)

        if name == "files":
            if method == "GET":
                with STATE.lock:
                    entries = list(STATE.files.values())
                return json_answer(200, list_value([file_object(e) for e in entries]))
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
            entry = store_file(fields["file"][1], fields["file"][0],
                               fields["purpose"][1].decode("utf-8", "replace"))
            return json_answer(200, file_object(entry))
        if name == "file":
            entry = find_file(match.group(1))
            if method == "DELETE":
                with STATE.lock:
                    STATE.files.pop(entry["id"], None)
                return json_answer(200, {"id": entry["id"], "object": "file", "deleted": True})
            return json_answer(200, file_object(entry))
        if name == "file_content":
            entry = find_file(match.group(1))
            return Answer(200, [entry["content"]], "application/octet-stream")
        if name == "batches":
            if method == "GET":
                with STATE.lock:
                    batches = [json.loads(json.dumps(e["object"])) for e in STATE.batches.values()]
                return json_answer(200, list_value(batches))
            try:
                values = json.loads(body) if body else None
            except ValueError:
                values = None
            return json_answer(200, new_batch(values))
        if name == "batch":
            return json_answer(200, poll_batch(match.group(1), self.file_base_url()))
        return json_answer(200, cancel_batch(match.group(1)))

    def form_generation(self, operation, parts, model_hint):
        strict = STATE.config_value("strict")
        values = {}
        images = 0
        for name, filename, content_type, data in parts:
            if name in ("image", "image[]", "mask"):
                if filename is None and strict:
                    raise ApiError(400, "Expected a file for '%s', got a text field." % name,
                                   param=name, code="invalid_value")
                if strict and (content_type or "").split(";")[0].strip().lower() not in (
                        "image/png", "image/jpeg", "image/webp"):
                    raise ApiError(400, "Invalid file '%s': unsupported mimetype ('%s'). "
                                   "Supported file formats are 'image/jpeg', 'image/png', and "
                                   "'image/webp'." % (name, content_type or "none"),
                                   param=name, code="unsupported_file_mimetype")
                if name != "mask":
                    images += 1
            elif filename is None:
                values[name] = data.decode("utf-8", "replace")
        return Generation(operation, Params(values, True), images, model_hint)


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


def iterate_pieces(segments):
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


# ---------------------------------------------------------------- control

def control(method, path, body):
    try:
        value = json.loads(body) if body.strip() else {}
    except ValueError:
        return Answer(400, [dumps({"error": "control body is not JSON"})])
    name = path[len("/__control/"):]
    if name == "reset" and method == "POST":
        STATE.reset()
        return Answer(200, [dumps({"ok": True})])
    if name == "config" and method in ("POST", "GET"):
        if method == "POST":
            if not isinstance(value, dict):
                return Answer(400, [dumps({"error": "config is a JSON object"})])
            if value.get("image_bytes") is not None and int(value["image_bytes"]) <= 0:
                value["image_bytes"] = None
            with STATE.lock:
                STATE.config.update(value)
            if STATE.config_value("image_bytes"):
                IMAGES.noise(STATE.config_value("image_bytes"))
        with STATE.lock:
            return Answer(200, [dumps(STATE.config)])
    if name == "fault" and method == "POST":
        faults = value if isinstance(value, list) else [value]
        queued = []
        try:
            prepared = [fault_from_request(fault) for fault in faults]
        except (ValueError, TypeError) as problem:
            return Answer(400, [dumps({"error": str(problem)})])
        pending = 0
        for fault in prepared:
            fault_id, pending = STATE.add_fault(fault)
            queued.append(fault_id)
        return Answer(200, [dumps({"ok": True, "ids": queued, "pending": pending})])
    if name == "faults" and method == "GET":
        with STATE.lock:
            return Answer(200, [dumps(STATE.faults)])
    if name == "requests" and method == "GET":
        with STATE.lock:
            return Answer(200, [dumps(STATE.records)])
    if name == "stats" and method == "GET":
        return Answer(200, [dumps(STATE.stats())])
    if name.startswith("blob/") and method == "GET":
        image = IMAGES.find_sha(name[len("blob/"):])
        if image is None:
            return Answer(404, [dumps({"error": "no image with that sha256"})])
        return Answer(200, [image.data], image.content_type)
    if name == "shutdown" and method == "POST":
        threading.Thread(target=SERVER.shutdown, daemon=True).start()
        return Answer(200, [dumps({"ok": True})])
    return Answer(404, [dumps({"error": "unknown control call %s %s" % (method, path)})])


# ---------------------------------------------------------------- main

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        kind = sys.exc_info()[0]
        if kind and issubclass(kind, (ConnectionError, socket.timeout, ConnectionGone)):
            return
        super().handle_error(request, client_address)


SERVER = None


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


def watch(pid):
    while True:
        time.sleep(0.5)
        if process_gone(pid):
            log("watched process %d is gone, exiting" % pid)
            os._exit(0)


def write_port_file(path, port):
    temporary = "%s.%d.tmp" % (path, os.getpid())
    with open(temporary, "w") as handle:
        handle.write("%d %d\n" % (port, os.getpid()))
    os.replace(temporary, path)


def main(argv=None):
    global SERVER, STATE, VERBOSE
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
    VERBOSE = args.verbose
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
        IMAGES.noise(args.image_bytes)  # pay for the noise once, before serving
    STATE = State(config)
    SERVER = Server((args.host, args.port), Handler)
    STATE.port = SERVER.server_address[1]
    if args.watch_pid:
        threading.Thread(target=watch, args=(args.watch_pid,), daemon=True).start()
    if args.port_file:
        write_port_file(args.port_file, STATE.port)
    log("listening on %s:%d" % (args.host, STATE.port))
    try:
        SERVER.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
