"""kubegate's CloudFormation API through the AWS SDK for JavaScript v3 (@aws-sdk/client-cloudformation).

tests/js_sdk/cloudformation_scenario.mjs drives a stack's whole life with the SDK's own commands
and waiters (validate, create, describe, change set, execute, events, a missing stack's error,
delete) and prints one JSON line per step; this test checks those lines and, while the stack
exists, what boto3's EKS client reports for the same resources. The SDK is installed from
tests/js_sdk/package-lock.json by `make test`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import Server

JS_SDK = Path(__file__).resolve().parent / "js_sdk"
SCENARIO = JS_SDK / "cloudformation_scenario.mjs"
VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
TIMEOUT = 300  # seconds for the whole scenario; each of its waiters gives up after 60


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not on PATH (`make test` installs it)")
    if not (JS_SDK / "node_modules" / "@aws-sdk" / "client-cloudformation").is_dir():
        pytest.fail("tests/js_sdk/node_modules is missing: run `make test` (npm ci --prefix tests/js_sdk)",
                    pytrace=False)
    return found


def scenario_env(server: Server) -> dict[str, str]:
    access_key, secret = server.credentials()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(KUBEGATE_ENDPOINT=server.endpoint, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID=access_key,
               AWS_SECRET_ACCESS_KEY=secret, NODE_EXTRA_CA_CERTS=server.ca)
    return env


def test_cloudformation_through_the_javascript_sdk(server: Server, tmp_path: Path) -> None:
    executable = node()
    stack = "js-sdk-stack"
    cluster = f"{stack}-cluster"
    eks, iam = server.client("eks"), server.client("iam")

    stderr_path = tmp_path / "node-stderr.txt"
    with open(stderr_path, "w") as stderr_file:
        process = subprocess.Popen(
            [executable, str(SCENARIO), stack], cwd=JS_SDK, env=scenario_env(server),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr_file, text=True,
        )
    killer = threading.Timer(TIMEOUT, process.kill)
    killer.start()
    steps: dict[str, dict[str, Any]] = {}
    live: dict[str, Any] = {}
    try:
        assert process.stdout is not None and process.stdin is not None
        for line in process.stdout:
            step = json.loads(line)
            steps[step.pop("step")] = step
            if "checkpoint" in steps and not live:
                # The stack exists and has been updated: what does boto3 see of its resources?
                live["cluster_arn"] = eks.describe_cluster(name=cluster)["cluster"]["arn"]
                role_arn = iam.get_role(RoleName=f"{stack}-dev")["Role"]["Arn"]
                live["role_arn"] = role_arn
                live["policies"] = eks.list_associated_access_policies(
                    clusterName=cluster, principalArn=role_arn)["associatedAccessPolicies"]
                process.stdin.write("continue\n")
                process.stdin.close()
        code = process.wait()
    finally:
        killer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = stderr_path.read_text()

    assert "failed" not in steps, f"the SDK scenario failed: {json.dumps(steps['failed'], indent=2)}\n{stderr}"
    assert code == 0, f"node exited {code}; steps {sorted(steps)}\n{stderr}"

    validate = steps["validate"]
    assert validate["parameters"] == [{"ParameterKey": "Team", "DefaultValue": "platform", "NoEcho": False,
                                       "Description": "the owning team"}]
    assert validate["description"] == "validate only"
    assert validate["capabilities"] == ["CAPABILITY_IAM"]

    assert steps["create"]["stackId"].startswith(f"arn:aws:cloudformation:us-east-1:{server.account()}:stack/{stack}/")
    assert steps["create_wait"] == {"state": "SUCCESS"}

    described = steps["describe"]
    assert described["count"] == 1
    assert described["stackId"] == steps["create"]["stackId"]
    assert described["status"] == "CREATE_COMPLETE"
    assert described["creationTimeIsDate"] is True
    assert described["parameters"] == [{"ParameterKey": "Namespace", "ParameterValue": "team-blue"}]
    assert described["capabilities"] == ["CAPABILITY_NAMED_IAM"]
    assert described["tags"] == [{"Key": "owner", "Value": "js-sdk-test"}]
    assert described["outputs"] == [{"OutputKey": "ClusterArn", "OutputValue": live["cluster_arn"]}]
    assert live["cluster_arn"] == f"arn:aws:eks:us-east-1:{server.account()}:cluster/{cluster}"

    assert steps["create_change_set"]["id"].startswith(
        f"arn:aws:cloudformation:us-east-1:{server.account()}:changeSet/{stack}-namespace/")
    assert steps["change_set_wait"] == {"state": "SUCCESS"}
    change_set = steps["describe_change_set"]
    assert change_set["status"] == "CREATE_COMPLETE"
    assert change_set["executionStatus"] == "AVAILABLE"
    assert change_set["creationTimeIsDate"] is True
    assert change_set["parameters"] == [{"ParameterKey": "Namespace", "ParameterValue": "team-green"}]
    assert change_set["changes"] == [{"type": "Resource", "action": "Modify", "logicalResourceId": "DevAccess",
                                      "resourceType": "AWS::EKS::AccessEntry", "replacement": "False"}]
    assert steps["update_wait"] == {"state": "SUCCESS"}

    assert [(p["policyArn"], p["accessScope"]) for p in live["policies"]] == [
        (VIEW, {"type": "namespace", "namespaces": ["team-green"]})]

    events = steps["events"]
    assert events["timestampsAreDates"] is True
    assert events["newestFirst"] is True
    assert events["first"][0] == {"logicalResourceId": stack, "status": "UPDATE_COMPLETE"}
    assert {"logicalResourceId": "DevAccess", "status": "UPDATE_COMPLETE"} in events["first"]

    assert steps["missing"] == {"name": "ValidationError", "message": f"Stack with id {stack}-missing does not exist",
                                "fault": "client", "httpStatusCode": 400}

    assert "delete" in steps
    assert steps["delete_wait"] == {"state": "SUCCESS"}
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.describe_cluster(name=cluster)
