"""The controllers and the kubelet of a cluster without nodes, simulated in-process.

:class:`sluice.apiserver.simulation.workloads.WorkloadSimulator` runs these: each module
plays one Kubernetes controller (Deployments, ReplicaSets, StatefulSets,
DaemonSets, Jobs, endpoints, volume binding) or the scheduler and kubelet of
the single simulated node, reading objects straight from the cluster's storage
and writing through :class:`sluice.apiserver.rest.registry.Cluster` like a client.
"""
