"""Schemathesis hooks for Skiff's native API: a refusal changes nothing.

Loaded by `tests/openapi.rs` through SCHEMATHESIS_HOOKS. Before every request that may change
state, the hook takes a snapshot of what the server holds (functions with their code and
settings, triggers, services with their revisions, tasks, access keys); when the server refuses
the request (any 4xx), the check takes the snapshot again and fails if anything differs.
"""

import json
import os
import urllib.request

import schemathesis

BASE = os.environ["SKIFF_URL"]
TOKEN = os.environ["SKIFF_TOKEN"]
MUTATING = {"PUT", "POST", "DELETE", "PATCH"}

# What identifies each kind of thing and its settings; fields that move by themselves (status,
# timestamps, copy counts, a task's status, an autoscaled count) are left out.
LISTS = {
    "/v1/functions": ("functions", ("name", "code", "revision_id", "memory_mb", "timeout_s", "concurrency", "env", "events", "zip")),
    "/v1/triggers": ("triggers", ("id", "function", "queue", "exchange", "routing_key", "batch_size", "concurrency")),
    "/v1/services": ("services", ("name", "revision", "spec", "autoscaling", "placement")),
    "/v1/tasks": ("tasks", ("taskArn",)),
    "/v1/keys": ("AccessKeyMetadata", ("AccessKeyId", "Policy")),
}

_before = {}


def _get(path):
    request = urllib.request.Request(BASE + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def snapshot():
    state = {}
    for path, (key, fields) in LISTS.items():
        items = _get(path).get(key, [])
        state[path] = sorted(json.dumps({f: item.get(f) for f in fields}, sort_keys=True) for item in items)
    return state


@schemathesis.hook
def filter_case(context, case):
    """Keep out `follow=true`: a followed log is a stream that ends only when its reader leaves,
    and schemathesis reads a body to its end, so such a case can only time out. Following is
    tested where the stream is read line by line (tests/invoke.rs, tests/cluster.rs); every
    other value of `follow`, wrong ones included, is still generated here. (A case hook, not a
    query hook: the coverage phase applies only case hooks.)"""
    query = case.query or {}
    follow = query.get("follow")
    values = follow if isinstance(follow, list) else [follow]
    return not any(str(v).lower() in ("true", "1") for v in values)


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() in MUTATING:
        _before[id(case)] = snapshot()


@schemathesis.check
def refusals_change_nothing(ctx, response, case):
    before = _before.pop(id(case), None)
    if before is None or not 400 <= response.status_code < 500:
        return None
    after = snapshot()
    changed = [path for path in LISTS if before[path] != after[path]]
    if changed:
        raise AssertionError(
            f"{case.method} {case.formatted_path} was refused with {response.status_code} but changed {changed}: "
            + "; ".join(f"{p}: {before[p]} -> {after[p]}" for p in changed)
        )
    return True
