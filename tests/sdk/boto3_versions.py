"""Published versions and aliases with the unmodified AWS SDK for Python (boto3) and the AWS CLI:
publishing, invoking a version or an alias, weighted routing, and the rules that guard them.

Usage: boto3_versions.py URL FUNCTION TRAP_WASM. FUNCTION is deployed with the echo fixture;
TRAP_WASM is the path of a module that traps, deployed over it to make a second version.
Exits non-zero with a message on the first mismatch."""
import base64
import json
import sys
import urllib.request

import skiff_lambda

url, name, trap_path = sys.argv[1], sys.argv[2], sys.argv[3]
client = skiff_lambda.client(url)


error_of = skiff_lambda.error_of


def invoke(**kwargs):
    out = client.invoke(FunctionName=name, Payload=b'{"n":1}', **kwargs)
    return out["ExecutedVersion"], out.get("FunctionError"), out["Payload"].read()


def deploy_native(wasm):
    body = json.dumps({"wasm_base64": base64.b64encode(wasm).decode()}).encode()
    req = urllib.request.Request(f"{url}/v1/functions/{name}", data=body, method="PUT", headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 200, resp.status


def aws(*args):
    out = skiff_lambda.aws(url, *args)
    return json.loads(out) if out.strip() else None


# Publishing: a version freezes the code; publishing again unchanged answers the same version.
v1 = client.publish_version(FunctionName=name, Description="echo")
assert v1["Version"] == "1" and v1["FunctionArn"].endswith(f":function:{name}:1") and v1["Description"] == "echo", v1
assert client.publish_version(FunctionName=name)["Version"] == "1", "an unchanged function publishes no new version"
deploy_native(open(trap_path, "rb").read())
latest = client.get_function_configuration(FunctionName=name)
assert latest["Version"] == "$LATEST" and latest["CodeSha256"] != v1["CodeSha256"], latest
status, code, _ = error_of(client.publish_version, FunctionName=name, CodeSha256=v1["CodeSha256"])
assert (status, code) == (400, "InvalidParameterValueException"), (status, code)
status, code, _ = error_of(client.publish_version, FunctionName=name, RevisionId="stale")
assert (status, code) == (412, "PreconditionFailedException"), (status, code)
v2 = aws("publish-version", "--function-name", name, "--code-sha256", latest["CodeSha256"])
assert v2["Version"] == "2", v2

# Each version runs its own code; unqualified runs $LATEST.
assert invoke(Qualifier="1") == ("1", None, b'{"n":1}'), invoke(Qualifier="1")
assert invoke()[:2] == ("$LATEST", "Unhandled"), invoke()
assert invoke(Qualifier="2")[:2] == ("2", "Unhandled")
assert client.invoke(FunctionName=f"{name}:1", Payload=b"{}")["ExecutedVersion"] == "1"
status, code, _ = error_of(client.invoke, FunctionName=name, Qualifier="7")
assert (status, code) == (404, "ResourceNotFoundException"), (status, code)
shown = client.get_function_configuration(FunctionName=name, Qualifier="1")
assert shown["Version"] == "1" and shown["CodeSha256"] == v1["CodeSha256"], shown
versions = [v["Version"] for v in client.list_versions_by_function(FunctionName=name)["Versions"]]
assert versions == ["$LATEST", "1", "2"], versions
everything = [f["FunctionArn"] for f in client.list_functions(FunctionVersion="ALL")["Functions"] if f["FunctionName"] == name]
assert len(everything) == 3 and everything[1].endswith(":1"), everything
assert len([f for f in client.list_functions()["Functions"] if f["FunctionName"] == name]) == 1

# Aliases and weighted routing.
live = client.create_alias(FunctionName=name, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}})
assert live["AliasArn"].endswith(f":function:{name}:live") and live["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.3}, live
status, code, _ = error_of(client.create_alias, FunctionName=name, Name="live", FunctionVersion="1")
assert (status, code) == (409, "ResourceConflictException"), (status, code)
for bad in ({"2": 1.5}, {"$LATEST": 0.5}, {"9": 0.1}):
    status, code, message = error_of(client.create_alias, FunctionName=name, Name="bad", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": bad})
    assert status in (400, 404), (bad, status, code, message)
status, code, _ = error_of(client.create_alias, FunctionName=name, Name="nowhere", FunctionVersion="5")
assert (status, code) == (404, "ResourceNotFoundException"), (status, code)
assert [a["Name"] for a in client.list_aliases(FunctionName=name)["Aliases"]] == ["live"]

CALLS = 400
counts = {}
for _ in range(CALLS):
    version, error, _ = invoke(Qualifier="live")
    assert (version == "2") == (error == "Unhandled"), (version, error)
    counts[version] = counts.get(version, 0) + 1
share = counts.get("2", 0) / CALLS
# 0.3 with 400 calls: the standard deviation is 0.023, so this band is over four of them.
assert set(counts) == {"1", "2"} and 0.2 <= share <= 0.4, counts
print(f"weighted alias: {counts} over {CALLS} calls, share of version 2 = {share:.3f}")

# Updates: RevisionId guards them; routing can be removed and turned around.
status, code, _ = error_of(client.update_alias, FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {}}, RevisionId="stale")
assert (status, code) == (412, "PreconditionFailedException"), (status, code)
plain = client.update_alias(FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {}}, RevisionId=live["RevisionId"])
assert "RoutingConfig" not in plain and plain["FunctionVersion"] == "1", plain
assert {invoke(Qualifier="live")[0] for _ in range(20)} == {"1"}
turned = client.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
assert turned["FunctionVersion"] == "2" and turned["RoutingConfig"]["AdditionalVersionWeights"] == {"1": 0.5}, turned
assert client.get_alias(FunctionName=name, Name="live") == {**turned, "ResponseMetadata": client.get_alias(FunctionName=name, Name="live")["ResponseMetadata"]}
assert [a["Name"] for a in aws("list-aliases", "--function-name", name, "--function-version", "1")["Aliases"]] == ["live"]
assert client.get_function_configuration(FunctionName=name, Qualifier="live")["Version"] == "2"
accepted = client.invoke(FunctionName=name, Qualifier="live", InvocationType="Event", Payload=b"{}")
assert accepted["StatusCode"] == 202, accepted

# A version an alias routes to cannot be deleted; once free it can, and its number is not reused.
status, code, message = error_of(client.delete_function, FunctionName=name, Qualifier="1")
assert (status, code) == (409, "ResourceConflictException") and "live" in message, (status, code, message)
client.update_alias(FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {}})
client.delete_function(FunctionName=name, Qualifier="1")
status, code, _ = error_of(client.invoke, FunctionName=name, Qualifier="1")
assert (status, code) == (404, "ResourceNotFoundException"), (status, code)
status, code, _ = error_of(client.delete_function, FunctionName=name, Qualifier="live")
assert status == 400, (status, code)
client.update_function_configuration(FunctionName=name, Environment={"Variables": {"MODE": "third"}})
v3 = client.publish_version(FunctionName=name)
assert v3["Version"] == "3", "numbers are never reused"
assert [v["Version"] for v in client.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "2", "3"]

# Deleting the alias, then the function with everything it had.
client.delete_alias(FunctionName=name, Name="live")
status, code, _ = error_of(client.get_alias, FunctionName=name, Name="live")
assert (status, code) == (404, "ResourceNotFoundException"), (status, code)
client.create_alias(FunctionName=name, Name="stays", FunctionVersion="$LATEST")
client.delete_function(FunctionName=name)
status, code, _ = error_of(client.get_function_configuration, FunctionName=name, Qualifier="2")
assert (status, code) == (404, "ResourceNotFoundException"), (status, code)
print("all checks passed")
