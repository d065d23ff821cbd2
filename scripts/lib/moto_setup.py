"""Create an IAM user with an S3, EventBridge, SNS and SQS policy (the object stores, and the AWS event
sinks with the queues their tests read) and an access key on a fresh moto_server, then switch moto's
authentication on, so every later request must carry a valid SigV4 signature.

Prints shell `export` lines for the credentials and the test bucket.
"""
import json
import sys
import urllib.request

import boto3

endpoint = sys.argv[1]
common = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam = boto3.client("iam", **common)
iam.create_user(UserName="dicom-ingest-test")
policy = iam.create_policy(
    PolicyName="dicom-ingest-s3",
    PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:*", "events:*", "sns:*", "sqs:*"], "Resource": "*"}],
    }),
)
iam.attach_user_policy(UserName="dicom-ingest-test", PolicyArn=policy["Policy"]["Arn"])
key = iam.create_access_key(UserName="dicom-ingest-test")["AccessKey"]

s3 = boto3.client("s3", **common)
s3.create_bucket(Bucket="dicom-ingest-test")

# From now on moto checks every signature.
req = urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                             headers={"Content-Type": "text/plain"})
urllib.request.urlopen(req).read()

print(f"export TEST_S3_ACCESS_KEY_ID={key['AccessKeyId']}")
print(f"export TEST_S3_SECRET_ACCESS_KEY={key['SecretAccessKey']}")
print("export TEST_S3_BUCKET=dicom-ingest-test")
print("export TEST_S3_REGION=us-east-1")
