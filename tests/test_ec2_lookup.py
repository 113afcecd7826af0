"""`kubegate up --ec2-lookup`: node names from EC2 DescribeInstances for instances kubegate has not seen.

EC2 cannot be reached here, so a stand-in answers DescribeInstances in EC2's wire format
(botocore parses it as it parses AWS's answer).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from conftest import Server, ensure_role, trust_policy
from test_token_webhook import Apiserver, assume, token_for, user_key

INSTANCES = {"i-0abcdef1234567890": "ip-10-1-2-3.ec2.internal"}


def describe_instances_xml(instance_id: str, dns: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
  <reservationSet><item><reservationId>r-1</reservationId><ownerId>111122223333</ownerId>
    <instancesSet><item><instanceId>{instance_id}</instanceId><privateDnsName>{dns}</privateDnsName></item></instancesSet>
  </item></reservationSet>
</DescribeInstancesResponse>""".encode()


def not_found_xml(instance_id: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code>
<Message>The instance ID '{instance_id}' does not exist</Message></Error></Errors>
<RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>""".encode()


class StandInEc2:
    def __init__(self) -> None:
        self.calls: list[str] = []
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                instance = form.get("InstanceId.1", [""])[0]
                calls.append(instance)
                known = instance in INSTANCES and form.get("Action") == ["DescribeInstances"]
                body = describe_instances_xml(instance, INSTANCES[instance]) if known else not_found_xml(instance)
                self.send_response(200 if known else 400)
                self.send_header("Content-Type", "text/xml;charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def test_unregistered_nodes_are_resolved_through_ec2(tmp_path: Path) -> None:
    ec2 = StandInEc2()
    server = Server(tmp_path / "data", extra_args=("--ec2-lookup",), extra_env={
        "AWS_ENDPOINT_URL_EC2": ec2.url, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x" * 40,
    })
    server.start()
    try:
        eks = server.client("eks")
        eks.create_cluster(name="ec2", roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                           accessConfig={"authenticationMode": "API"})
        access_key, secret, user_arn = user_key(server, "ec2-launcher")
        role = server.client("iam").create_role(RoleName="ec2-nodes", AssumeRolePolicyDocument=trust_policy(user_arn))["Role"]
        eks.create_access_entry(clusterName="ec2", principalArn=role["Arn"], type="EC2_LINUX")
        apiserver = Apiserver(server, "ec2", tmp_path / "webhook")
        node = assume(server, (access_key, secret), role["Arn"], "i-0abcdef1234567890")
        status = apiserver.status(token_for(server, node, "ec2"))
        assert status["user"]["username"] == "system:node:ip-10-1-2-3.ec2.internal"
        apiserver.status(token_for(server, node, "ec2"))
        assert ec2.calls == ["i-0abcdef1234567890"]  # remembered in kubegate's registry after one call
        unknown = assume(server, (access_key, secret), role["Arn"], "i-0fffffffffffffff0")
        refused = apiserver.status(token_for(server, unknown, "ec2"))
        assert refused["authenticated"] is False and "i-0fffffffffffffff0 is not registered" in refused["error"]
    finally:
        server.stop()
        ec2.httpd.shutdown()
