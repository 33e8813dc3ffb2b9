"""Function URL configs driven by unmodified boto3 against a server started with --token:
`AuthType: NONE` opens /fn/NAME/ to requests without credentials, `AWS_IAM` closes it again,
deleting the config goes back to the server's own authentication, and refused requests change
nothing.

Usage: boto3_urls.py URL TOKEN FUNCTION. Exits non-zero with a message on the first mismatch."""
import sys
import urllib.error
import urllib.request

import boto3
import botocore.config
import skiff_lambda

url, token, fn = sys.argv[1:4]
error_of = skiff_lambda.error_of
# The bootstrap admin signs with the token as key id and secret.
lam = boto3.client(
    "lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id=token, aws_secret_access_key=token,
    config=botocore.config.Config(retries={"max_attempts": 1}),
)


def call_url(headers=None):
    """The status of GET /fn/FUNCTION/, with no credentials unless `headers` gives some."""
    request = urllib.request.Request(f"{url}/fn/{fn}/hello?x=1", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


# No config: the URL takes the server's credentials, and there is no config to read.
assert call_url() == 401, call_url()
assert call_url({"Authorization": f"Bearer {token}"}) == 200
status, code, _ = error_of(lam.get_function_url_config, FunctionName=fn)
assert (status, code) == (404, "ResourceNotFoundException"), (status, code)

# Refused by the field's name, and nothing is created.
for bad, field in [({"AuthType": "OPEN"}, "AuthType"), ({"AuthType": "NONE", "Cors": {"AllowOrigins": ["*"]}}, "Cors"),
                   ({"AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"}, "InvokeMode")]:
    status, code, message = error_of(lam.create_function_url_config, FunctionName=fn, **bad)
    assert status == 400 and field in message, (bad, status, code, message)
status, code, _ = error_of(lam.create_function_url_config, FunctionName=f"{fn}:1", AuthType="NONE")
assert status == 400, (status, code)
assert error_of(lam.get_function_url_config, FunctionName=fn)[0] == 404
assert error_of(lam.create_function_url_config, FunctionName="no-such-function", AuthType="NONE")[0] == 404

created = lam.create_function_url_config(FunctionName=fn, AuthType="NONE")
assert created["ResponseMetadata"]["HTTPStatusCode"] == 201, created
assert created["AuthType"] == "NONE" and created["FunctionUrl"] == f"{url}/fn/{fn}/", created
assert created["FunctionArn"].endswith(f":function:{fn}"), created
assert call_url() == 200, "AuthType NONE: anyone may call the URL"
status, code, _ = error_of(lam.create_function_url_config, FunctionName=fn, AuthType="NONE")
assert (status, code) == (409, "ResourceConflictException"), (status, code)
got = lam.get_function_url_config(FunctionName=fn)
assert got["AuthType"] == "NONE" and got["CreationTime"] and got["LastModifiedTime"], got
listed = lam.list_function_url_configs(FunctionName=fn)["FunctionUrlConfigs"]
assert [c["FunctionUrl"] for c in listed] == [created["FunctionUrl"]], listed

updated = lam.update_function_url_config(FunctionName=fn, AuthType="AWS_IAM")
assert updated["AuthType"] == "AWS_IAM" and updated["CreationTime"] == created["CreationTime"], updated
assert call_url() == 401, "AWS_IAM: credentials are required again"
assert call_url({"Authorization": f"Bearer {token}"}) == 200

lam.delete_function_url_config(FunctionName=fn)
assert error_of(lam.get_function_url_config, FunctionName=fn)[0] == 404
assert error_of(lam.delete_function_url_config, FunctionName=fn)[0] == 404
assert lam.list_function_url_configs(FunctionName=fn)["FunctionUrlConfigs"] == []
assert call_url() == 401
print("all checks passed")
