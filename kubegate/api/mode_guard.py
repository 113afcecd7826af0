"""A warning before UpdateClusterConfig moves a cluster to API while someone would lose access.

EKS allows the switch, and so does kubegate: a platform team may mean it. But it is the
step that locks nodes and CI out of clusters, so kubegate rehearses it first and, when
anyone would lose access, says who in the server log and the audit log before it proceeds.
"""

from __future__ import annotations

import logging

from kubegate.api.audit import AuditLog
from kubegate.domain.caller import Caller
from kubegate.domain.errors import DomainError
from kubegate.service.access_changes import AccessChanges

log = logging.getLogger("kubegate.api")


class ModeSwitchGuard:
    def __init__(self, changes: AccessChanges, audit: AuditLog) -> None:
        self.changes = changes
        self.audit = audit

    def __call__(self, caller: Caller, cluster: str, mode: str) -> None:
        if mode != "API":
            return
        try:
            result = self.changes.diff(cluster, self.changes.mode_switch(cluster, mode), caller=caller)
        except DomainError:
            return  # the update itself is refused with the same reason
        losing = [c for c in result.changes if c.loses]
        if not losing:
            return
        who = "; ".join(f"{c.subject.label} loses {', '.join(c.loses)}" for c in losing)
        log.warning("cluster %s: %s switches the authentication mode to API; %d principal(s) lose access: %s "
                    "(see `kubegate access-diff --cluster %s --authentication-mode API`)",
                    cluster, caller.arn, len(losing), who, cluster)
        self.audit.record("mode-switch-warning", cluster=cluster, caller=caller.arn, mode=mode,
                          losing=[{"principal": c.subject.label, "loses": list(c.loses), "node": c.subject.node,
                                   "you": c.subject.caller} for c in losing])
