"""Generation: one images request (generations, edits, variations) resolved
into the images that go back and their metadata, answered as an
ImagesResponse or as an SSE stream, with the API's validation errors.

Contract: Generation(state, operation, params, inputs, model_hint) raises
ApiError for what the API rejects (when config strict; shut-down models only
when config shut_down); .answer(file_base_url, force_stream) -> Answer;
.response_value(url) -> (dict with RawString base64, [sha256]).
json_generation / form_generation build one from a JSON body / multipart
parts. Inputs describes the uploaded files (see Inputs).
"""

import math
import re
import time

from .answers import Answer, ApiError, Pause, RawString, encode_json, join_json
from .models import (DEFAULT_MODEL, DEFAULT_VARIATION_MODEL, ModelRules, shut_down,
                     shut_down_message)

# Output image tokens per image for gpt-image-1 (1024x1024, 1024x1536,
# 1536x1024); other sizes scale the square figure by area.
OUTPUT_TOKENS = {
    "low": (272, 408, 400),
    "medium": (1056, 1584, 1568),
    "high": (4160, 6240, 6208),
    # The fake's own figures for 2.5 and newer (no official table is published).
    "xhigh": (8320, 12480, 12416),
    "max": (16640, 24960, 24832),
}
# Output text tokens spent planning an image (2.x), by complexity.
PLANNING_TOKENS = {"low": 32, "medium": 128, "high": 512}
# SVG author reasoning tokens by effort (the fake's own figures).
REASONING_TOKENS = {"none": 0, "minimal": 16, "low": 64, "medium": 256, "high": 1024,
                    "xhigh": 2048, "max": 4096}
FORMATS = ("png", "jpeg", "webp", "gif", "svg")
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
        elif kind == "object":
            if isinstance(value, dict):
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
                                 "boolean": "a boolean", "object": "an object"}[kind], got),
                       param=name, code="invalid_type")


def parse_size(label, strict, rules):
    if label is None or label == "auto":
        return "1024x1024", 1024, 1024
    match = re.fullmatch(r"(\d{1,5})x(\d{1,5})", label)
    if not match or not (0 < int(match.group(1)) <= MAX_SIDE and 0 < int(match.group(2)) <= MAX_SIDE):
        if strict:
            raise ApiError(400, "Invalid value: '%s'. Supported values are: '1024x1024', "
                           "'1024x1536', '1536x1024', and 'auto'." % label,
                           param="size", code="invalid_value")
        return "1024x1024", 1024, 1024
    width, height = int(match.group(1)), int(match.group(2))
    problem = rules.size_problem(width, height) if rules.current else None
    if problem and strict:
        raise ApiError(400, "Invalid size '%s': %s." % (label, problem), param="size",
                       code="invalid_value")
    return label, width, height


def output_tokens_per_image(quality, size_label, width, height):
    row = OUTPUT_TOKENS[quality]
    if size_label in TABLE_SIZES:
        return row[TABLE_SIZES.index(size_label)]
    return max(1, round(row[0] * width * height / (1024 * 1024)))


def unsupported(name, reason):
    return ApiError(400, "Unsupported parameter: '%s' %s." % (name, reason), param=name,
                    code="unsupported_parameter")


def invalid_value(name, value, allowed):
    return ApiError(400, "Invalid value: '%s'. Supported values are: %s."
                    % (value, ", ".join("'%s'" % item for item in allowed)),
                    param=name, code="invalid_value")


def png_size(data):
    """(width, height) of PNG bytes, or None for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


class Inputs:
    """What a request uploaded: how many images, whether a mask came, and
    the first image and the markup (bytes) when they did."""

    def __init__(self, images=0, mask=False, first_image=None, markup=None):
        self.images = images
        self.mask = mask
        self.first_image = first_image
        self.markup = markup


class Generation:
    """One images request, resolved: which images go back and with what metadata."""

    def __init__(self, state, operation, params, inputs=None, model_hint=None):
        inputs = inputs or Inputs()
        strict = state.config_value("strict")
        self.state = state
        self.operation = operation
        default = DEFAULT_VARIATION_MODEL if operation == "variations" else DEFAULT_MODEL
        self.model = params.get("model", "string") or model_hint or default
        # Azure deployments (model_hint) live on their own schedule.
        if model_hint is None and state.config_value("shut_down") and shut_down(self.model):
            raise ApiError(404, shut_down_message(self.model), param=None,
                           code="model_not_found")
        rules = ModelRules(self.model)
        self.rules = rules
        self.gpt = not self.model.startswith("dall-e")
        self.prompt = params.get("prompt", "string")
        if operation != "variations" and strict and not self.prompt:
            raise ApiError(400, "Missing required parameter: 'prompt'.", param="prompt",
                           code="missing_required_parameter")
        self.prompt = self.prompt or ""
        if operation in ("edits", "variations") and strict and inputs.images == 0:
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
        self.size_label, self.width, self.height = parse_size(params.get("size", "string"),
                                                              strict, rules)
        quality = params.get("quality", "string")
        if strict and quality in ("xhigh", "max") and not rules.xhigh:
            raise ApiError(400, "Invalid value: '%s'. Quality '%s' is supported by "
                           "gpt-image-2.5 and newer models." % (quality, quality),
                           param="quality", code="invalid_value")
        self.quality = quality if quality in OUTPUT_TOKENS else "medium"
        background = params.get("background", "string")
        self.background = "transparent" if background == "transparent" else "opaque"
        output_format = params.get("output_format", "string") or "png"
        self.output_format = output_format if output_format in FORMATS else "png"
        if not self.gpt:
            self.output_format = "png"
        self.response_format = params.get("response_format", "string") or "b64_json"
        if self.gpt:
            self.response_format = "b64_json"
        self.stream = bool(params.get("stream", "boolean", False))
        self.partial_images = params.get("partial_images", "integer", 0) if self.stream else 0
        self.partial_images = min(max(self.partial_images, 0), 3)
        self.compression = params.get("output_compression", "integer")
        self.input_fidelity = params.get("input_fidelity", "string")
        if strict and self.input_fidelity is not None and rules.no_fidelity:
            raise unsupported("input_fidelity", "is not supported with %s; omit it" % self.model)
        self.input_fidelity = self.input_fidelity or "low"
        self.complexity = params.get("complexity", "string")
        if strict and self.complexity is not None and self.complexity not in PLANNING_TOKENS:
            raise invalid_value("complexity", self.complexity, PLANNING_TOKENS)
        self.safety_identifier = (params.get("safety_identifier", "string")
                                  or params.get("user", "string") or None)
        self.frame_count = params.get("frame_count", "integer")
        self.frame_duration_ms = params.get("frame_duration_ms", "integer")
        self.svg = params.get("svg", "object")
        if strict:
            self.check_formats(params, inputs)
        self.frame_count = self.frame_count or 9
        self.frame_duration_ms = 200 if self.frame_duration_ms is None else self.frame_duration_ms
        svg = self.svg or {}
        reasoning = svg.get("reasoning") if isinstance(svg.get("reasoning"), dict) else {}
        self.svg_model = svg.get("model") if isinstance(svg.get("model"), str) else "auto"
        self.svg_effort = reasoning.get("effort") if reasoning.get("effort") else "medium"
        self.inputs = inputs
        self.created = int(time.time())

    def check_formats(self, params, inputs):
        """What the API refuses about gif, svg, markup and backgrounds."""
        fmt = self.output_format
        if fmt != "gif":
            for name in ("frame_count", "frame_duration_ms"):
                if params.has(name):
                    raise unsupported(name, "is only supported with output_format 'gif'")
        if fmt != "svg" and params.has("svg"):
            raise unsupported("svg", "is only supported with output_format 'svg'")
        if fmt in ("gif", "svg"):
            refused = [name for name, given in (
                ("stream", self.stream), ("partial_images", self.partial_images > 0),
                ("output_compression", self.compression is not None)) if given]
            if refused:
                raise unsupported(refused[0], "is not supported with output_format '%s'" % fmt)
        if fmt == "gif":
            if inputs.mask:
                raise unsupported("mask", "is not supported with output_format 'gif'")
            if self.frame_count is not None and not 2 <= self.frame_count <= 16:
                raise ApiError(400, "Invalid 'frame_count': %d. Expected a value between 2 and 16."
                               % self.frame_count, param="frame_count", code="invalid_value")
            if self.frame_duration_ms is not None and self.frame_duration_ms < 0:
                raise ApiError(400, "Invalid 'frame_duration_ms': %d. Expected a value of 0 or "
                               "more." % self.frame_duration_ms, param="frame_duration_ms",
                               code="invalid_value")
        if fmt == "svg":
            if self.n != 1:
                raise ApiError(400, "Invalid 'n': output_format 'svg' only supports n=1.",
                               param="n", code="invalid_value")
            effort = ((self.svg or {}).get("reasoning") or {}).get("effort")
            if effort is not None and effort not in REASONING_TOKENS:
                raise invalid_value("svg.reasoning.effort", effort, REASONING_TOKENS)
        if (self.rules.current and self.background == "transparent"
                and fmt not in ("png", "webp", "gif", "svg")):
            raise ApiError(400, "Transparent backgrounds require output_format 'png' or 'webp'.",
                           param="background", code="invalid_value")
        if inputs.markup is not None:
            if inputs.mask:
                raise ApiError(400, "'markup' cannot be combined with 'mask'.", param="markup",
                               code="invalid_value")
            if not self.rules.markup:
                raise unsupported("markup", "is not supported with %s" % self.model)
            first, markup = png_size(inputs.first_image or b""), png_size(inputs.markup)
            if first and markup and first != markup:
                raise ApiError(400, "Invalid 'markup': its size %dx%d differs from the first "
                               "image's %dx%d." % (markup + first), param="markup",
                               code="invalid_value")

    def image(self, index):
        images = self.state.images
        transparent = self.background == "transparent"
        if self.output_format in ("jpeg", "webp"):
            return images.constant(self.output_format)
        if self.output_format == "gif":
            return images.gif(self.prompt, self.width, self.height, index % 16, self.frame_count,
                              self.frame_duration_ms, transparent)
        if self.output_format == "svg":
            return images.svg(self.prompt, self.width, self.height, index % 16, transparent)
        image_bytes = self.state.config_value("image_bytes")
        if image_bytes:
            return images.noise(image_bytes)
        return images.png(self.prompt, self.width, self.height, index % 16, transparent)

    def partial(self, index):
        images = self.state.images
        if self.output_format in ("jpeg", "webp"):
            return images.constant(self.output_format)
        return images.png(self.prompt, self.width, self.height, 16 + index % 4,
                          self.background == "transparent")

    def usage(self, images, details=True):
        text_tokens = max(1, math.ceil(len(self.prompt) / 4))
        per_input = INPUT_IMAGE_TOKENS["high" if self.input_fidelity == "high" else "low"]
        image_tokens = per_input * self.inputs.images
        per_image = output_tokens_per_image(self.quality, self.size_label, self.width, self.height)
        if self.output_format == "gif":
            per_image *= self.frame_count
        output_image = images * (per_image + PARTIAL_IMAGE_TOKENS * self.partial_images)
        output_text = images * PLANNING_TOKENS[self.complexity or "medium"] if self.rules.current else 0
        input_tokens = text_tokens + image_tokens
        output_tokens = output_image + output_text
        usage = {"input_tokens": input_tokens,
                 "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text_tokens},
                 "output_tokens": output_tokens,
                 "total_tokens": input_tokens + output_tokens}
        if self.rules.current and details:
            usage["output_tokens_details"] = {"image_tokens": output_image,
                                              "text_tokens": output_text}
        return usage

    def svg_usage(self, document):
        input_tokens = max(1, math.ceil(len(self.prompt) / 4)) + 256
        reasoning = REASONING_TOKENS.get(self.svg_effort, 256)
        output_tokens = max(1, len(document) // 4) + reasoning
        return {"input_tokens": input_tokens, "model": self.svg_model,
                "output_tokens": output_tokens, "reasoning_tokens": reasoning,
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
            if self.output_format == "svg":
                value["svg_usage"] = self.svg_usage(self.image(0).data)
            if self.safety_identifier is not None:
                value["safety_identifier"] = self.safety_identifier
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
            value["usage"] = self.usage(1, details=False)
            if self.safety_identifier is not None:
                value["safety_identifier"] = self.safety_identifier
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
                      None, model_hint)


FORM_FILES = ("image", "image[]", "mask", "markup")
NESTED_FIELD = re.compile(r"^(\w+)((?:\[\w+\])+)$")


def set_nested(values, name, text):
    """svg[reasoning][effort]=high -> values["svg"]["reasoning"]["effort"]."""
    match = NESTED_FIELD.match(name)
    keys = [match.group(1)] + re.findall(r"\[(\w+)\]", match.group(2))
    target = values
    for key in keys[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[keys[-1]] = text


def form_generation(state, operation, parts, model_hint):
    """A Generation from multipart parts: image, mask and markup files are
    checked and counted, text fields become parameters (svg[model] and the
    like become nested objects)."""
    strict = state.config_value("strict")
    values = {}
    inputs = Inputs()
    for name, filename, content_type, data in parts:
        if name in FORM_FILES:
            if filename is None and strict:
                raise ApiError(400, "Expected a file for '%s', got a text field." % name,
                               param=name, code="invalid_value")
            if strict and (content_type or "").split(";")[0].strip().lower() not in INPUT_MIME_TYPES:
                raise ApiError(400, "Invalid file '%s': unsupported mimetype ('%s'). "
                               "Supported file formats are 'image/jpeg', 'image/png', and "
                               "'image/webp'." % (name, content_type or "none"),
                               param=name, code="unsupported_file_mimetype")
            if name == "mask":
                inputs.mask = True
            elif name == "markup":
                inputs.markup = data
            else:
                if inputs.images == 0:
                    inputs.first_image = data
                inputs.images += 1
        elif filename is None:
            if NESTED_FIELD.match(name) and not name.endswith("[]"):
                set_nested(values, name, data.decode("utf-8", "replace"))
            else:
                values[name] = data.decode("utf-8", "replace")
    return Generation(state, operation, Params(values, True, strict), inputs, model_hint)
