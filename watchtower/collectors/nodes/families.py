"""Metric families of this package, declared once (see ``watchtower.core.families``)."""

from __future__ import annotations

from watchtower.core.families import Family

NODE_TAINT = Family(
    "watchtower_node_taint", "gauge",
    "1 per node.kubernetes.io/* taint on the node (not-ready, unreachable, pressure, ...).",
    ("node", "key", "effect"),
)
NODE_LIFECYCLE_REMINDER_LEAD_SECONDS = Family(
    "watchtower_node_lifecycle_reminder_lead_seconds", "gauge",
    "How long before an OS end of life NodeOSEndOfLifeSoon fires (lifecycle.reminder_lead).",
    (),
)
NODES = Family(
    "watchtower_nodes", "gauge",
    "Nodes listed in the last collection.",
    (),
)
NODE_CONDITION = Family(
    "watchtower_node_condition", "gauge",
    "Node condition: one series per condition, always 1, its status label (true, false, unknown) the "
    "current status.",
    ("node", "condition", "status"),
)
NODE_UNSCHEDULABLE = Family(
    "watchtower_node_unschedulable", "gauge",
    "1 if the node is cordoned (spec.unschedulable).",
    ("node",),
)
NODE = Family(
    "watchtower_node", "info",
    "Node facts: roles, kubelet version, container runtime, OS image, kernel.",
    ("node", "roles", "kubelet_version", "container_runtime", "os_image", "kernel_version"),
)
NODE_KUBELET_MINOR_SKEW = Family(
    "watchtower_node_kubelet_minor_skew", "gauge",
    "apiserver minor − kubelet minor; the policy allows 0 to 3 (kubelets up to three minors older, never "
    "newer).",
    ("node",),
)
NODE_READY_TRANSITIONS = Family(
    "watchtower_node_ready_transitions", "counter",
    "Ready condition transitions seen by this watchtower process since it started (in memory).",
    ("node",),
)
NODE_OS_EOL_TIMESTAMP_SECONDS = Family(
    "watchtower_node_os_eol_timestamp_seconds", "gauge",
    "End of standard (security) support of the node's OS release; one series per node, NaN when unknown "
    "(distribution/release unknown: osImage not recognised).",
    ("node", "distribution", "release"),
)
NODE_OS_EXTENDED_EOL_TIMESTAMP_SECONDS = Family(
    "watchtower_node_os_extended_eol_timestamp_seconds", "gauge",
    "End of extended support (Ubuntu ESM, Debian LTS, RHEL ELS) of an OS release the nodes run; absent "
    "when none is known.",
    ("distribution", "release"),
)
NODE_RUNTIME_EOL_TIMESTAMP_SECONDS = Family(
    "watchtower_node_runtime_eol_timestamp_seconds", "gauge",
    "End of life of the node's container runtime release line; one series per node, NaN when unknown "
    "(runtime/version unknown: not recognised).",
    ("node", "runtime", "version"),
)
NODE_LIFECYCLE_DATA_TIMESTAMP_SECONDS = Family(
    "watchtower_node_lifecycle_data_timestamp_seconds", "gauge",
    "When the lifecycle data in use was fetched (source=endoflife.date) or taken (source=snapshot, the "
    "packaged snapshot).",
    ("source",),
)
