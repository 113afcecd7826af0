"""`kubegate explain` and `kubegate who-can`: signed calls to the running server's JSON endpoints."""

from __future__ import annotations

import json
from typing import Any

import click

from kubegate.cli.server_calls import call


def _get(path: str, params: dict[str, str]) -> dict[str, Any]:
    return call("GET", path, params)


request_options = [
    click.option("--cluster", "cluster", required=True),
    click.option("--verb", required=True),
    click.option("--resource", default=""),
    click.option("--group", default="", help="API group; empty for the core group."),
    click.option("--version", "api_version", default="v1"),
    click.option("--subresource", default=""),
    click.option("--name", default=""),
    click.option("--namespace", default="", help="Empty for cluster-scoped resources or all namespaces."),
    click.option("--path", default="", help="A non-resource URL such as /healthz (instead of --resource)."),
    click.option("--json", "as_json", is_flag=True, help="Print the JSON answer."),
]


def with_request_options(command: Any) -> Any:
    for option in reversed(request_options):
        command = option(command)
    return command


def _query(verb: str, resource: str, group: str, api_version: str, subresource: str, name: str, namespace: str,
           path: str) -> dict[str, str]:
    return {"verb": verb, "resource": resource, "group": group, "version": api_version, "subresource": subresource,
            "name": name, "namespace": namespace, "path": path}


@click.command("explain")
@with_request_options
@click.option("--principal-arn", required=True)
@click.option("--session", default="", help="The role session name (for {{SessionName}} usernames).")
def explain_command(cluster: str, principal_arn: str, session: str, as_json: bool, **request: str) -> None:
    """Why PRINCIPAL can or cannot do something in CLUSTER, step by step.

    Talks to the running kubegate server (AWS_ENDPOINT_URL, signed with your AWS credentials)."""
    answer = _get(f"/kubegate/clusters/{cluster}/explain",
                  {"principalArn": principal_arn, "session": session, **_query(**request)})
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    for step in answer["steps"]:
        click.echo(f"- {step}")
    click.echo("allowed" if answer["allowed"] else "not allowed by kubegate (RBAC may still allow it)")
    if answer.get("note"):
        click.echo(f"# {answer['note']}")


@click.command("who-can")
@with_request_options
def who_can_command(cluster: str, as_json: bool, **request: str) -> None:
    """Every access entry, policy and scope that allows a request in CLUSTER.

    Talks to the running kubegate server (AWS_ENDPOINT_URL, signed with your AWS credentials)."""
    answer = _get(f"/kubegate/clusters/{cluster}/who-can", _query(**request))
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    for holder in answer["holders"]:
        click.echo(f"{holder['principalArn']} ({holder['username']}): {holder['reason']}")
    if not answer["holders"]:
        click.echo("no access policy allows it" + (" (that you may see)" if answer.get("withheld") else ""))
    if answer.get("withheld"):
        click.echo(f"# {answer['withheld']} more access entries withheld: you may not describe them")
    click.echo(f"# {answer['note']}")
