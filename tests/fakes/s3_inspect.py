#!/usr/bin/env python3
"""Prints what the S3 fake holds for one video, as JSON, for the e2e tests:

    s3_inspect.py ENDPOINT BUCKET VIDEO_ID

{"content_type", "size", "metadata", "metadata_bytes", "public_read",
 "sidecar": {...} or null, "companions": {".vtt": {"content_type", "size",
 "public_read"} or null, ".srt", ".jpg", ".thumb.jpg"}}. Signs with the
test key, like vidgen does.
"""
import json
import sys

import boto3
import botocore

sys.path.insert(0, __import__("os").path.dirname(__file__))
import cloud_fake  # noqa: E402


def public_read(s3, bucket, key):
    acl = s3.get_object_acl(Bucket=bucket, Key=key)
    return any(g["Grantee"].get("URI", "").endswith("/AllUsers") and
               g["Permission"] in ("READ", "FULL_CONTROL") for g in acl["Grants"])


def main(endpoint, bucket, vid):
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-3",
                      aws_access_key_id="AKIDVIDGENTEST",
                      aws_secret_access_key=cloud_fake.KEYS["AKIDVIDGENTEST"])
    out = {}
    try:
        head = s3.head_object(Bucket=bucket, Key=vid + ".mp4")
    except botocore.exceptions.ClientError as e:
        print(json.dumps({"error": e.response["Error"]["Code"]}))
        return 0
    meta = head.get("Metadata", {})
    out["content_type"] = head.get("ContentType")
    out["size"] = head.get("ContentLength")
    out["metadata"] = meta
    out["metadata_bytes"] = sum(len(k.encode()) + len(v.encode()) for k, v in meta.items())
    out["metadata_ascii"] = all(v.isascii() for v in meta.values())
    out["public_read"] = public_read(s3, bucket, vid + ".mp4")
    out["companions"] = {}
    for suffix in (".vtt", ".srt", ".jpg", ".thumb.jpg"):
        try:
            h = s3.head_object(Bucket=bucket, Key=vid + suffix)
            out["companions"][suffix] = {
                "content_type": h.get("ContentType"), "size": h.get("ContentLength"),
                "public_read": public_read(s3, bucket, vid + suffix)}
        except botocore.exceptions.ClientError:
            out["companions"][suffix] = None
    try:
        body = s3.get_object(Bucket=bucket, Key=vid + ".json")["Body"].read()
        out["sidecar"] = json.loads(body)
    except botocore.exceptions.ClientError:
        out["sidecar"] = None
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
