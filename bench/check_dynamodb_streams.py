"""Check for the transactional-outbox evaluation (docs/DESIGN.md): does the moto server emit DynamoDB stream
records for a put and a conditional update, readable through the DynamoDB Streams API?

    .venv/bin/python -m bench.check_dynamodb_streams

It starts its own moto server, makes a table with a NEW_IMAGE stream, writes an unused challenge and then marks
it used with its readings (the outbox's one conditional write), and prints the stream's records.
"""

from __future__ import annotations

import sys

import boto3
from moto.server import ThreadedMotoServer

TABLE = "challenges"
REGION = "us-east-1"
KEY = "local"


def main() -> int:
    server = ThreadedMotoServer(port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        dynamodb = boto3.client(
            "dynamodb", endpoint_url=url, region_name=REGION, aws_access_key_id=KEY, aws_secret_access_key=KEY
        )
        streams = boto3.client(
            "dynamodbstreams", endpoint_url=url, region_name=REGION, aws_access_key_id=KEY, aws_secret_access_key=KEY
        )
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        dynamodb.put_item(TableName=TABLE, Item={"id": {"S": "c1"}, "used": {"BOOL": False}})
        dynamodb.update_item(
            TableName=TABLE,
            Key={"id": {"S": "c1"}},
            UpdateExpression="SET used = :yes, readings = :readings",
            ConditionExpression="used = :no",
            ExpressionAttributeValues={
                ":yes": {"BOOL": True},
                ":no": {"BOOL": False},
                ":readings": {"L": [{"N": "7"}]},
            },
        )
        arn = dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shards[0]["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator)["Records"]:
            print(record["eventName"], record["dynamodb"].get("NewImage"))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
