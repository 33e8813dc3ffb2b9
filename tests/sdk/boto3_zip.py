"""Zip functions on Skiff's managed python3.11 runtime, created and updated with unmodified boto3:
Lambda's layout and environment, CodeSha256, an import error, and refused input.

Usage: boto3_zip.py URL. Exits non-zero with a message on the first mismatch."""
import base64
import hashlib
import io
import json
import sys
import zipfile

import skiff_lambda

url = sys.argv[1]
client = skiff_lambda.client(url)
error_of = skiff_lambda.error_of
ROLE = "arn:aws:iam::000000000000:role/skiff"

APP = '''
import os, pathlib

def handler(event, context):
    try:
        pathlib.Path("/var/task/written").write_text("x")
        task_writable = True
    except OSError:
        task_writable = False
    pathlib.Path("/tmp/scratch").write_text("ok")
    keys = ["_HANDLER", "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "GREETING", "AWS_LAMBDA_FUNCTION_NAME"]
    return {"env": {k: os.environ.get(k) for k in keys}, "cwd": os.getcwd(), "task_writable": task_writable,
            "files": sorted(os.listdir("/var/task")), "event": event, "version": VERSION}
'''


def zipped(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


first = zipped({"app.py": "VERSION = 1\n" + APP, "lib/helper.py": "X = 1\n"})
created = client.create_function(
    FunctionName="pyzip", Role=ROLE, Runtime="python3.11", Handler="app.handler", Code={"ZipFile": first},
    Environment={"Variables": {"GREETING": "hi"}}, Timeout=10,
)
assert created["Runtime"] == "python3.11" and created["Handler"] == "app.handler" and created["PackageType"] == "Zip", created
assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(first).digest()).decode(), created
assert created["CodeSize"] == len(first), created
client.get_waiter("function_active_v2").wait(FunctionName="pyzip")

out = client.invoke(FunctionName="pyzip", Payload=b'{"n":1}')
assert "FunctionError" not in out, out["Payload"].read()
result = json.loads(out["Payload"].read())
assert result["env"] == {"_HANDLER": "app.handler", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11", "LAMBDA_TASK_ROOT": "/var/task",
                         "GREETING": "hi", "AWS_LAMBDA_FUNCTION_NAME": "pyzip"}, result
assert result["cwd"] == "/var/task" and result["task_writable"] is False and result["event"] == {"n": 1}, result
assert result["files"] == ["app.py", "lib"] and result["version"] == 1, result

# A new zip through UpdateFunctionCode keeps the runtime and handler; the old version keeps its code.
client.publish_version(FunctionName="pyzip")
second = zipped({"app.py": "VERSION = 2\n" + APP})
updated = client.update_function_code(FunctionName="pyzip", ZipFile=second)
assert updated["CodeSha256"] == base64.b64encode(hashlib.sha256(second).digest()).decode() and updated["Handler"] == "app.handler", updated
assert json.loads(client.invoke(FunctionName="pyzip", Payload=b"{}")["Payload"].read())["version"] == 2
assert json.loads(client.invoke(FunctionName="pyzip", Qualifier="1", Payload=b"{}")["Payload"].read())["version"] == 1

# Code that does not import: Lambda's Runtime.ImportModuleError, as awslambdaric reports it.
client.create_function(FunctionName="broken", Role=ROLE, Runtime="python3.11", Handler="app.handler",
                       Code={"ZipFile": zipped({"app.py": "import no_such_module\n"})})
failed = client.invoke(FunctionName="broken", Payload=b"{}")
error = json.loads(failed["Payload"].read())
assert failed.get("FunctionError") == "Unhandled" and error["errorType"] == "Runtime.ImportModuleError", error
assert "no_such_module" in error["errorMessage"], error

# Refused, and nothing made.
for kwargs, field in (
    ({"Runtime": "python9.9", "Handler": "app.handler", "Code": {"ZipFile": first}}, "Runtime python9.9 is not installed"),
    ({"Runtime": "python3.11", "Handler": "nohandler", "Code": {"ZipFile": first}}, "Handler"),
    ({"Handler": "app.handler", "Code": {"ZipFile": first}}, "Runtime"),
    ({"Runtime": "python3.11", "Handler": "app.handler", "Code": {"ZipFile": b"not a zip"}}, "not a zip"),
    ({"Runtime": "python3.11", "Handler": "app.handler", "Code": {"ZipFile": zipped({"../escape.py": ""})}}, "outside"),
):
    status, code, message = error_of(client.create_function, FunctionName="refused", Role=ROLE, **kwargs)
    assert status == 400 and field in message, (kwargs, status, code, message)
status, _, _ = error_of(client.get_function, FunctionName="refused")
assert status == 404
client.delete_function(FunctionName="broken")
client.delete_function(FunctionName="pyzip")
print("all checks passed")
