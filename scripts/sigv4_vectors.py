#!/usr/bin/env python3
"""Compute AWS Signature Version 4 test vectors for S3 with botocore's own signers
(S3SigV4Auth for header-signed requests, S3SigV4QueryAuth for presigned URLs) and write them to
Tests/StorageTests/Fixtures/sigv4/vectors.json. The Swift tests (SigV4SignerTests) feed the same
inputs to our signer and require identical canonical requests, strings to sign and signatures.

Run:  python3 scripts/sigv4_vectors.py   (needs botocore; the output is committed)
"""
import datetime
import hashlib
import json
import os
import sys
from unittest import mock

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode

TIMESTAMP = "20261129T120000Z"
FIXED_NOW = datetime.datetime(2026, 11, 29, 12, 0, 0)
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEJr//////////wEaDO+token/with+odd=chars"

# (name, method, scheme+host, bucket, key, addressing, query params, headers, body, region, token)
CASES = [
    ("put-simple-path-style", "PUT", "http://127.0.0.1:9000", "dicom-ingest", "DICOM/1.2.3/4.5.6.dcm",
     "path", [], {"Content-Type": "application/dicom", "Content-MD5": "XUFAKrxLKna5cZ2REBfFkg=="}, "hello", "us-east-1", None),
    ("put-key-with-spaces-virtual-host", "PUT", "https://s3.eu-west-1.amazonaws.com", "my-bucket",
     "my folder/file name (1).dcm", "virtual", [], {"Content-Type": "application/dicom"}, "spaces", "eu-west-1", None),
    ("put-unicode-key", "PUT", "https://s3.us-east-1.amazonaws.com", "my-bucket", "études/Ünïcödé/日本語.dcm",
     "virtual", [], {"Content-Type": "application/dicom+json"}, "{\"a\":1}", "us-east-1", None),
    ("put-plus-tilde-equals", "PUT", "http://localhost:4566", "b", "a+b/c~d=e&f;g,h$i@j:k!.dcm", "path", [],
     {"Content-Type": "application/dicom", "x-amz-storage-class": "STANDARD_IA"}, "plus", "us-west-2", None),
    ("put-gzip-sse-kms-whitespace", "PUT", "https://s3.us-east-2.amazonaws.com", "bkt", "DICOM/x.dcm.gz",
     "virtual", [], {"Content-Type": "application/dicom", "Content-Encoding": "gzip",
                     "x-amz-server-side-encryption": "aws:kms",
                     "x-amz-server-side-encryption-aws-kms-key-id": "  arn:aws:kms:us-east-2:1:key/abc   def  ",
                     "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}, "", "us-east-2", None),
    ("list-objects-v2", "GET", "http://127.0.0.1:9000", "dicom-ingest", "", "path",
     [("list-type", "2"), ("prefix", "DICOM/1.2 3/ü+"), ("max-keys", "10"), ("continuation-token", "a/b=c+d")],
     {}, "", "us-east-1", None),
    ("list-multipart-uploads", "GET", "https://s3.us-east-1.amazonaws.com", "my-bucket", "", "virtual",
     [("uploads", ""), ("prefix", "DICOM/")], {}, "", "us-east-1", None),
    ("create-multipart-upload", "POST", "http://127.0.0.1:9000", "dicom-ingest", "DICOM/big file.dcm", "path",
     [("uploads", "")], {"Content-Type": "application/dicom", "x-amz-storage-class": "STANDARD"}, "", "us-east-1", None),
    ("upload-part", "PUT", "http://127.0.0.1:9000", "dicom-ingest", "DICOM/big file.dcm", "path",
     [("partNumber", "12"), ("uploadId", "VXBsb2FkIElE+/=~_-.x")], {"Content-MD5": "kAFQmDzST7DWlj99KOF/cg=="},
     "part-bytes", "us-east-1", None),
    ("complete-multipart-upload", "POST", "https://s3.ap-southeast-2.amazonaws.com", "bkt", "k", "virtual",
     [("uploadId", "abc")], {"Content-Type": "application/xml"},
     "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"e\"</ETag></Part></CompleteMultipartUpload>",
     "ap-southeast-2", None),
    ("abort-multipart-upload", "DELETE", "http://127.0.0.1:9000", "dicom-ingest", "DICOM/big file.dcm", "path",
     [("uploadId", "abc/def")], {}, "", "us-east-1", None),
    ("put-with-session-token", "PUT", "https://s3.us-east-1.amazonaws.com", "my-bucket", "with token.dcm",
     "virtual", [], {"Content-Type": "application/dicom"}, "token body", "us-east-1", SESSION_TOKEN),
    ("delete-object", "DELETE", "http://minio.local:9000", "bkt", "DICOM/α β/γ.dcm", "path", [], {}, "",
     "us-east-1", None),
    ("head-bucket", "HEAD", "http://127.0.0.1:9000", "dicom-ingest", "", "path", [], {}, "", "us-east-1", None),
]

PRESIGN_CASES = [
    ("presign-get-path-style", "http://127.0.0.1:9000", "dicom-ingest", "DICOM/a b+c.dcm", "path", 900,
     "us-east-1", None),
    ("presign-get-virtual-unicode-token", "https://s3.eu-central-1.amazonaws.com", "bkt", "ü/日本.dcm",
     "virtual", 3600, "eu-central-1", SESSION_TOKEN),
]


def url_for(endpoint, bucket, key, addressing):
    scheme, host = endpoint.split("://", 1)
    encoded_key = percent_encode(key, safe="/~")
    if addressing == "virtual":
        return f"{scheme}://{bucket}.{host}/{encoded_key}"
    return f"{scheme}://{host}/{bucket}" + (f"/{encoded_key}" if key else "")


def header_case(c):
    name, method, endpoint, bucket, key, addressing, params, headers, body, region, token = c
    url = url_for(endpoint, bucket, key, addressing)
    creds = Credentials(ACCESS_KEY, SECRET_KEY, token)
    auth = botocore.auth.S3SigV4Auth(creds, "s3", region)
    req = AWSRequest(method=method, url=url, headers=dict(headers), data=body.encode("utf-8"),
                     params=list(params) if params else None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=FIXED_NOW):
        auth.add_auth(req)
    authorization = req.headers["Authorization"]
    # Recompute the intermediate strings exactly as add_auth did (before it added Authorization).
    del req.headers["Authorization"]
    canonical = auth.canonical_request(req)
    sts = auth.string_to_sign(req, canonical)
    sig = auth.signature(sts, req)
    assert authorization.endswith("Signature=" + sig), name
    return {
        "name": name, "method": method, "endpoint": endpoint, "bucket": bucket, "key": key,
        "addressing": addressing, "region": region, "sessionToken": token,
        "query": [[k, v] for k, v in params],
        "headers": [[k, v] for k, v in headers.items()],
        "body": body, "bodySHA256": hashlib.sha256(body.encode("utf-8")).hexdigest(),
        "url": url, "canonicalRequest": canonical, "stringToSign": sts, "signature": sig,
        "authorization": authorization,
    }


def presign_case(c):
    name, endpoint, bucket, key, addressing, expires, region, token = c
    url = url_for(endpoint, bucket, key, addressing)
    creds = Credentials(ACCESS_KEY, SECRET_KEY, token)
    auth = botocore.auth.S3SigV4QueryAuth(creds, "s3", region, expires=expires)
    req = AWSRequest(method="GET", url=url, headers={})
    with mock.patch("botocore.auth.get_current_datetime", return_value=FIXED_NOW):
        auth.add_auth(req)
    # add_auth moved the auth params into the URL: recompute the pieces from the final request,
    # without the signature parameter.
    unsigned = AWSRequest(method="GET", url=req.url.rsplit("&X-Amz-Signature=", 1)[0], headers={})
    unsigned.context["timestamp"] = TIMESTAMP
    canonical = auth.canonical_request(unsigned)
    sts = auth.string_to_sign(unsigned, canonical)
    return {
        "name": name, "endpoint": endpoint, "bucket": bucket, "key": key, "addressing": addressing,
        "region": region, "sessionToken": token, "expiresSeconds": expires,
        "canonicalRequest": canonical, "stringToSign": sts,
        "signature": req.url.rsplit("&X-Amz-Signature=", 1)[1], "url": req.url,
    }


def main():
    out = {
        "generator": f"botocore {botocore.__version__} S3SigV4Auth / S3SigV4QueryAuth",
        "timestamp": TIMESTAMP, "accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY,
        "requests": [header_case(c) for c in CASES],
        "presigned": [presign_case(c) for c in PRESIGN_CASES],
    }
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "Tests", "StorageTests", "Fixtures", "sigv4", "vectors.json")
    if len(sys.argv) > 1:
        path = sys.argv[1]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(out['requests'])} request vectors and {len(out['presigned'])} presigned vectors to {path}")


if __name__ == "__main__":
    main()
