"""Models: what the fake knows about image models, from the official SDK
(openai-node 7.60.0 src/resources/images.ts) and the API's deprecations
page: which are shut down (and what replaces them), which are the current
2.x family and what each of those accepts.

Contract: shut_down(model) -> (date, replacement) or None; ModelRules(model)
tells the generation code what a known current model accepts; unknown models
get no model-specific rules (compatible servers name their own models).
"""

import re

# A request that names no model is answered as this one.
DEFAULT_MODEL = "gpt-image-2.6-flare"
# Only variations ever defaulted to dall-e-2 (its one model).
DEFAULT_VARIATION_MODEL = "dall-e-2"

REPLACEMENT = "gpt-image-2.6-flare or gpt-image-2.6-sunburst"
SHUT_DOWN = {
    "gpt-image-1": "2026-10-23",
    "dall-e-2": "2026-05-12",
    "dall-e-3": "2026-05-12",
    "gpt-image-1-mini": "2026-12-01",
    "gpt-image-1.5": "2026-12-01",
    "gpt-image-1.5-2025-12-16": "2026-12-01",
    "chatgpt-image-latest": "2026-12-01",
}

# The current family: gpt-image-2 (and its snapshot), 2.5 and 2.6 in the
# sunburst and flare flavours (and their snapshots).
CURRENT = re.compile(r"^gpt-image-2(\.[56]-(sunburst|flare))?(-\d{4}-\d{2}-\d{2})?$")
# 2.5 and newer: quality xhigh / max and markup edits.
NEWER = re.compile(r"^gpt-image-2\.[56]-")

MAX_PIXELS = 3840 * 2160
MAX_EDGE = 3840


def shut_down(model):
    date = SHUT_DOWN.get(model)
    return (date, REPLACEMENT) if date else None


def shut_down_message(model):
    return ("The model `%s` has been deprecated, learn more here: "
            "https://platform.openai.com/docs/deprecations" % model)


class ModelRules:
    def __init__(self, model):
        self.model = model
        self.current = bool(CURRENT.match(model))
        self.newer = bool(NEWER.match(model))
        # gpt-image-2 itself: input_fidelity must be omitted.
        self.no_fidelity = self.current and not self.newer
        # Quality xhigh / max and markup: 2.5 and newer, and unknown models
        # (never refuse what a compatible server may accept).
        refused = model in SHUT_DOWN or model.startswith("gpt-image-1") or self.no_fidelity
        self.xhigh = not refused
        self.markup = not refused

    def size_problem(self, width, height):
        """Why a WxH size is refused for a current model, or None."""
        if width % 16 or height % 16:
            return "width and height must both be multiples of 16"
        if width > 3 * height or height > 3 * width:
            return "the aspect ratio must be between 1:3 and 3:1"
        if max(width, height) > MAX_EDGE or width * height > MAX_PIXELS:
            return "the largest supported size is 3840x2160"
        return None
