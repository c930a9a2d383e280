"""Faults: validation of queued fault entries, the answers of faults that
replace the normal answer, and the transforms of faults that change it
(corrupt base64, escaped slashes, padding, broken or split SSE).

Contract: fault_from_request(value) -> normalised fault dict or ValueError;
replacement_answer(fault, pretty) -> Answer or None; apply_fault(fault,
answer, path) -> the transformed Answer.
"""

import json
import re
import time

from .answers import (Answer, ApiError, Pause, Repeat, default_error_type, join_json,
                      json_answer)

FAULT_ACTIONS = {
    "status", "error", "html", "delay", "drip", "reset", "truncate", "drop",
    "drop_upload", "bad_base64", "escape_slashes", "huge", "sse_malformed",
    "sse_split", "not_json", "empty_data",
}
# Actions that turn the normal answer into an SSE stream.
FORCES_STREAM = {"sse_malformed", "sse_split"}


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


def replacement_answer(fault, pretty):
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
        return error.answer(pretty)
    if action == "html":
        status = int(fault.get("status", 502))
        return Answer(status, [html_page(status)], fault.get("content_type", "text/html"), headers)
    if action == "not_json":
        body = fault.get("body", "upstream connect error or disconnect/reset before headers")
        return Answer(int(fault.get("status", 200)), [body.encode("utf-8")],
                      fault.get("content_type", "text/plain"), headers)
    if action == "empty_data":
        return json_answer(200, {"created": int(time.time()), "data": []}, pretty, headers)
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


def apply_fault(fault, answer, path):
    """Transform the normal answer as a fault of a transforming action asks."""
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
