"""A WASI preview 2 command component in Python (built with componentize-py).

The event arrives on stdin as JSON, the result goes to stdout, logs go to stderr."""
import json
import os
import sys

from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        raw = sys.stdin.read()
        event = json.loads(raw) if raw.strip() else {}
        print(f"hello-py: handling request {os.environ.get('AWS_LAMBDA_REQUEST_ID')}", file=sys.stderr)
        result = {
            "message": f"Hello from Python, {event.get('name', 'world')}!",
            "function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
            "reversed": list(reversed(event.get("items", []))),
        }
        sys.stdout.write(json.dumps(result))
        sys.stdout.flush()
