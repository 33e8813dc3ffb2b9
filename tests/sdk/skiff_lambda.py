"""The boto3 Lambda client every SDK test script uses: pointed at the gateway, no retries (a
retry would hide the first answer), and the test credentials."""
import boto3
import botocore.config


def client(url):
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="skiff",
        aws_secret_access_key="unused",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def error_of(call, **kwargs):
    """The (HTTP status, error code, message) a call that must fail answers with."""
    from botocore.exceptions import ClientError

    try:
        call(**kwargs)
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError(f"{call.__name__} {kwargs} did not fail")


def aws(url, *args):
    """Runs `aws lambda ARGS` against the gateway and answers its output."""
    import os
    import subprocess

    env = dict(os.environ, AWS_ACCESS_KEY_ID="skiff", AWS_SECRET_ACCESS_KEY="unused", AWS_DEFAULT_REGION="us-east-1")
    out = subprocess.run(["aws", "--endpoint-url", url, "lambda", *args], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, f"aws lambda {args}: {out.stdout}{out.stderr}"
    return out.stdout
