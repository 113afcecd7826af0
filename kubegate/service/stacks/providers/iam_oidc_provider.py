"""AWS::IAM::OIDCProvider: an IAM OpenID Connect identity provider.

Client IDs and thumbprints are sets to IAM, so they are diffed as sets; IAM shows the URL
without its scheme, which ``read`` puts back so that it compares with the template's ``Url``.
"""

from __future__ import annotations

from typing import Any

from kubegate.service.stacks.calls import AwsCalls
from kubegate.service.stacks.providers._common import (
    create_tags,
    declared_tags,
    ignoring_gone,
    strings,
    tag_changes,
    tag_list,
    tag_map,
)
from kubegate.service.stacks.providers.base import NewResource, Properties, Provisioned

TYPE_NAME = "AWS::IAM::OIDCProvider"
_ARN = "OpenIDConnectProviderArn"


class OidcProviderProvider:
    type_name = TYPE_NAME

    def create(self, call: AwsCalls, new: NewResource, properties: Properties) -> Provisioned:
        params: dict[str, Any] = {
            "Url": properties["Url"],
            "ClientIDList": list(properties.get("ClientIdList") or ()),
        }
        if properties.get("ThumbprintList") is not None:
            params["ThumbprintList"] = list(properties["ThumbprintList"])
        tags = create_tags(new.tags, properties)
        if tags:
            params["Tags"] = tag_list(tags)
        arn = call("iam", "CreateOpenIDConnectProvider", params)[_ARN]
        return _provisioned(arn)

    def update(self, call: AwsCalls, current: Provisioned, old: Properties, new: Properties) -> Provisioned:
        key = {_ARN: current.physical_id}
        before, after = set(strings(old.get("ClientIdList"))), set(strings(new.get("ClientIdList")))
        for client_id in sorted(after - before):  # added first: IAM may refuse to remove the last one
            call("iam", "AddClientIDToOpenIDConnectProvider", {**key, "ClientID": client_id})
        for client_id in sorted(before - after):
            call("iam", "RemoveClientIDFromOpenIDConnectProvider", {**key, "ClientID": client_id})
        if strings(old.get("ThumbprintList")) != strings(new.get("ThumbprintList")):
            call("iam", "UpdateOpenIDConnectProviderThumbprint",
                 {**key, "ThumbprintList": list(new.get("ThumbprintList") or ())})
        to_set, to_remove = tag_changes(old, new)
        if to_remove:
            call("iam", "UntagOpenIDConnectProvider", {**key, "TagKeys": to_remove})
        if to_set:
            call("iam", "TagOpenIDConnectProvider", {**key, "Tags": tag_list(to_set)})
        return _provisioned(current.physical_id)

    def delete(self, call: AwsCalls, current: Provisioned, properties: Properties) -> None:
        ignoring_gone(lambda: call("iam", "DeleteOpenIDConnectProvider", {_ARN: current.physical_id}))

    def read(self, call: AwsCalls, current: Provisioned, properties: Properties) -> Properties | None:
        """Url (with https://), ClientIdList and ThumbprintList (sorted) and the declared Tags."""
        got = ignoring_gone(lambda: call("iam", "GetOpenIDConnectProvider", {_ARN: current.physical_id}))
        if got is None:
            return None
        url = str(got["Url"])
        out: dict[str, Any] = {
            "Url": url if url.startswith("https://") else f"https://{url}",
            "ClientIdList": strings(got.get("ClientIDList")),
            "ThumbprintList": strings(got.get("ThumbprintList")),
        }
        if properties.get("Tags"):
            out["Tags"] = declared_tags(tag_map(got.get("Tags")), properties)
        return out


def _provisioned(arn: str) -> Provisioned:
    return Provisioned(physical_id=arn, ref=arn, attributes={"Arn": arn})
