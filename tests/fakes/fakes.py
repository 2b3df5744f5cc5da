#!/usr/bin/env python3
"""Starts the protocol fakes the cloud tests use, on loopback:

  - cloud_fake (Bedrock Converse, Polly, OpenAI), always;
  - moto in server mode for S3 (when moto is importable: run this with the
    test venv's python), with SigV4 checking on: an IAM user holds the test
    key (the same one cloud_fake knows), and every request after set-up is
    authenticated. Buckets: "loli" (ACLs allowed) and "loli-noacl" (Object
    Ownership = BucketOwnerEnforced, which refuses ACLs with
    AccessControlListNotSupported as S3 does; moto lacks that rule, so it is
    patched in here).

    fakes.py --ports FILE    writes {"cloud": PORT, "s3": PORT|null} to FILE
"""
import argparse
import json
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cloud_fake  # noqa: E402

AKID = "AKIDVIDGENTEST"
SECRET = cloud_fake.KEYS[AKID]
REGION = "eu-west-3"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def patch_moto_acl_rule():
    from moto.s3 import responses
    from moto.s3.exceptions import S3ClientError

    class AclNotSupported(S3ClientError):
        code = 400

        def __init__(self):
            super().__init__("AccessControlListNotSupported", "The bucket does not allow ACLs")

    def guard(orig):
        def wrapped(self, *a, **kw):
            acl = self.headers.get("x-amz-acl")
            bucket = self.backend.get_bucket(self.bucket_name)
            if acl and acl != "bucket-owner-full-control" and \
                    bucket.ownership_rule in ("BucketOwnerEnforced",
                                              {"Rules": [{"ObjectOwnership":
                                                          "BucketOwnerEnforced"}]}):
                raise AclNotSupported()
            return orig(self, *a, **kw)
        return wrapped

    responses.S3Response.put_object = guard(responses.S3Response.put_object)
    if hasattr(responses.S3Response, "create_multipart_upload"):
        responses.S3Response.create_multipart_upload = guard(
            responses.S3Response.create_multipart_upload)


def start_moto():
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        return None
    patch_moto_acl_rule()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = "http://127.0.0.1:%d" % port
    kw = dict(endpoint_url=url, region_name=REGION, aws_access_key_id="setup",
              aws_secret_access_key="setup")
    iam = boto3.client("iam", **kw)
    iam.create_user(UserName="vidgen")
    iam.put_user_policy(UserName="vidgen", PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="vidgen")["AccessKey"]
    # Give the key the known test values, so every fake shares one secret.
    from moto.iam.models import iam_backends
    for backend in iam_backends.values():
        for part in backend.values():
            for user in part.users.values():
                for k in user.access_keys:
                    if k.access_key_id == key["AccessKeyId"]:
                        k.access_key_id = AKID
                        k.secret_access_key = SECRET
    s3 = boto3.client("s3", **kw)
    for name in ("loli", "loli-noacl"):
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={
            "LocationConstraint": REGION})
    s3.put_bucket_ownership_controls(Bucket="loli-noacl", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    # From here on, every request must carry a valid signature (moto's own
    # switch, flipped in-process).
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    return port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", required=True)
    args = ap.parse_args()
    srv = cloud_fake.ThreadingHTTPServer(("127.0.0.1", 0), cloud_fake.Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    s3_port = start_moto()
    with open(args.ports + ".tmp", "w") as f:
        json.dump({"cloud": srv.server_address[1], "s3": s3_port}, f)
    os.rename(args.ports + ".tmp", args.ports)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
