"""The legacy ``kube-system/aws-auth`` ConfigMap, read and matched as aws-iam-authenticator does.

EKS runs aws-iam-authenticator (AIA), so an aws-auth that works on EKS must work here with
the same quirks (``iam-token.md`` §4, ``eks-access.md`` §7.1). ``strict=True`` (the default)
refuses whatever AIA would log as an error, so a bad ConfigMap is caught when it is written;
``strict=False`` keeps what AIA keeps ("Only saving data that was good") and lists what it
dropped in ``AwsAuth.warnings``. Both modes warn about content that can never match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeAlias, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

KEYS = ("mapRoles", "mapUsers", "mapAccounts")
EC2_PRIVATE_DNS_NAME = "{{EC2PrivateDNSName}}"
_INSTANCE_ID = re.compile(r"i-(?:\w{8}|\w{17})", re.ASCII)  # server.go:66-68; Go's \w is ASCII
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_TAG = "tag:yaml.org,2002:"
_NON_STRING = {_TAG + "bool": "a boolean", _TAG + "int": "a number", _TAG + "float": "a number"}


class AwsAuthError(Exception):
    """The aws-auth content is invalid. ``line`` counts within the text that was parsed."""

    def __init__(self, key: str, reason: str, line: int | None = None) -> None:
        self.key, self.reason, self.line = key, reason, line
        self.message = f"aws-auth {key}{'' if line is None else f', line {line}'}: {reason}"
        super().__init__(self.message)


class TemplateError(Exception):
    """A mapping's template cannot be rendered for this caller: AIA denies (403), no fall-through."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CallerIdentity(NamedTuple):
    """What the token verifier established about the caller (``iam-token.md`` §2.2).

    A named tuple: both webhooks build one per review, at half a frozen dataclass's cost."""

    arn: str
    canonical_arn: str
    account: str
    user_id: str
    session_name: str | None = None
    access_key_id: str | None = None


@dataclass(frozen=True)
class KubernetesUser:
    username: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoleMapping:
    """A ``mapRoles`` item. ``canonical_arn`` is only lower-cased: AIA's ConfigMap backend does
    not canonicalise the configured ARN, so a role path here never matches (#268)."""

    rolearn: str
    canonical_arn: str = field(init=False)
    username: str = ""
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "canonical_arn", self.rolearn.lower())
        object.__setattr__(self, "groups", tuple(self.groups))


@dataclass(frozen=True)
class UserMapping:
    """A ``mapUsers`` item; IAM user ARNs keep their path in the caller's canonical ARN."""

    userarn: str
    canonical_arn: str = field(init=False)
    username: str = ""
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "canonical_arn", self.userarn.lower())
        object.__setattr__(self, "groups", tuple(self.groups))


@dataclass(frozen=True)
class AccountMapping:
    """A ``mapAccounts`` hit: the username is the caller's canonical ARN, with no groups and no
    templates (``server.go:476-505``)."""

    account: str


IdentityMapping: TypeAlias = RoleMapping | UserMapping | AccountMapping
_M = TypeVar("_M", RoleMapping, UserMapping)


@dataclass(frozen=True)
class AwsAuth:
    """A parsed aws-auth: items in ConfigMap order, indexed so that a lookup is a dict hit."""

    roles: tuple[RoleMapping, ...] = ()
    users: tuple[UserMapping, ...] = ()
    accounts: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = field(default=(), compare=False)
    _roles_by_arn: dict[str, RoleMapping] = field(init=False, repr=False, compare=False)
    _users_by_arn: dict[str, UserMapping] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A dict keeps the last value of a repeated key: AIA's "last duplicate wins".
        object.__setattr__(self, "_roles_by_arn", {r.canonical_arn: r for r in self.roles})
        object.__setattr__(self, "_users_by_arn", {u.canonical_arn: u for u in self.users})

    def match(self, identity: CallerIdentity) -> IdentityMapping | None:
        """Roles, then users (both with the same key, so a role ARN under ``mapUsers`` matches too,
        as in AIA), then ``mapAccounts``, which AIA checks in the same backend iteration."""
        key = identity.canonical_arn.lower()
        account = AccountMapping(identity.account) if identity.account in self.accounts else None
        return self._roles_by_arn.get(key) or self._users_by_arn.get(key) or account


    @property
    def rows(self) -> tuple[RoleMapping | UserMapping, ...]:
        """Every role and user row, duplicates included, in ConfigMap order."""
        return (*self.roles, *self.users)

    def position(self, mapping: IdentityMapping) -> str:
        """Where a match came from, as ``mapRoles[3]``: what explain and access-diff name. Only
        on a decision's explanation path, so a scan is fine."""
        if isinstance(mapping, AccountMapping):
            return "mapAccounts"
        rows: tuple[RoleMapping | UserMapping, ...] = self.roles if isinstance(mapping, RoleMapping) else self.users
        key = "mapRoles" if isinstance(mapping, RoleMapping) else "mapUsers"
        return next((f"{key}[{i}]" for i, row in enumerate(rows) if row is mapping), key)


def row_arn(row: RoleMapping | UserMapping) -> str:
    return row.rolearn if isinstance(row, RoleMapping) else row.userarn


def ec2_instance_id(identity: CallerIdentity) -> str | None:
    """The instance id in the session name, the only input ``{{EC2PrivateDNSName}}`` accepts."""
    session = identity.session_name or ""
    return session if _INSTANCE_ID.fullmatch(session) else None


def needs_ec2_private_dns_name(mapping: IdentityMapping) -> bool:
    """Whether the caller must resolve the instance's private DNS name before ``render``."""
    return not isinstance(mapping, AccountMapping) and any(
        EC2_PRIVATE_DNS_NAME in template for template in (mapping.username, *mapping.groups))


def render(mapping_username: str, groups: Sequence[str], identity: CallerIdentity, *,
           ec2_private_dns_name: str | None) -> KubernetesUser:
    """Templates apply to the username and every group. An empty username stays empty: AIA
    has no default for aws-auth items."""
    username = render_template(mapping_username, "username", identity, ec2_private_dns_name)
    return KubernetesUser(username, tuple(render_template(g, "group", identity, ec2_private_dns_name) for g in groups))


def kubernetes_user(mapping: IdentityMapping, identity: CallerIdentity, *,
                    ec2_private_dns_name: str | None = None) -> KubernetesUser:
    """The user a match yields; an account hit is not templated."""
    if isinstance(mapping, AccountMapping):
        return KubernetesUser(identity.canonical_arn, ())
    return render(mapping.username, mapping.groups, identity, ec2_private_dns_name=ec2_private_dns_name)


def is_template(text: str) -> bool:
    """Whether rendering could change ``text``: a caller's identity is needed only then."""
    return "{{" in text


def render_template(template: str, what: str, identity: CallerIdentity, dns_name: str | None) -> str:
    """One username or group: plain replacement in AIA's order; unknown ``{{…}}`` text stays literal."""
    if not is_template(template):  # most usernames and groups
        return template
    if EC2_PRIVATE_DNS_NAME in template:
        instance_id = ec2_instance_id(identity)
        if instance_id is None:
            raise TemplateError(f'error rendering {what} template "{template}": '
                                "SessionName did not contain an instance id")
        if dns_name is None:
            raise TemplateError(f'error rendering {what} template "{template}": '
                                f"the private DNS name of instance {instance_id} is not known")
        template = template.replace(EC2_PRIVATE_DNS_NAME, dns_name)
    session = identity.session_name or ""
    for variable, value in (("{{AccountID}}", identity.account), ("{{SessionName}}", session.replace("@", "-")),
                            ("{{SessionNameRaw}}", session), ("{{AccessKeyID}}", identity.access_key_id or "")):
        template = template.replace(variable, value)
    return template


class _Loader(yaml.SafeLoader):
    """YAML 1.1 as Go's yaml.v2 resolves it: there ``y``/``n`` are booleans as well."""


_Loader.add_implicit_resolver(_TAG + "bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))


@dataclass
class _Report:
    """Where problems go: raised at once (strict) or kept as warnings (AIA's lenient load)."""

    key: str
    strict: bool
    warnings: list[str]
    offset: int = 0

    def line(self, node: Node) -> int:
        return int(node.start_mark.line) + 1 + self.offset

    def problem(self, line: int | None, reason: str) -> None:
        error = AwsAuthError(self.key, reason, line)
        if self.strict:
            raise error
        self.warnings.append(error.message)

    def note(self, line: int | None, reason: str) -> None:
        self.warnings.append(AwsAuthError(self.key, reason, line).message)


def _compose(text: str, report: _Report) -> Node | None:
    """The first document as a node tree: nodes keep marks (lines) and scalars keep their
    literal text; nothing is constructed, so aliases cannot explode. yaml.v2 also reads only
    the first document."""
    try:
        loader = _Loader(text)
        try:
            return loader.get_node() if loader.check_node() else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = ": ".join(part for part in (exc.context, exc.problem) if part)
        report.problem(None if mark is None else mark.line + 1 + report.offset, f"invalid YAML: {reason}")
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        line = text.count("\n", 0, getattr(exc, "position", 0)) + 1 + report.offset
        report.problem(line, f"invalid YAML: {str(exc).splitlines()[0]}")
    except RecursionError:
        report.problem(None, "invalid YAML: nested too deeply")
    return None


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "null" if node.tag == _TAG + "null" else _NON_STRING.get(node.tag, "a string")


def _string(node: Node | None, name: str, report: _Report) -> str:
    """Null means absent; another type is Go's UnmarshalTypeError, after which AIA leaves the
    field empty."""
    if node is None or _kind(node) == "null":
        return ""
    if _kind(node) == "a string":
        return str(node.value)
    hint = " (quote values that start with '{{')" if isinstance(node, MappingNode) and node.flow_style else ""
    report.problem(report.line(node), f"{name} must be a string, not {_kind(node)}{hint}")
    return ""


def _groups(node: Node | None, report: _Report) -> tuple[str, ...]:
    if node is None or _kind(node) == "null":
        return ()
    if not isinstance(node, SequenceNode):
        report.problem(report.line(node), f"groups must be a list, not {_kind(node)}")
        return ()
    return tuple(_string(group, "each group", report) for group in node.value)


def _fields(item: Node, names: tuple[str, ...], report: _Report) -> dict[str, Node]:
    """Item keys as Go's encoding/json reads AIA's YAML-turned-JSON: case-insensitive, in
    sorted key order (Go marshals maps sorted), the last spelling winning. Unknown keys are
    ignored."""
    if not isinstance(item, MappingNode):
        if _kind(item) != "null":  # null decodes to an empty item, which Validate() then refuses
            report.problem(report.line(item), f"each {report.key} item must be a mapping, not {_kind(item)}")
        return {}
    found: dict[str, Node] = {}
    pairs = [(k, v) for k, v in item.value if isinstance(k, ScalarNode)]
    for key, value in sorted(pairs, key=lambda pair: str(pair[0].value)):
        if key.tag == _TAG + "merge":
            report.problem(report.line(key), "merge keys (<<) are not supported")
        elif str(key.value).casefold() in names:
            found[str(key.value).casefold()] = value
    return found


def _arn_note(arn: str, name: str) -> str | None:
    """Content AIA accepts without complaint but that can never match a caller."""
    if any(c.isspace() for c in arn):
        return f"{name} {arn!r} contains whitespace, which is kept, so it never matches"
    if "*" in arn or "?" in arn:
        return f"{name} {arn!r} has a wildcard; ARNs match literally, so it never matches"
    resource = arn.split(":", 5)[-1]
    if name == "rolearn" and resource.lower().startswith("role/") and resource.count("/") > 1:
        return (f"rolearn {arn!r} has a path; aws-auth rolearn values cannot include a path "
                "(sessions carry none), so it never matches: write role/<name>")
    return None


def _item(item: Node, report: _Report, arn_name: str) -> tuple[str, str, tuple[str, ...]] | None:
    """One item, then AIA's Validate(): an ARN is required (for roles, exactly one of rolearn
    and sso)."""
    names = ("rolearn", "sso", "username", "groups") if arn_name == "rolearn" else ("userarn", "username", "groups")
    fields = _fields(item, names, report)
    arn = _string(fields.get(arn_name), arn_name, report)
    username = _string(fields.get("username"), "username", report)
    groups = _groups(fields.get("groups"), report)
    sso = fields.get("sso")
    if sso is not None and not isinstance(sso, MappingNode):
        if _kind(sso) != "null":
            report.problem(report.line(sso), f"sso must be a mapping, not {_kind(sso)}")
        sso = None
    if arn and sso is not None:
        report.problem(report.line(item), "only one of rolearn or SSO can be supplied")
    elif sso is not None:
        report.note(report.line(item), "sso items are ignored (AIA's SSORoleMatch gate is off by default)")
    elif not arn:
        report.problem(report.line(item), "one of rolearn or SSO must be supplied" if arn_name == "rolearn"
                       else "value for userarn must be supplied")
    else:
        return arn, username, groups
    return None


def _top_list(text: object, report: _Report) -> list[Node]:
    """The key's items. Empty, ``""``, ``''``, a backtick pair and null all mean none."""
    if not isinstance(text, str) or text.strip() in ("", "``", '""', "''"):
        if text is not None and not isinstance(text, str):
            report.problem(None, f"must be a string, not {type(text).__name__}")
        return []
    root = _compose(text, report)
    if root is None or (isinstance(root, ScalarNode) and (_kind(root) == "null" or root.value == "")):
        return []
    if not isinstance(root, SequenceNode):
        report.problem(report.line(root), f"must be a YAML list, not {_kind(root)}")
        return []
    return list(root.value)


def _items(text: object, report: _Report, cls: type[_M], arn_name: str) -> list[_M]:
    mappings: list[_M] = []
    first_line: dict[str, int] = {}
    for node in _top_list(text, report):
        if (item := _item(node, report, arn_name)) is None:
            continue
        mapping, line = cls(*item), report.line(node)
        if (note := _arn_note(item[0], arn_name)) is not None:
            report.note(line, note)
        if mapping.canonical_arn in first_line:
            report.note(line, f"duplicate {arn_name} {item[0]!r} (also line {first_line[mapping.canonical_arn]}): "
                        "the last one wins")
        first_line.setdefault(mapping.canonical_arn, line)
        mappings.append(mapping)
    return mappings


def _accounts(text: object, report: _Report) -> frozenset[str]:
    """Literal scalar text, as yaml.v2 gives for ``[]string``: an unquoted 0123 stays "0123"."""
    accounts: set[str] = set()
    for node in _top_list(text, report):
        if not isinstance(node, ScalarNode):
            report.problem(report.line(node), f"each mapAccounts item must be an account id, not {_kind(node)}")
        elif _kind(node) != "null" and node.value:
            accounts.add(str(node.value))
            if not _ACCOUNT_ID.fullmatch(str(node.value)):
                report.note(report.line(node), f"{node.value!r} is not a 12-digit account id, so it never matches")
    return frozenset(accounts)


def _parse_data(data: Mapping[str, object], strict: bool, offsets: Mapping[str, int]) -> AwsAuth:
    warnings: list[str] = []
    for key in data:
        if key not in KEYS and key.casefold() in {k.casefold() for k in KEYS}:
            warnings.append(f"aws-auth {key}: ignored: the keys mapRoles, mapUsers and mapAccounts are case-sensitive")
    report = {key: _Report(key, strict, warnings, offsets.get(key, 0)) for key in KEYS}
    roles = _items(data.get("mapRoles"), report["mapRoles"], RoleMapping, "rolearn")
    users = _items(data.get("mapUsers"), report["mapUsers"], UserMapping, "userarn")
    accounts = _accounts(data.get("mapAccounts"), report["mapAccounts"])
    return AwsAuth(tuple(roles), tuple(users), accounts, tuple(warnings))


def parse_config_map(data: Mapping[str, str], *, strict: bool = True) -> AwsAuth:
    """Read a ConfigMap's ``data``; lines in errors count within each value."""
    return _parse_data(data, strict, {})


def parse_config_map_yaml(text: str, *, strict: bool = True) -> AwsAuth:
    """Read a whole aws-auth manifest (as ``kubectl get cm aws-auth -o yaml`` prints it) or a
    bare data mapping. Lines count within the manifest where a value is a ``|`` block (as
    kubectl prints it; each line then maps to one manifest line), else within the value."""
    values, offsets = config_map_values(text)
    return _parse_data(values, strict, offsets)


def config_map_values(text: str) -> tuple[dict[str, str], dict[str, int]]:
    """A manifest's (or bare mapping's) ``data`` as strings, after refusing anything but
    ConfigMap kube-system/aws-auth, with each ``|`` block's line offset for error messages.
    Null values are left out, as Kubernetes drops them."""
    report = _Report("ConfigMap", True, [])
    root = _compose(text, report)
    if not isinstance(root, MappingNode):
        raise AwsAuthError("ConfigMap", "expected a ConfigMap manifest or a data mapping",
                           None if root is None else report.line(root))
    top = _exact_fields(root)
    data = _check_manifest(top) if top.keys() & {"apiVersion", "kind", "metadata", "data"} else root
    values: dict[str, str] = {}
    offsets: dict[str, int] = {}
    for key, node in _exact_fields(data).items():
        if _kind(node) == "null":
            continue
        if not isinstance(node, ScalarNode) or _kind(node) != "a string":
            raise AwsAuthError(key, f"must be a string, not {_kind(node)}: write '{key}: |' and indent the YAML "
                               "under it (Kubernetes refuses a ConfigMap whose data values are not strings)",
                               report.line(node))
        values[key] = str(node.value)
        if node.style == "|":
            offsets[key] = node.start_mark.line + 1
    return values, offsets


def item_count(key: str, text: object) -> int:
    """How many items a key's YAML list holds, whatever they are (``sso`` items included), so
    that an edit rebuilding the list from parsed mappings can tell it would lose some. Strict."""
    return len(_top_list(text, _Report(key, True, [])))


def account_list(text: object) -> list[str]:
    """``mapAccounts`` in ConfigMap order, repeats kept (``AwsAuth.accounts`` is a set), as the
    literal text the authenticator compares. Strict."""
    report = _Report("mapAccounts", True, [])
    return [str(node.value) for node in _top_list(text, report)
            if isinstance(node, ScalarNode) and _kind(node) != "null" and node.value]


def _exact_fields(node: MappingNode) -> dict[str, Node]:
    """Kubernetes object fields are case-sensitive, unlike aws-auth item keys."""
    return {str(k.value): v for k, v in node.value if isinstance(k, ScalarNode)}


def _check_manifest(top: dict[str, Node]) -> MappingNode:
    """The manifest's ``data``, after refusing anything but ConfigMap kube-system/aws-auth."""
    meta = _exact_fields(metadata) if isinstance(metadata := top.get("metadata"), MappingNode) else {}
    for where, node, wanted in (("kind", top.get("kind"), ("ConfigMap",)),
                                ("apiVersion", top.get("apiVersion"), ("v1", None)),
                                ("metadata.name", meta.get("name"), ("aws-auth",)),
                                ("metadata.namespace", meta.get("namespace"), ("kube-system", None))):
        actual = node.value if isinstance(node, ScalarNode) and _kind(node) != "null" else None
        if actual not in wanted:
            raise AwsAuthError(where, f"expected {wanted[0]!r}, got {actual!r}: only ConfigMap kube-system/aws-auth "
                               "configures IAM authentication")
    data = top.get("data")
    if data is not None and not isinstance(data, MappingNode) and _kind(data) != "null":
        raise AwsAuthError("data", f"must be a mapping, not {_kind(data)}", data.start_mark.line + 1)
    return data if isinstance(data, MappingNode) else MappingNode(_TAG + "map", [])
