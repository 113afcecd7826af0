"""The resource providers, one module per CloudFormation type, behind :mod:`.base`'s protocol.

::

    base.py                   Provider, Provisioned, NewResource (the settled interface)
    _common.py                tags, policy documents, "already gone", refusals, pagination
    _waiting.py               polling EKS until it settles
    _iam_owner.py             what roles and users share (inline/attached policies, tags)
    eks_cluster.py            AWS::EKS::Cluster
    eks_access_entry.py       AWS::EKS::AccessEntry
    eks_identity_provider.py  AWS::EKS::IdentityProviderConfig
    iam_role.py               AWS::IAM::Role
    iam_user.py               AWS::IAM::User
    iam_policy.py             AWS::IAM::Policy
    iam_managed_policy.py     AWS::IAM::ManagedPolicy
    iam_access_key.py         AWS::IAM::AccessKey
    iam_oidc_provider.py      AWS::IAM::OIDCProvider

Providers hold no state between calls (only a :class:`Waiter`), so one shared instance each
serves every stack operation.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kubegate.service.stacks.providers.base import NewResource, Properties, Provider, Provisioned
from kubegate.service.stacks.providers.eks_access_entry import AccessEntryProvider, access_entry_id
from kubegate.service.stacks.providers.eks_cluster import ClusterProvider
from kubegate.service.stacks.providers.eks_identity_provider import (
    IdentityProviderConfigProvider,
    identity_provider_config_id,
)
from kubegate.service.stacks.providers.iam_access_key import AccessKeyProvider
from kubegate.service.stacks.providers.iam_managed_policy import ManagedPolicyProvider
from kubegate.service.stacks.providers.iam_oidc_provider import OidcProviderProvider
from kubegate.service.stacks.providers.iam_policy import PolicyProvider
from kubegate.service.stacks.providers.iam_role import RoleProvider
from kubegate.service.stacks.providers.iam_user import UserProvider

__all__ = [
    "PROVIDERS",
    "NewResource",
    "Properties",
    "Provider",
    "Provisioned",
    "access_entry_id",
    "identity_provider_config_id",
]

_ALL: tuple[Provider, ...] = (
    ClusterProvider(),
    AccessEntryProvider(),
    IdentityProviderConfigProvider(),
    RoleProvider(),
    UserProvider(),
    PolicyProvider(),
    ManagedPolicyProvider(),
    AccessKeyProvider(),
    OidcProviderProvider(),
)
PROVIDERS: Mapping[str, Provider] = MappingProxyType({p.type_name: p for p in _ALL})
