"""Drives a running Skiff gateway with the unmodified AWS SDK for Python (boto3).

Usage: boto3_invoke.py URL. Expects functions `echo` (echo.wat) and `trap` (trap.wat) deployed.
Exits non-zero with a message on the first mismatch."""
import base64
import json
import sys

import skiff_lambda

url = sys.argv[1]
client = skiff_lambda.client(url)

ok = client.invoke(FunctionName="echo", Payload=json.dumps({"hello": "sdk"}).encode(), LogType="Tail")
assert ok["StatusCode"] == 200, ok
assert json.loads(ok["Payload"].read()) == {"hello": "sdk"}
assert ok["ExecutedVersion"] == "$LATEST", ok
assert "FunctionError" not in ok, ok
assert "echo fixture: invoked" in base64.b64decode(ok["LogResult"]).decode()

err = client.invoke(FunctionName="trap", Payload=b"{}")
assert err["FunctionError"] == "Unhandled", err
body = json.loads(err["Payload"].read())
assert body["errorType"] == "Runtime.Unhandled" and "widget is broken" in body["errorMessage"], body

dry = client.invoke(FunctionName="echo", InvocationType="DryRun")
assert dry["StatusCode"] == 204, dry

try:
    client.invoke(FunctionName="missing", Payload=b"{}")
    raise AssertionError("missing function did not raise")
except client.exceptions.ResourceNotFoundException as e:
    assert "missing" in str(e)

try:
    client.invoke(FunctionName="echo", Payload=b"{not json")
    raise AssertionError("bad payload did not raise")
except client.exceptions.InvalidRequestContentException:
    pass

print("boto3: all checks passed")
