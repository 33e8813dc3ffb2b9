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
