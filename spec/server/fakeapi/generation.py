"""Generation: one images request (generations, edits, variations) resolved
into the images that go back and their metadata, answered as an
ImagesResponse or as an SSE stream, with the API's validation errors.

Contract: Generation(state, operation, params, input_images, model_hint)
raises ApiError for what the API rejects (when config strict);
.answer(file_base_url, force_stream) -> Answer; .response_value(url) ->
(dict with RawString base64, [sha256]). form_generation(state, operation,
parts, model_hint) builds one from multipart parts.
"""

import math
import re
import time

from .answers import Answer, ApiError, Pause, RawString, encode_json, join_json

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
INPUT_MIME_TYPES = ("image/png", "image/jpeg", "image/webp")


class Params:
    """Request parameters from a JSON body (typed) or form fields (text)."""

    def __init__(self, values, from_form, strict):
        self.values = values
        self.from_form = from_form
        self.strict = strict

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
        if not self.strict:
            return default
        got = type(value).__name__
        got = {"str": "a string", "int": "an integer", "float": "a decimal", "bool": "a boolean",
               "list": "an array", "dict": "an object"}.get(got, got)
        raise ApiError(400, "Invalid type for '%s': expected %s, but got %s instead."
                       % (name, {"string": "a string", "integer": "an integer",
                                 "boolean": "a boolean"}[kind], got),
                       param=name, code="invalid_type")


def parse_size(label, strict):
    if label is None or label == "auto":
        return "1024x1024", 1024, 1024
    match = re.fullmatch(r"(\d{1,5})x(\d{1,5})", label)
    if not match or not (0 < int(match.group(1)) <= MAX_SIDE and 0 < int(match.group(2)) <= MAX_SIDE):
        if strict:
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

    def __init__(self, state, operation, params, input_images=0, model_hint=None):
        strict = state.config_value("strict")
        self.state = state
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
        self.size_label, self.width, self.height = parse_size(params.get("size", "string"), strict)
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
        images = self.state.images
        if self.output_format in ("jpeg", "webp"):
            return images.constant(self.output_format)
        image_bytes = self.state.config_value("image_bytes")
        if image_bytes:
            return images.noise(image_bytes)
        return images.solid(self.width, self.height, index % 16, self.background == "transparent")

    def partial(self, index):
        images = self.state.images
        if self.output_format in ("jpeg", "webp"):
            return images.constant(self.output_format)
        return images.solid(self.width, self.height, 16 + index % 4, self.background == "transparent")

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
                url_id = self.state.images.publish_url(image)
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
        answer = Answer(200, encode_json(value, self.state.config_value("pretty")))
        answer.images = served
        return answer

    def event_prefix(self):
        return "image_edit" if self.operation == "edits" else "image_generation"

    def stream_events(self):
        """[(event name, value dict, sha256, is partial)] for a streamed answer."""
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
        interval = float(self.state.config_value("sse_interval") or 0)
        segments = []
        answer = Answer(200, segments, content_type="text/event-stream; charset=utf-8")
        for number, (name, value, sha, partial) in enumerate(self.stream_events()):
            if number and interval > 0:
                segments.append(Pause(interval))
            segments.append(b"event: " + name.encode() + b"\ndata: " + join_json(value) + b"\n\n")
            (answer.partial_images if partial else answer.images).append(sha)
        return answer


def json_generation(state, operation, values, model_hint):
    """A Generation from a JSON request body (already decoded)."""
    return Generation(state, operation, Params(values, False, state.config_value("strict")),
                      0, model_hint)


def form_generation(state, operation, parts, model_hint):
    """A Generation from multipart parts: image and mask files are checked
    and counted, text fields become parameters."""
    strict = state.config_value("strict")
    values = {}
    images = 0
    for name, filename, content_type, data in parts:
        if name in ("image", "image[]", "mask"):
            if filename is None and strict:
                raise ApiError(400, "Expected a file for '%s', got a text field." % name,
                               param=name, code="invalid_value")
            if strict and (content_type or "").split(";")[0].strip().lower() not in INPUT_MIME_TYPES:
                raise ApiError(400, "Invalid file '%s': unsupported mimetype ('%s'). "
                               "Supported file formats are 'image/jpeg', 'image/png', and "
                               "'image/webp'." % (name, content_type or "none"),
                               param=name, code="unsupported_file_mimetype")
            if name != "mask":
                images += 1
        elif filename is None:
            values[name] = data.decode("utf-8", "replace")
    return Generation(state, operation, Params(values, True, strict), images, model_hint)
