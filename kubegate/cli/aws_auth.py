"""`iamidentitymapping`, `awsauth history`, `access-diff` and `migrate-to-access-entry`.

All of them talk to the running server, signed with the caller's AWS credentials, so the
caller's IAM policies decide what they may read and change (README "Migrating from aws-auth").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from kubegate.cli.server_calls import call

LOSSES_EXIT = 3  # access-diff: someone loses something
BLOCKED_EXIT = 2  # migrate-to-access-entry: rows block the switch to API


def _cluster_path(cluster: str, tail: str) -> str:
    return f"/kubegate/clusters/{cluster}/{tail}"


def _where(answer: dict[str, Any]) -> str:
    version = answer["awsAuthVersion"]
    if answer.get("live"):
        return f"kube-system/aws-auth in the cluster ({version})"
    return f"aws-auth version {version}"


# --- iamidentitymapping ------------------------------------------------------------------------


@click.group("iamidentitymapping")
def iamidentitymapping() -> None:
    """aws-auth rows, as `eksctl create/get/delete iamidentitymapping` edits them.

    Edits go to the cluster's live kube-system/aws-auth when its API server and token are
    recorded (`kubegate cluster set-endpoint`), else to kubegate's stored aws-auth versions.
    """


@iamidentitymapping.command("create")
@click.option("--cluster", required=True)
@click.option("--arn", default=None, help="IAM role or user ARN (a role ARN without its path).")
@click.option("--username", default=None, help="Kubernetes username; templates such as {{SessionName}} are kept.")
@click.option("--group", "groups", multiple=True, help="Kubernetes group (repeatable).")
@click.option("--account", default=None, help="An AWS account whose every principal may authenticate (mapAccounts).")
@click.option("--no-duplicate-arns", is_flag=True, help="Refuse to add a row for an ARN that already has one.")
def create(cluster: str, arn: str | None, username: str | None, groups: tuple[str, ...], account: str | None,
           no_duplicate_arns: bool) -> None:
    """Add an aws-auth row. Talks to the running kubegate server (AWS_ENDPOINT_URL, signed with your AWS
    credentials); needs kubegate:CreateIdentityMapping on the cluster."""
    answer = call("POST", _cluster_path(cluster, "identity-mappings"),
                  body={"arn": arn, "username": username, "groups": list(groups), "account": account,
                        "noDuplicateArns": no_duplicate_arns})
    _print_changes(cluster, answer)


@iamidentitymapping.command("get")
@click.option("--cluster", required=True)
@click.option("--arn", default=None, help="Only the rows for this ARN.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table", show_default=True)
def get(cluster: str, arn: str | None, output: str) -> None:
    """List aws-auth rows: ARN, USERNAME, GROUPS, ACCOUNT. Talks to the running kubegate server (AWS_ENDPOINT_URL,
    signed with your AWS credentials); needs kubegate:DescribeIdentityMappings on the cluster."""
    answer = call("GET", _cluster_path(cluster, "identity-mappings"))
    rows = [{k: r[k] for k in ("arn", "username", "groups", "account")} for r in answer["mappings"]]
    if arn:
        rows = [r for r in rows if r["arn"].lower() == arn.lower()]
        if not rows:
            raise click.ClickException(f'no iamidentitymapping with arn "{arn}" found')
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
    elif output == "yaml":
        click.echo(yaml.safe_dump(rows, sort_keys=False), nl=False)
    else:
        table = [("ARN", "USERNAME", "GROUPS", "ACCOUNT")]
        table += [(r["arn"], r["username"], ",".join(r["groups"]), r["account"]) for r in rows]
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        for row in table:
            click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    click.echo(f"# {_where(answer)}", err=True)


@iamidentitymapping.command("delete")
@click.option("--cluster", required=True)
@click.option("--arn", default=None)
@click.option("--account", default=None)
@click.option("--all", "every", is_flag=True, help="Delete every row for the ARN, not only the first.")
def delete(cluster: str, arn: str | None, account: str | None, every: bool) -> None:
    """Delete the first aws-auth row for an ARN (or all, with --all), or an account. Talks to the running kubegate
    server (AWS_ENDPOINT_URL, signed with your AWS credentials); needs kubegate:DeleteIdentityMapping."""
    answer = call("DELETE", _cluster_path(cluster, "identity-mappings"),
                  {"arn": arn or "", "account": account or "", "all": "true" if every else ""})
    _print_changes(cluster, answer)
    if answer.get("remainingMatches"):
        click.echo(f"warning: there are {answer['remainingMatches']} mappings left with same "
                   f"{'arn' if arn else 'account'} {arn or account!r} (use --all to delete them at once)", err=True)


def _print_changes(cluster: str, answer: dict[str, Any]) -> None:
    for line in answer["changes"] or ["nothing changed"]:
        click.echo(f"cluster {cluster}: {line}")
    click.echo(f"cluster {cluster}: now {_where(answer)}")


# --- awsauth history -----------------------------------------------------------------------------


@click.command("history")
@click.option("--cluster", required=True)
@click.option("--json", "as_json", is_flag=True)
def history(cluster: str, as_json: bool) -> None:
    """Every stored aws-auth version of CLUSTER, newest first, with who changed what. Talks to the running kubegate
    server (AWS_ENDPOINT_URL, signed with your AWS credentials); needs kubegate:DescribeIdentityMappings."""
    answer = call("GET", _cluster_path(cluster, "aws-auth/history"))
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    for version in answer["versions"]:
        author = version["author"] or ("the cluster" if version["source"].startswith("cluster:") else "the data dir")
        click.echo(f"v{version['version']}  {version['createdAt']}  by {author}  ({version['source']})")
        for line in version["changes"]:
            click.echo(f"    {line}")


# --- access-diff ---------------------------------------------------------------------------------


@click.command("access-diff")
@click.option("--cluster", required=True)
@click.option("--authentication-mode", default=None, help="Switch to this mode (UpdateClusterConfig).")
@click.option("--migration", "migration", default=None, metavar="MODE",
              help="Carry out migrate-to-access-entry with this target mode.")
@click.option("--aws-auth", "aws_auth", default=None, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Store this aws-auth ConfigMap as the next version.")
@click.option("--delete-entry", "delete_entries", multiple=True, metavar="ARN", help="Delete this access entry.")
@click.option("--disassociate", "disassociate", multiple=True, nargs=2, metavar="ARN POLICY",
              help="Disassociate POLICY (ARN or name) from ARN's entry.")
@click.option("--json", "as_json", is_flag=True)
def access_diff(cluster: str, authentication_mode: str | None, migration: str | None, aws_auth: Path | None,
                delete_entries: tuple[str, ...], disassociate: tuple[tuple[str, str], ...], as_json: bool) -> None:
    """Who gains or loses what in CLUSTER if a change is made, before making it.

    Exit code 0 when nobody loses anything, 3 when someone does. Talks to the running kubegate server
    (AWS_ENDPOINT_URL, signed with your AWS credentials); needs eks:ListAccessEntries, and
    eks:DescribeAccessEntry and eks:ListAssociatedAccessPolicies on every entry, and
    kubegate:DescribeIdentityMappings.
    """
    body: dict[str, Any] = {
        "authenticationMode": authentication_mode, "migration": migration,
        "awsAuth": aws_auth.read_text() if aws_auth else None, "deleteEntries": list(delete_entries),
        "disassociate": [[arn, _policy_arn(policy)] for arn, policy in disassociate],
    }
    answer = call("POST", _cluster_path(cluster, "access-diff"), body=body)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    else:
        print_diff(answer)
    sys.exit(LOSSES_EXIT if answer["anyoneLoses"] else 0)


def _policy_arn(policy: str) -> str:
    return policy if policy.startswith("arn:") else f"arn:aws:eks::aws:cluster-access-policy/{policy}"


def print_diff(answer: dict[str, Any]) -> None:
    for change in answer["changes"]:
        tags = [t for t, on in (("node", change["node"]), ("cluster creator", change["creator"]),
                                ("you", change["you"])) if on]
        click.echo(f"{change['principal']}" + (f"  [{', '.join(tags)}]" if tags else ""))
        for word, items in (("LOSES", change["loses"]), ("GAINS", change["gains"]), ("CHANGES", change["changes"])):
            for item in items:
                click.echo(f"  {word:<8}{item}")
        if change["losesAllAccess"] and change["node"]:
            click.echo("  !! these nodes lose all access: kubelets can no longer register or report")
        if change["losesAllAccess"] and change["you"]:
            click.echo("  !! you lose all access to this cluster")
    if not answer["changes"]:
        click.echo("nobody gains or loses anything")
    click.echo(f"# {answer['unchanged']} other principal(s) unchanged")


# --- migrate-to-access-entry ---------------------------------------------------------------------


@click.command("migrate-to-access-entry")
@click.option("--cluster", required=True)
@click.option("--target-authentication-mode", required=True, help="API or API_AND_CONFIG_MAP.")
@click.option("--approve", is_flag=True, help="Carry the plan out (without it, only print the plan).")
@click.option("--aws-auth-version", default=None,
              help="Carry it out only if aws-auth is still the version the plan was made from (as the plan prints).")
@click.option("--json", "as_json", is_flag=True)
def migrate(cluster: str, target_authentication_mode: str, approve: bool, aws_auth_version: str | None,
            as_json: bool) -> None:
    """Move CLUSTER's aws-auth rows to access entries, as `eksctl utils migrate-to-access-entry` does.

    Without --approve, prints the plan: each row and what it becomes or why it stays, the mode
    steps, and who gains or loses what. Exit code 2 when rows block the switch to API (what
    can move moves; the cluster stays in API_AND_CONFIG_MAP), 1 on an error. Talks to the
    running kubegate server (AWS_ENDPOINT_URL, signed with your AWS credentials).
    """
    body = {"targetAuthenticationMode": target_authentication_mode, "approve": approve,
            "awsAuthVersion": aws_auth_version}
    answer = call("POST", _cluster_path(cluster, "migration"), body=body)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    else:
        _print_plan(cluster, answer, approve)
    plan = answer["plan"]
    outcome = answer.get("outcome")
    if plan["errors"] or (outcome and outcome["failed"]):
        sys.exit(1)
    if plan["blockers"] and plan["targetAuthenticationMode"] == "API" and not plan["noNeed"]:
        sys.exit(BLOCKED_EXIT)


def _print_plan(cluster: str, answer: dict[str, Any], approve: bool) -> None:
    plan = answer["plan"]
    if plan["noNeed"]:
        click.echo(f"cluster {cluster}: authentication mode is already API; there is no need to migrate")
        return
    click.echo(f"cluster {cluster}: {plan['currentAuthenticationMode']} -> {plan['targetAuthenticationMode']}, "
               f"from aws-auth version {plan['awsAuthVersion']}")
    for row in plan["rows"]:
        if row["action"] == "create":
            entry = row["entry"]
            what = f"{entry['type']} entry {entry['principalArn']}"
            if entry["username"]:
                what += f" username {entry['username']!r}"
            if entry["kubernetesGroups"]:
                what += f" groups {entry['kubernetesGroups']}"
            for policy in entry["clusterPolicies"]:
                what += f" + {policy.rsplit('/', 1)[-1]} (cluster)"
            click.echo(f"  {row['row']}: -> {what}")
        else:
            flag = "ERROR" if row["action"] == "error" else ("skip, BLOCKS API" if row["blocksApi"] else "skip")
            click.echo(f"  {row['row']}: {flag}: {row['reason']}")
        for note in row["notes"]:
            click.echo(f"      note: {note}")
    creates = any(row["action"] == "create" for row in plan["rows"])
    steps = [f"authentication mode {m}" for m in plan["modeSteps"]]
    if creates:
        steps.insert(1 if plan["currentAuthenticationMode"] == "CONFIG_MAP" else 0, "create the entries above")
    if plan["deletesAwsAuth"]:
        steps.append("delete aws-auth")
    click.echo(f"steps: {', '.join(steps) or 'none (nothing left to migrate)'}")
    if plan["errors"]:
        click.echo("cannot migrate until these are fixed:")
        for error in plan["errors"]:
            click.echo(f"  - {error}")
        return
    if plan["blockers"] and plan["targetAuthenticationMode"] == "API":
        click.echo(f"will not update authentication mode to API: {len(plan['blockers'])} row(s) block it: "
                   f"{', '.join(plan['blockers'])}")
    if "accessDiff" in answer:
        click.echo("who gains or loses what:")
        print_diff(answer["accessDiff"])
    if answer.get("accessDiffError"):
        click.echo(f"the plan cannot be carried out now: {answer['accessDiffError']}")
    outcome = answer.get("outcome")
    if outcome is None:
        if not approve:
            click.echo(f"to carry out exactly this plan: kubegate migrate-to-access-entry --cluster {cluster} "
                       f"--target-authentication-mode {plan['targetAuthenticationMode']} --approve "
                       f"--aws-auth-version {plan['awsAuthVersion']}")
        return
    for step in outcome["done"]:
        click.echo(f"done: {step}")
    if outcome["failed"]:
        click.echo(f"stopped: {outcome['failed']}", err=True)
        click.echo("what was done is listed above and consistent; run the command again to continue", err=True)
    else:
        click.echo(f"cluster {cluster}: migration finished in {plan['finalAuthenticationMode']}")
