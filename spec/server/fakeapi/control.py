"""Control: the /__control/ API the specs use to configure the server, queue
faults and read records, stats and served images. Never recorded; faults
never apply to it.

Contract: control(state, shutdown, method, path, body) -> Answer, where
shutdown() stops the server (called from another thread).
"""

import json
import threading

from .answers import Answer, dumps
from .faults import fault_from_request


def control(state, shutdown, method, path, body):
    try:
        value = json.loads(body) if body.strip() else {}
    except ValueError:
        return Answer(400, [dumps({"error": "control body is not JSON"})])
    name = path[len("/__control/"):]
    if name == "reset" and method == "POST":
        state.reset()
        return Answer(200, [dumps({"ok": True})])
    if name == "config" and method in ("POST", "GET"):
        if method == "POST":
            if not isinstance(value, dict):
                return Answer(400, [dumps({"error": "config is a JSON object"})])
            if value.get("image_bytes") is not None and int(value["image_bytes"]) <= 0:
                value["image_bytes"] = None
            with state.lock:
                state.config.update(value)
            if state.config_value("image_bytes"):
                state.images.noise(state.config_value("image_bytes"))
        with state.lock:
            return Answer(200, [dumps(state.config)])
    if name == "fault" and method == "POST":
        faults = value if isinstance(value, list) else [value]
        queued = []
        try:
            prepared = [fault_from_request(fault) for fault in faults]
        except (ValueError, TypeError) as problem:
            return Answer(400, [dumps({"error": str(problem)})])
        pending = 0
        for fault in prepared:
            fault_id, pending = state.add_fault(fault)
            queued.append(fault_id)
        return Answer(200, [dumps({"ok": True, "ids": queued, "pending": pending})])
    if name == "faults" and method == "GET":
        with state.lock:
            return Answer(200, [dumps(state.faults)])
    if name == "requests" and method == "GET":
        with state.lock:
            return Answer(200, [dumps(state.records)])
    if name == "stats" and method == "GET":
        return Answer(200, [dumps(state.stats())])
    if name.startswith("blob/") and method == "GET":
        image = state.images.find_sha(name[len("blob/"):])
        if image is None:
            return Answer(404, [dumps({"error": "no image with that sha256"})])
        return Answer(200, [image.data], image.content_type)
    if name == "shutdown" and method == "POST":
        threading.Thread(target=shutdown, daemon=True).start()
        return Answer(200, [dumps({"ok": True})])
    return Answer(404, [dumps({"error": "unknown control call %s %s" % (method, path)})])
