"""A zip function on Skiff's managed python3.11 runtime: no image, no Wasm, just this folder."""
import os

CALLS = 0


def handler(event, context):
    global CALLS
    CALLS += 1
    name = (event or {}).get("name", "world")
    return {"message": f"{os.environ.get('GREETING', 'Hello')}, {name}!", "calls_in_this_environment": CALLS}
