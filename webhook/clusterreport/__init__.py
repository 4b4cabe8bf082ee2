"""The cluster report's pure part: configuration states, pod attribution and the summary.

No Kubernetes client and no network here (import-linter keeps it so): the adapter in
`webhook.sources.cluster_lists` pages through the API server's lists and feeds each object to a
`Tally`, which keeps only what the report needs of it, so memory grows with the number of
workloads, never with the size of the objects or the number of pods.
"""

from webhook.clusterreport.model import STATES, ClusterReport, State, WorkloadState
from webhook.clusterreport.tally import Tally

__all__ = ["STATES", "ClusterReport", "State", "Tally", "WorkloadState"]
