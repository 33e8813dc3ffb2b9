"""Event source mappings driven by unmodified boto3 against a server on RabbitMQ: a mapping is a
queue trigger (the same one `/v1/triggers` shows), messages an independent client (pika)
publishes into the mapped queue run the function, fields a trigger cannot honour are refused by
name, and a deleted mapping is gone.

Usage: boto3_mappings.py URL AMQP_URL FUNCTION QUEUE. Exits non-zero on the first mismatch."""
import json
import sys
import time
import urllib.request

import pika
import skiff_lambda

url, amqp, fn, queue = sys.argv[1:5]
lam = skiff_lambda.client(url)
error_of = skiff_lambda.error_of
arn = f"arn:aws:sqs:us-east-1:000000000000:{queue}"


def native(path):
    with urllib.request.urlopen(url + path, timeout=30) as response:
        return json.load(response)


def acked():
    series = f'skiff_trigger_messages_total{{function="{fn}",outcome="acked"}} '
    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    return next((float(line[len(series):]) for line in text.splitlines() if line.startswith(series)), 0.0)


# Refused by the field's name, and nothing is created.
for bad, field in [({"StartingPosition": "LATEST"}, "StartingPosition"), ({"Enabled": False}, "Enabled"),
                   ({"BatchSize": 5000}, "BatchSize"), ({"EventSourceArn": "arn:aws:kinesis:us-east-1:0:stream/s"}, "EventSourceArn")]:
    args = {"FunctionName": fn, "EventSourceArn": arn, **bad}
    status, code, message = error_of(lam.create_event_source_mapping, **args)
    assert status == 400 and field in message, (bad, status, code, message)
status, code, _ = error_of(lam.create_event_source_mapping, FunctionName="no-such-function", EventSourceArn=arn)
assert status in (400, 404), (status, code)
assert native("/v1/triggers")["triggers"] == []

created = lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn, BatchSize=5, MaximumBatchingWindowInSeconds=1)
assert created["ResponseMetadata"]["HTTPStatusCode"] == 202, created
assert created["State"] == "Enabled" and created["EventSourceArn"] == arn, created
assert created["FunctionArn"].endswith(f":function:{fn}") and created["MaximumBatchingWindowInSeconds"] == 1, created
uuid = created["UUID"]
assert lam.get_event_source_mapping(UUID=uuid)["BatchSize"] == 5
assert [m["UUID"] for m in lam.list_event_source_mappings(FunctionName=fn)["EventSourceMappings"]] == [uuid]
assert [m["UUID"] for m in lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]] == [uuid]
assert lam.list_event_source_mappings(EventSourceArn=arn + "-other")["EventSourceMappings"] == []
assert [t["id"] for t in native("/v1/triggers")["triggers"]] == [uuid], "one implementation behind both APIs"

# Messages published into the queue run the function.
connection = pika.BlockingConnection(pika.URLParameters(amqp))
channel = connection.channel()
channel.confirm_delivery()
for i in range(3):
    channel.basic_publish(exchange="", routing_key=queue, body=json.dumps({"i": i}).encode(), mandatory=True,
                          properties=pika.BasicProperties(message_id=f"m{i}", delivery_mode=2))
connection.close()
deadline = time.time() + 60
while acked() < 3 and time.time() < deadline:
    time.sleep(0.2)
assert acked() == 3, f"{acked()} of 3 messages acked"

deleted = lam.delete_event_source_mapping(UUID=uuid)
assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202 and deleted["State"] == "Deleting", deleted
status, code, _ = error_of(lam.get_event_source_mapping, UUID=uuid)
assert (status, code) == (404, "ResourceNotFoundException"), (status, code)
assert native("/v1/triggers")["triggers"] == []
print("all checks passed")
