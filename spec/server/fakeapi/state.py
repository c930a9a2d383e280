"""State: everything the server remembers between requests, in one object
owned by the server: config, queued faults, request records, files,
batches, the image store, counters and the listening port.

Contract: every field is read and written under `lock` (re-entrant: batch
completion runs the generation code under it); reset() returns to the start
config and forgets faults, records, files, batches and url images.
"""

import sys
import threading

from .images import ImageStore

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
    "shut_down": False,     # refuse the models the API has shut down, as it does
}


class State:
    def __init__(self, start_config, verbose=False):
        self.lock = threading.RLock()
        self.start_config = dict(start_config)
        self.config = dict(start_config)
        self.verbose = verbose
        self.images = ImageStore()
        self.faults = []
        self.records = []
        self.files = {}
        self.batches = {}
        self.connections = 0
        self.in_flight = 0
        self.next_fault_id = 1
        self.port = 0

    def log(self, *args):
        if self.verbose:
            print("fake_api:", *args, file=sys.stderr, flush=True)

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
        self.images.forget_urls()

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
