"""A container function on AWS's official Python runtime client (awslambdaric), unmodified.

The handler is plain Lambda Python: an event dict in, a JSON-serialisable result out; what it
prints is the invocation's log."""

import os


def handler(event, context):
    event = event or {}
    if "fail" in event:
        raise ValueError(event["fail"])
    name = event.get("name", "world")
    greeting = os.environ.get("GREETING", "Hello")
    print(f"greeting {name} from {context.function_name}")
    return {
        "message": f"{greeting}, {name}!",
        "function": context.function_name,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
