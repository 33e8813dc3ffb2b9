"""Manages functions on a running Skiff gateway with the unmodified AWS SDK for Python (boto3)
and the AWS CLI: Lambda's control plane, its errors and its waiters.

Usage: boto3_control.py URL IMAGE. IMAGE is a Lambda-runtime image in the local engine.
Exits non-zero with a message on the first mismatch."""
import json
import sys

import skiff_lambda

url, image = sys.argv[1], sys.argv[2]
client = skiff_lambda.client(url)
ROLE = "arn:aws:iam::000000000000:role/skiff"


error_of = skiff_lambda.error_of


def aws(*args):
    return skiff_lambda.aws(url, *args)


# Life cycle.
created = client.create_function(
    FunctionName="app", Role=ROLE, PackageType="Image", Code={"ImageUri": image},
    MemorySize=256, Timeout=10, Environment={"Variables": {"GREETING": "hi"}}, Description="first",
)
assert created["State"] == "Active" and created["PackageType"] == "Image", created
assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:app", created
client.get_waiter("function_active_v2").wait(FunctionName="app")
aws("wait", "function-active-v2", "--function-name", "app")
got = client.get_function(FunctionName="app")
assert got["Configuration"]["MemorySize"] == 256 and got["Code"]["ImageUri"] == image, got
assert got["Configuration"]["Environment"]["Variables"] == {"GREETING": "hi"}, got
first_revision = got["Configuration"]["RevisionId"]

updated = client.update_function_configuration(FunctionName="app", Timeout=20, RevisionId=first_revision)
assert updated["Timeout"] == 20 and updated["MemorySize"] == 256 and updated["RevisionId"] != first_revision, updated
client.get_waiter("function_updated_v2").wait(FunctionName="app")
aws("wait", "function-updated-v2", "--function-name", "app")
status, code, _ = error_of(client.update_function_configuration, FunctionName="app", Timeout=30, RevisionId=first_revision)
assert (status, code) == (412, "PreconditionFailedException"), (status, code)
assert client.get_function_configuration(FunctionName="app")["Timeout"] == 20, "a stale update changed nothing"

cli_config = json.loads(aws("get-function-configuration", "--function-name", "app"))
assert cli_config["Timeout"] == 20 and cli_config["Description"] == "first", cli_config
code_update = client.update_function_code(FunctionName="app", ImageUri=image)
assert code_update["LastUpdateStatus"] == "Successful", code_update

# Errors, and that they changed nothing.
status, code, _ = error_of(client.create_function, FunctionName="app", Role=ROLE, Code={"ImageUri": image})
assert (status, code) == (409, "ResourceConflictException"), (status, code)
status, code, _ = error_of(client.get_function, FunctionName="missing")
assert (status, code) == (404, "ResourceNotFoundException"), (status, code)
status, code, message = error_of(client.update_function_configuration, FunctionName="app", MemorySize=20000)
assert (status, code) == (400, "InvalidParameterValueException") and "MemorySize" in message, (status, code, message)
status, code, message = error_of(client.create_function, FunctionName="vpc", Role=ROLE, Code={"ImageUri": image}, Layers=["arn:aws:lambda:us-east-1:1:layer:l:1"])
assert status == 400 and "Layers" in message, message
assert client.get_function_configuration(FunctionName="app")["MemorySize"] == 256

# Reserved concurrency: 0 turns every call away. A settings change keeps the warm container:
# the call after it starts nothing (no init duration reported).
client.invoke(FunctionName="app", Payload=b"{}")
client.put_function_concurrency(FunctionName="app", ReservedConcurrentExecutions=0)
assert client.get_function_concurrency(FunctionName="app")["ReservedConcurrentExecutions"] == 0
status, code, _ = error_of(client.invoke, FunctionName="app", Payload=b"{}")
assert (status, code) == (429, "TooManyRequestsException"), (status, code)
client.delete_function_concurrency(FunctionName="app")
assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(FunctionName="app")
warm = client.invoke(FunctionName="app", Payload=b"{}")
assert "FunctionError" not in warm, warm
assert "x-skiff-init-duration-ms" not in warm["ResponseMetadata"]["HTTPHeaders"], warm["ResponseMetadata"]["HTTPHeaders"]

# Asynchronous-invocation settings.
status, code, _ = error_of(client.get_function_event_invoke_config, FunctionName="app")
assert status == 404, status
put = client.put_function_event_invoke_config(
    FunctionName="app", MaximumRetryAttempts=0,
    DestinationConfig={"OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:000000000000:done"}},
)
assert put["MaximumRetryAttempts"] == 0 and put["MaximumEventAgeInSeconds"] == 21600, put
assert client.get_function_event_invoke_config(FunctionName="app")["DestinationConfig"]["OnSuccess"]["Destination"].endswith(":done")
status, _, message = error_of(client.put_function_event_invoke_config, FunctionName="app", MaximumRetryAttempts=5)
assert status == 400 and "MaximumRetryAttempts" in message, message
client.delete_function_event_invoke_config(FunctionName="app")

# Paging over 120 functions, by the SDK's paginator and by hand.
for i in range(119):
    client.create_function(FunctionName=f"f{i:03}", Role=ROLE, Code={"ImageUri": image})
names = [f["FunctionName"] for page in client.get_paginator("list_functions").paginate() for f in page["Functions"]]
assert len(names) == 120 and len(set(names)) == 120, len(names)
first = client.list_functions(MaxItems=100)
assert len(first["Functions"]) == 50 and "NextMarker" in first, len(first["Functions"])
settings = client.get_account_settings()
assert settings["AccountUsage"]["FunctionCount"] == 120, settings

# Publish on create and on a code update: the answer is the new version.
published = client.create_function(FunctionName="pub", Role=ROLE, Code={"ImageUri": image}, Publish=True)
assert published["Version"] == "1" and published["FunctionArn"].endswith(":pub:1"), published
again = client.update_function_code(FunctionName="pub", ImageUri=image, Publish=True)
assert again["Version"] == "1", "the same image publishes no new version"
assert client.invoke(FunctionName="pub", Qualifier="1", Payload=b"{}")["ExecutedVersion"] == "1"
client.delete_function(FunctionName="pub")

client.delete_function(FunctionName="app")
status, _, _ = error_of(client.get_function, FunctionName="app")
assert status == 404
print("boto3 control plane: all checks passed")
