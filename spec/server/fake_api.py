#!/usr/bin/env python3
"""Command-line entry point of the fake OpenAI Images API (the fakeapi
package beside this file): the specs, the conformance suite, the benchmarks
and the quick start all run `python3 spec/server/fake_api.py --port 0 ...`.
See README.md for the options and the API it serves.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakeapi.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
