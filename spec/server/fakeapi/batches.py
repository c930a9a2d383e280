"""Batches: the Files endpoints' storage and the Batches lifecycle
(validating -> in_progress -> completed, or cancelling -> cancelled), whose
completion runs every input line through the generation code.

Contract: every function takes the State first and raises ApiError for what
the API refuses; values returned are plain JSON-ready dicts (copies).
"""

import json
import time

from .answers import ApiError, dumps, join_json, new_id
from .generation import Generation, Inputs, Params

BATCH_ENDPOINTS = ("/v1/images/generations", "/v1/images/edits")


def file_object(entry):
    return {"id": entry["id"], "object": "file", "bytes": len(entry["content"]),
            "created_at": entry["created_at"], "filename": entry["filename"],
            "purpose": entry["purpose"], "status": "processed", "expires_at": None,
            "status_details": None}


def store_file(state, content, filename, purpose):
    entry = {"id": new_id("file-", 11), "content": content, "filename": filename,
             "purpose": purpose, "created_at": int(time.time())}
    with state.lock:
        state.files[entry["id"]] = entry
    return entry


def find_file(state, file_id):
    with state.lock:
        entry = state.files.get(file_id)
    if entry is None:
        raise ApiError(404, "No such File object: %s" % file_id, param="id")
    return entry


def list_value(items):
    return {"object": "list", "data": items,
            "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None, "has_more": False}


def new_batch(state, body):
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
    with state.lock:
        if input_file_id not in state.files:
            raise ApiError(400, "Invalid 'input_file_id': '%s'. File with ID '%s' does not exist."
                           % (input_file_id, input_file_id), param="input_file_id",
                           code="invalid_value")
        polls_needed = int(state.config.get("batch_polls") or 0)
    created = int(time.time())
    batch = {"id": new_id("batch_"), "object": "batch", "endpoint": endpoint, "errors": None,
             "input_file_id": input_file_id, "completion_window": window,
             "status": "validating", "output_file_id": None, "error_file_id": None,
             "created_at": created, "in_progress_at": None, "expires_at": created + 86400,
             "finalizing_at": None, "completed_at": None, "failed_at": None,
             "expired_at": None, "cancelling_at": None, "cancelled_at": None,
             "request_counts": {"total": 0, "completed": 0, "failed": 0},
             "metadata": body.get("metadata")}
    with state.lock:
        state.batches[batch["id"]] = {"object": batch, "polls": 0, "polls_needed": polls_needed}
    return batch


def batch_line_result(state, line_number, line, endpoint, file_base_url):
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
        params = Params(dict(body, stream=None), False, state.config_value("strict"))
        generation = Generation(state, operation, params, Inputs(images=count))
        value, _ = generation.response_value(file_base_url)
        status, payload, ok = 200, join_json(value), True
    except ApiError as error:
        status, payload, ok = error.status, dumps(error.body()), False
    prefix = dumps({"id": request_id, "custom_id": custom_id})[:-1]
    return ok, (prefix + b',"response":{"status_code":' + str(status).encode()
                + b',"request_id":' + dumps(http_request_id) + b',"body":' + payload
                + b'},"error":null}')


def complete_batch(state, entry, file_base_url):
    batch = entry["object"]
    content = find_file(state, batch["input_file_id"])["content"]
    outputs, errors = [], []
    lines = [line for line in content.split(b"\n") if line.strip()]
    for number, line in enumerate(lines, 1):
        ok, result = batch_line_result(state, number, line, batch["endpoint"], file_base_url)
        (outputs if ok else errors).append(result)
    now = int(time.time())
    if outputs:
        batch["output_file_id"] = store_file(state, b"\n".join(outputs) + b"\n",
                                             "%s_output.jsonl" % batch["id"], "batch_output")["id"]
    if errors:
        batch["error_file_id"] = store_file(state, b"\n".join(errors) + b"\n",
                                            "%s_error.jsonl" % batch["id"], "batch_output")["id"]
    batch["request_counts"] = {"total": len(lines), "completed": len(outputs),
                               "failed": len(errors)}
    batch["in_progress_at"] = batch["in_progress_at"] or now
    batch["finalizing_at"] = now
    batch["completed_at"] = now
    batch["status"] = "completed"


def poll_batch(state, batch_id, file_base_url):
    with state.lock:
        entry = state.batches.get(batch_id)
    if entry is None:
        raise ApiError(404, "No batch found with id '%s'." % batch_id, param="batch_id")
    with state.lock:
        batch = entry["object"]
        entry["polls"] += 1
        status = batch["status"]
        if status == "cancelling":
            batch["status"] = "cancelled"
            batch["cancelled_at"] = int(time.time())
        elif status in ("validating", "in_progress"):
            if entry["polls"] >= entry["polls_needed"]:
                complete_batch(state, entry, file_base_url)
            else:
                batch["status"] = "in_progress"
                batch["in_progress_at"] = batch["in_progress_at"] or int(time.time())
                content = state.files.get(batch["input_file_id"], {}).get("content", b"")
                batch["request_counts"]["total"] = sum(1 for line in content.split(b"\n")
                                                       if line.strip())
        return json.loads(json.dumps(batch))


def cancel_batch(state, batch_id):
    with state.lock:
        entry = state.batches.get(batch_id)
        if entry is None:
            raise ApiError(404, "No batch found with id '%s'." % batch_id, param="batch_id")
        batch = entry["object"]
        if batch["status"] not in ("validating", "in_progress"):
            raise ApiError(400, "Cannot cancel a batch with status '%s'." % batch["status"])
        batch["status"] = "cancelling"
        batch["cancelling_at"] = int(time.time())
        return json.loads(json.dumps(batch))


def list_batches(state):
    with state.lock:
        return list_value([json.loads(json.dumps(e["object"])) for e in state.batches.values()])


def list_files(state):
    with state.lock:
        entries = list(state.files.values())
    return list_value([file_object(e) for e in entries])


def delete_file(state, file_id):
    entry = find_file(state, file_id)
    with state.lock:
        state.files.pop(entry["id"], None)
    return {"id": entry["id"], "object": "file", "deleted": True}
