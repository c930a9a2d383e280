"""Multipart: strict multipart/form-data parsing (what the API accepts) and
the description of parts kept in the request records.

Contract: parse_multipart(content_type, body) -> [(name, filename or None,
content type or None, bytes)] or raises MultipartError; describe_parts(parts)
-> [{"name", "filename", "content_type", "size", "sha256", "value"?}].
"""

import hashlib
from email.message import Message


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
