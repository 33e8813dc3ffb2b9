"""Access keys and SigV4 against a server started with --token, with unmodified boto3 and
botocore's own signer: signatures are verified, and a key's IAM policy limits what it may do.

Usage: boto3_keys.py URL TOKEN KEY_ID KEY_SECRET. The key may invoke `echo` and nothing else;
`echo` and `trap` are deployed. Exits non-zero with a message on the first mismatch."""
import datetime
import json
import sys
import urllib.error
import urllib.request

import boto3
import botocore.config
import skiff_lambda
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

url, token, key_id, key_secret = sys.argv[1:5]
error_of = skiff_lambda.error_of


def client(access, secret):
    return boto3.client(
        "lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id=access, aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def signed_send(access, secret, body_signed, body_sent, at):
    """POSTs an Invoke of echo signed by botocore's SigV4 signer at `at`, with `body_sent`."""
    target = f"{url}/2015-03-31/functions/echo/invocations"
    request = AWSRequest(method="POST", url=target, data=body_signed, headers={})
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    request.context["timestamp"] = stamp
    request.headers["X-Amz-Date"] = stamp
    request.headers["host"] = url.split("://", 1)[1]
    signer = SigV4Auth(Credentials(access, secret), "lambda", "us-east-1")
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed_headers = signer.signed_headers(signer.headers_to_sign(request))
    authorization = f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, SignedHeaders={signed_headers}, Signature={signature}"
    sent = urllib.request.Request(target, data=body_sent, method="POST", headers={"X-Amz-Date": stamp, "Authorization": authorization})
    try:
        with urllib.request.urlopen(sent, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def refused(code):
    def check(result):
        status, body = result
        return status == 403 and json.loads(body)["__type"] == code
    return check


now = datetime.datetime.now(datetime.timezone.utc)

# The bootstrap admin signs with the token as both key id and secret.
admin = client(token, token)
assert {f["FunctionName"] for f in admin.list_functions()["Functions"]} == {"echo", "trap"}
status, code, _ = error_of(client(token, "not-the-token").list_functions)
assert (status, code) == (403, "InvalidSignatureException"), (status, code)

# A key nobody issued.
status, code, _ = error_of(client("AKIANOBODYISSUEDTHIS", "x" * 40).list_functions)
assert (status, code) == (403, "UnrecognizedClientException"), (status, code)

# The invoker key: its signature holds, and its policy lets it invoke echo only.
invoker = client(key_id, key_secret)
assert json.loads(invoker.invoke(FunctionName="echo", Payload=b'{"k":1}')["Payload"].read()) == {"k": 1}
for call, kwargs in ((invoker.invoke, {"FunctionName": "trap", "Payload": b"{}"}), (invoker.list_functions, {}),
                     (invoker.get_function, {"FunctionName": "echo"}), (invoker.delete_function, {"FunctionName": "echo"})):
    status, code, message = error_of(call, **kwargs)
    assert (status, code) == (403, "AccessDeniedException") and "not authorized to perform: lambda:" in message, (call, status, code, message)
status, code, _ = error_of(client(key_id, "wrong-secret").invoke, FunctionName="echo", Payload=b"{}")
assert (status, code) == (403, "InvalidSignatureException"), (status, code)

# botocore's signer by hand: the same request verifies; a changed body or an old date does not.
assert signed_send(key_id, key_secret, b'{"a":1}', b'{"a":1}', now) == (200, b'{"a":1}')
assert refused("InvalidSignatureException")(signed_send(key_id, key_secret, b'{"a":1}', b'{"a":2}', now)), "tampered body accepted"
expired = signed_send(key_id, key_secret, b"{}", b"{}", now - datetime.timedelta(minutes=20))
assert refused("InvalidSignatureException")(expired) and b"expired" in expired[1], expired
assert admin.get_function(FunctionName="echo")["Configuration"]["FunctionName"] == "echo", "nothing was changed meanwhile"
print("all checks passed")
