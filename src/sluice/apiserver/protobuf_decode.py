"""Kubernetes protobuf request bodies, read into the JSON-shaped objects the registry stores.

kubectl's typed clients (``kubectl create configmap``, ``create deployment``,
``create secret``, ``create role`` and the other generators) POST built-in kinds
as ``application/vnd.kubernetes.protobuf``, whatever the server prefers to
answer with. Such a body is the four bytes ``k8s\\x00`` then a
``runtime.Unknown`` message: its type meta (apiVersion and kind), the kind's
own message as bytes, and a content encoding and type that are empty in
practice. The kind's message uses the field numbers of the ``generated.proto``
files of ``k8s.io/api`` and ``k8s.io/apimachinery``.

:func:`decode` turns such a body into the dict that ``json.loads`` would give
for the same object sent as JSON, so the rest of the server never sees the
difference. It is table driven: :data:`_SCHEMA` names, for each message, the
field numbers, JSON names and types. Two facts of the Go types decide how a
field looks in JSON, and the table records both, since the wire alone cannot
tell them:

* whether the Go field is a pointer (``?``): Go encodes every non-pointer
  scalar, zero or not, so a zero there means "unset" and an omitempty JSON
  field drops it; a pointer is sent only when set, and then kept even if zero
  (``replicas: 0``);
* whether the JSON tag lacks ``omitempty`` (``!``): then a zero value or an
  absent list still appears, as ``""``, ``0``, ``false`` or ``null``
  (``rules: null`` on an aggregated ClusterRole).

Non-pointer structs are always written, as Go's encoder does (``resources:
{}``, ``creationTimestamp: null``). Only the kinds kubectl's generators send,
and the pieces of them in common use, are described; any other kind, or a
field number the table lacks, is refused with 415 naming the kind and field
rather than dropped, so a gap shows at once and the client can resend JSON.
Malformed bytes are a 400. Responses stay JSON: kubectl accepts either.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sluice.apiserver.errors import ApiError, BadRequest, UnsupportedMediaType

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# ---------------------------------------------------------------------------
# The message table.
#
# Each field is "number jsonName type" and, where it applies, "inline" for a Go
# embedded struct whose fields JSON flattens into the parent (VolumeSource in
# Volume, LocalObjectReference in ConfigMapKeySelector). A type is a scalar
# (str, int32, int64, bool, bytes), a special (Time, MicroTime, Quantity,
# IntOrString, RawExtension, FieldsV1) or a message name below; "[T]" is a
# repeated field, "{T}" a map with string keys. A trailing "?" marks a Go
# pointer, a trailing "!" a JSON tag without omitempty. Order follows the Go
# structs, which is the order JSON objects come out in.

_SCHEMA: dict[str, str] = {
    # --- k8s.io/apimachinery/pkg/apis/meta/v1
    "ObjectMeta": """1 name str; 2 generateName str; 3 namespace str; 4 selfLink str;
        5 uid str; 6 resourceVersion str; 7 generation int64; 8 creationTimestamp Time;
        9 deletionTimestamp Time?; 10 deletionGracePeriodSeconds int64?; 11 labels {str};
        12 annotations {str}; 13 ownerReferences [OwnerReference]; 14 finalizers [str];
        17 managedFields [ManagedFieldsEntry]""",
    "OwnerReference": """5 apiVersion str!; 1 kind str!; 3 name str!; 4 uid str!;
        6 controller bool?; 7 blockOwnerDeletion bool?""",
    "ManagedFieldsEntry": """1 manager str; 2 operation str; 3 apiVersion str; 4 time Time?;
        6 fieldsType str; 7 fieldsV1 FieldsV1?; 8 subresource str""",
    "LabelSelector": "1 matchLabels {str}; 2 matchExpressions [LabelSelectorRequirement]",
    "LabelSelectorRequirement": "1 key str!; 2 operator str!; 3 values [str]",
    "Condition": """1 type str!; 2 status str!; 3 observedGeneration int64;
        4 lastTransitionTime Time!; 5 reason str!; 6 message str!""",
    # --- k8s.io/api/core/v1
    "ConfigMap": "1 metadata ObjectMeta; 4 immutable bool?; 2 data {str}; 3 binaryData {bytes}",
    "Secret": """1 metadata ObjectMeta; 5 immutable bool?; 2 data {bytes}; 4 stringData {str};
        3 type str""",
    "Namespace": "1 metadata ObjectMeta; 2 spec NamespaceSpec; 3 status NamespaceStatus",
    "NamespaceSpec": "1 finalizers [str]",
    "NamespaceStatus": "1 phase str; 2 conditions [NamespaceCondition]",
    "NamespaceCondition": """1 type str!; 2 status str!; 4 lastTransitionTime Time;
        5 reason str; 6 message str""",
    "ServiceAccount": """1 metadata ObjectMeta; 2 secrets [ObjectReference];
        3 imagePullSecrets [LocalObjectReference]; 4 automountServiceAccountToken bool?""",
    "ObjectReference": """1 kind str; 2 namespace str; 3 name str; 4 uid str; 5 apiVersion str;
        6 resourceVersion str; 7 fieldPath str""",
    "LocalObjectReference": "1 name str",
    "TypedLocalObjectReference": "1 apiGroup str?!; 2 kind str!; 3 name str!",
    "Service": "1 metadata ObjectMeta; 2 spec ServiceSpec; 3 status ServiceStatus",
    "ServiceSpec": """1 ports [ServicePort]; 2 selector {str}; 3 clusterIP str;
        18 clusterIPs [str]; 4 type str; 5 externalIPs [str]; 7 sessionAffinity str;
        8 loadBalancerIP str; 9 loadBalancerSourceRanges [str]; 10 externalName str;
        11 externalTrafficPolicy str; 12 healthCheckNodePort int32;
        13 publishNotReadyAddresses bool; 14 sessionAffinityConfig SessionAffinityConfig?;
        19 ipFamilies [str]; 17 ipFamilyPolicy str?; 20 allocateLoadBalancerNodePorts bool?;
        21 loadBalancerClass str?; 22 internalTrafficPolicy str?; 23 trafficDistribution str?""",
    "ServicePort": """1 name str; 2 protocol str; 6 appProtocol str?; 3 port int32!;
        4 targetPort IntOrString; 5 nodePort int32""",
    "SessionAffinityConfig": "1 clientIP ClientIPConfig?",
    "ClientIPConfig": "1 timeoutSeconds int32?",
    "ServiceStatus": "1 loadBalancer LoadBalancerStatus; 2 conditions [Condition]",
    "LoadBalancerStatus": "1 ingress [LoadBalancerIngress]",
    "LoadBalancerIngress": "1 ip str; 2 hostname str; 3 ipMode str?; 4 ports [PortStatus]",
    "PortStatus": "1 port int32!; 2 protocol str!; 3 error str?",
    "ResourceQuota": "1 metadata ObjectMeta; 2 spec ResourceQuotaSpec; 3 status ResourceQuotaStatus",
    "ResourceQuotaSpec": "1 hard {Quantity}; 2 scopes [str]; 3 scopeSelector ScopeSelector?",
    "ScopeSelector": "1 matchExpressions [ScopedResourceSelectorRequirement]",
    "ScopedResourceSelectorRequirement": "1 scopeName str!; 2 operator str!; 3 values [str]",
    "ResourceQuotaStatus": "1 hard {Quantity}; 2 used {Quantity}",
    # Pod templates: the fields kubectl's generators fill, and the common rest.
    "PodTemplateSpec": "1 metadata ObjectMeta; 2 spec PodSpec",
    "PodSpec": """1 volumes [Volume]; 20 initContainers [Container]; 2 containers [Container]!;
        3 restartPolicy str; 4 terminationGracePeriodSeconds int64?;
        5 activeDeadlineSeconds int64?; 6 dnsPolicy str; 7 nodeSelector {str};
        8 serviceAccountName str; 9 serviceAccount str; 21 automountServiceAccountToken bool?;
        10 nodeName str; 11 hostNetwork bool; 12 hostPID bool; 13 hostIPC bool;
        27 shareProcessNamespace bool?; 14 securityContext PodSecurityContext?;
        15 imagePullSecrets [LocalObjectReference]; 16 hostname str; 17 subdomain str;
        19 schedulerName str; 22 tolerations [Toleration]; 24 priorityClassName str;
        25 priority int32?; 26 dnsConfig PodDNSConfig?; 29 runtimeClassName str?;
        30 enableServiceLinks bool?; 31 preemptionPolicy str?; 35 setHostnameAsFQDN bool?;
        37 hostUsers bool?""",
    "Container": """1 name str!; 2 image str; 3 command [str]; 4 args [str]; 5 workingDir str;
        6 ports [ContainerPort]; 19 envFrom [EnvFromSource]; 7 env [EnvVar];
        8 resources ResourceRequirements; 24 restartPolicy str?; 9 volumeMounts [VolumeMount];
        10 livenessProbe Probe?; 11 readinessProbe Probe?; 22 startupProbe Probe?;
        12 lifecycle Lifecycle?; 13 terminationMessagePath str; 20 terminationMessagePolicy str;
        14 imagePullPolicy str; 15 securityContext SecurityContext?; 16 stdin bool;
        17 stdinOnce bool; 18 tty bool""",
    "ContainerPort": """1 name str; 2 hostPort int32; 3 containerPort int32!; 4 protocol str;
        5 hostIP str""",
    "EnvVar": "1 name str!; 2 value str; 3 valueFrom EnvVarSource?",
    "EnvVarSource": """1 fieldRef ObjectFieldSelector?; 2 resourceFieldRef ResourceFieldSelector?;
        3 configMapKeyRef ConfigMapKeySelector?; 4 secretKeyRef SecretKeySelector?""",
    "ObjectFieldSelector": "1 apiVersion str; 2 fieldPath str!",
    "ResourceFieldSelector": "1 containerName str; 2 resource str!; 3 divisor Quantity",
    "ConfigMapKeySelector": "1 localObjectReference LocalObjectReference inline; 2 key str!; 3 optional bool?",
    "SecretKeySelector": "1 localObjectReference LocalObjectReference inline; 2 key str!; 3 optional bool?",
    "EnvFromSource": """1 prefix str; 2 configMapRef ConfigMapEnvSource?;
        3 secretRef SecretEnvSource?""",
    "ConfigMapEnvSource": "1 localObjectReference LocalObjectReference inline; 2 optional bool?",
    "SecretEnvSource": "1 localObjectReference LocalObjectReference inline; 2 optional bool?",
    "ResourceRequirements": "1 limits {Quantity}; 2 requests {Quantity}; 3 claims [ResourceClaim]",
    "ResourceClaim": "1 name str!; 2 request str",
    "VolumeMount": """1 name str!; 2 readOnly bool; 7 recursiveReadOnly str?; 3 mountPath str!;
        4 subPath str; 5 mountPropagation str?; 6 subPathExpr str""",
    "Probe": """1 handler ProbeHandler inline; 2 initialDelaySeconds int32; 3 timeoutSeconds int32;
        4 periodSeconds int32; 5 successThreshold int32; 6 failureThreshold int32;
        7 terminationGracePeriodSeconds int64?""",
    "ProbeHandler": """1 exec ExecAction?; 2 httpGet HTTPGetAction?; 3 tcpSocket TCPSocketAction?;
        4 grpc GRPCAction?""",
    "ExecAction": "1 command [str]",
    "HTTPGetAction": """1 path str; 2 port IntOrString; 3 host str; 4 scheme str;
        5 httpHeaders [HTTPHeader]""",
    "HTTPHeader": "1 name str!; 2 value str!",
    "TCPSocketAction": "1 port IntOrString; 2 host str",
    "GRPCAction": "1 port int32!; 2 service str?!",
    "Lifecycle": "1 postStart LifecycleHandler?; 2 preStop LifecycleHandler?",
    "LifecycleHandler": """1 exec ExecAction?; 2 httpGet HTTPGetAction?; 3 tcpSocket TCPSocketAction?;
        4 sleep SleepAction?""",
    "SleepAction": "1 seconds int64!",
    "PodSecurityContext": """1 seLinuxOptions SELinuxOptions?;
        8 windowsOptions WindowsSecurityContextOptions?; 2 runAsUser int64?; 6 runAsGroup int64?;
        3 runAsNonRoot bool?; 4 supplementalGroups [int64]; 12 supplementalGroupsPolicy str?;
        5 fsGroup int64?; 7 sysctls [Sysctl]; 9 fsGroupChangePolicy str?;
        10 seccompProfile SeccompProfile?; 11 appArmorProfile AppArmorProfile?;
        13 seLinuxChangePolicy str?""",
    "SecurityContext": """1 capabilities Capabilities?; 2 privileged bool?;
        3 seLinuxOptions SELinuxOptions?; 10 windowsOptions WindowsSecurityContextOptions?;
        4 runAsUser int64?; 8 runAsGroup int64?; 5 runAsNonRoot bool?;
        6 readOnlyRootFilesystem bool?; 7 allowPrivilegeEscalation bool?; 9 procMount str?;
        11 seccompProfile SeccompProfile?; 12 appArmorProfile AppArmorProfile?""",
    "Capabilities": "1 add [str]; 2 drop [str]",
    "SELinuxOptions": "1 user str; 2 role str; 3 type str; 4 level str",
    "WindowsSecurityContextOptions": """1 gmsaCredentialSpecName str?; 2 gmsaCredentialSpec str?;
        3 runAsUserName str?; 4 hostProcess bool?""",
    "SeccompProfile": "1 type str!; 2 localhostProfile str?",
    "AppArmorProfile": "1 type str!; 2 localhostProfile str?",
    "Sysctl": "1 name str!; 2 value str!",
    "Toleration": "1 key str; 2 operator str; 3 value str; 4 effect str; 5 tolerationSeconds int64?",
    "PodDNSConfig": "1 nameservers [str]; 2 searches [str]; 3 options [PodDNSConfigOption]",
    "PodDNSConfigOption": "1 name str; 2 value str?",
    "Volume": "1 name str!; 2 volumeSource VolumeSource inline",
    "VolumeSource": """1 hostPath HostPathVolumeSource?; 2 emptyDir EmptyDirVolumeSource?;
        6 secret SecretVolumeSource?; 7 nfs NFSVolumeSource?;
        10 persistentVolumeClaim PersistentVolumeClaimVolumeSource?;
        16 downwardAPI DownwardAPIVolumeSource?; 19 configMap ConfigMapVolumeSource?;
        26 projected ProjectedVolumeSource?""",
    "HostPathVolumeSource": "1 path str!; 2 type str?",
    "EmptyDirVolumeSource": "1 medium str; 2 sizeLimit Quantity?",
    "SecretVolumeSource": """1 secretName str; 2 items [KeyToPath]; 3 defaultMode int32?;
        4 optional bool?""",
    "NFSVolumeSource": "1 server str!; 2 path str!; 3 readOnly bool",
    "PersistentVolumeClaimVolumeSource": "1 claimName str!; 2 readOnly bool",
    "DownwardAPIVolumeSource": "1 items [DownwardAPIVolumeFile]; 2 defaultMode int32?",
    "DownwardAPIVolumeFile": """1 path str!; 2 fieldRef ObjectFieldSelector?;
        3 resourceFieldRef ResourceFieldSelector?; 4 mode int32?""",
    "ConfigMapVolumeSource": """1 localObjectReference LocalObjectReference inline;
        2 items [KeyToPath]; 3 defaultMode int32?; 4 optional bool?""",
    "KeyToPath": "1 key str!; 2 path str!; 3 mode int32?",
    "ProjectedVolumeSource": "1 sources [VolumeProjection]; 2 defaultMode int32?",
    "VolumeProjection": """1 secret SecretProjection?; 2 downwardAPI DownwardAPIProjection?;
        3 configMap ConfigMapProjection?; 4 serviceAccountToken ServiceAccountTokenProjection?""",
    "SecretProjection": """1 localObjectReference LocalObjectReference inline;
        2 items [KeyToPath]; 4 optional bool?""",
    "ConfigMapProjection": """1 localObjectReference LocalObjectReference inline;
        2 items [KeyToPath]; 4 optional bool?""",
    "DownwardAPIProjection": "1 items [DownwardAPIVolumeFile]",
    "ServiceAccountTokenProjection": "1 audience str; 2 expirationSeconds int64?; 3 path str!",
    # --- k8s.io/api/apps/v1
    "Deployment": "1 metadata ObjectMeta; 2 spec DeploymentSpec; 3 status DeploymentStatus",
    "DeploymentSpec": """1 replicas int32?; 2 selector LabelSelector?!; 3 template PodTemplateSpec;
        4 strategy DeploymentStrategy; 5 minReadySeconds int32; 6 revisionHistoryLimit int32?;
        7 paused bool; 9 progressDeadlineSeconds int32?""",
    "DeploymentStrategy": "1 type str; 2 rollingUpdate RollingUpdateDeployment?",
    "RollingUpdateDeployment": "1 maxUnavailable IntOrString?; 2 maxSurge IntOrString?",
    "DeploymentStatus": """1 observedGeneration int64; 2 replicas int32; 3 updatedReplicas int32;
        7 readyReplicas int32; 4 availableReplicas int32; 5 unavailableReplicas int32;
        9 terminatingReplicas int32?; 6 conditions [DeploymentCondition];
        8 collisionCount int32?""",
    "DeploymentCondition": """1 type str!; 2 status str!; 6 lastUpdateTime Time;
        7 lastTransitionTime Time; 4 reason str; 5 message str""",
    # --- k8s.io/api/batch/v1
    "Job": "1 metadata ObjectMeta; 2 spec JobSpec; 3 status JobStatus",
    "JobSpec": """1 parallelism int32?; 2 completions int32?; 3 activeDeadlineSeconds int64?;
        7 backoffLimit int32?; 12 backoffLimitPerIndex int32?; 13 maxFailedIndexes int32?;
        4 selector LabelSelector?; 5 manualSelector bool?; 6 template PodTemplateSpec;
        8 ttlSecondsAfterFinished int32?; 9 completionMode str?; 10 suspend bool?;
        14 podReplacementPolicy str?; 15 managedBy str?""",
    "JobStatus": """1 conditions [JobCondition]; 2 startTime Time?; 3 completionTime Time?;
        4 active int32; 5 succeeded int32; 6 failed int32; 11 terminating int32?;
        7 completedIndexes str; 10 failedIndexes str?;
        8 uncountedTerminatedPods UncountedTerminatedPods?; 9 ready int32?""",
    "JobCondition": """1 type str!; 2 status str!; 3 lastProbeTime Time;
        4 lastTransitionTime Time; 5 reason str; 6 message str""",
    "UncountedTerminatedPods": "1 succeeded [str]; 2 failed [str]",
    "CronJob": "1 metadata ObjectMeta; 2 spec CronJobSpec; 3 status CronJobStatus",
    "CronJobSpec": """1 schedule str!; 8 timeZone str?; 2 startingDeadlineSeconds int64?;
        3 concurrencyPolicy str; 4 suspend bool?; 5 jobTemplate JobTemplateSpec;
        6 successfulJobsHistoryLimit int32?; 7 failedJobsHistoryLimit int32?""",
    "JobTemplateSpec": "1 metadata ObjectMeta; 2 spec JobSpec",
    "CronJobStatus": """1 active [ObjectReference]; 4 lastScheduleTime Time?;
        5 lastSuccessfulTime Time?""",
    # --- k8s.io/api/rbac/v1
    "Role": "1 metadata ObjectMeta; 2 rules [PolicyRule]!",
    "ClusterRole": "1 metadata ObjectMeta; 2 rules [PolicyRule]!; 3 aggregationRule AggregationRule?",
    "PolicyRule": """1 verbs [str]!; 2 apiGroups [str]; 3 resources [str]; 4 resourceNames [str];
        5 nonResourceURLs [str]""",
    "AggregationRule": "1 clusterRoleSelectors [LabelSelector]",
    "RoleBinding": "1 metadata ObjectMeta; 2 subjects [Subject]; 3 roleRef RoleRef",
    "ClusterRoleBinding": "1 metadata ObjectMeta; 2 subjects [Subject]; 3 roleRef RoleRef",
    "Subject": "1 kind str!; 2 apiGroup str; 3 name str!; 4 namespace str",
    "RoleRef": "1 apiGroup str!; 2 kind str!; 3 name str!",
    # --- k8s.io/api/networking/v1
    "Ingress": "1 metadata ObjectMeta; 2 spec IngressSpec; 3 status IngressStatus",
    "IngressSpec": """4 ingressClassName str?; 1 defaultBackend IngressBackend?;
        2 tls [IngressTLS]; 3 rules [IngressRule]""",
    "IngressBackend": "4 service IngressServiceBackend?; 3 resource TypedLocalObjectReference?",
    "IngressServiceBackend": "1 name str!; 2 port ServiceBackendPort",
    "ServiceBackendPort": "1 name str; 2 number int32",
    "IngressTLS": "1 hosts [str]; 2 secretName str",
    "IngressRule": "1 host str; 2 ingressRuleValue IngressRuleValue inline",
    "IngressRuleValue": "1 http HTTPIngressRuleValue?",
    "HTTPIngressRuleValue": "1 paths [HTTPIngressPath]!",
    "HTTPIngressPath": "1 path str; 3 pathType str?!; 2 backend IngressBackend",
    "IngressStatus": "1 loadBalancer IngressLoadBalancerStatus",
    "IngressLoadBalancerStatus": "1 ingress [IngressLoadBalancerIngress]",
    "IngressLoadBalancerIngress": "1 ip str; 2 hostname str; 4 ports [IngressPortStatus]",
    "IngressPortStatus": "1 port int32!; 2 protocol str!; 3 error str?",
    # --- k8s.io/api/policy/v1
    "PodDisruptionBudget": """1 metadata ObjectMeta; 2 spec PodDisruptionBudgetSpec;
        3 status PodDisruptionBudgetStatus""",
    "PodDisruptionBudgetSpec": """1 minAvailable IntOrString?; 2 selector LabelSelector?;
        3 maxUnavailable IntOrString?; 4 unhealthyPodEvictionPolicy str?""",
    "PodDisruptionBudgetStatus": """1 observedGeneration int64; 2 disruptedPods {Time};
        3 disruptionsAllowed int32!; 4 currentHealthy int32!; 5 desiredHealthy int32!;
        6 expectedPods int32!; 7 conditions [Condition]""",
    # --- k8s.io/api/scheduling/v1
    "PriorityClass": """1 metadata ObjectMeta; 2 value int32!; 3 globalDefault bool;
        4 description str; 5 preemptionPolicy str?""",
}

# The kinds a body may carry: (apiVersion, kind) -> top-level message.
_KINDS: dict[tuple[str, str], str] = {
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "Namespace"): "Namespace",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("v1", "ResourceQuota"): "ResourceQuota",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "ClusterRoleBinding",
    ("networking.k8s.io/v1", "Ingress"): "Ingress",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("scheduling.k8s.io/v1", "PriorityClass"): "PriorityClass",
}

_VARINT_SCALARS = frozenset({"int32", "int64", "bool"})
_SCALARS = _VARINT_SCALARS | {"str", "bytes"}
# Apimachinery types with JSON forms of their own; each is a small message on the wire.
_SPECIALS = frozenset({"Time", "MicroTime", "Quantity", "IntOrString", "RawExtension", "FieldsV1"})


@dataclass(frozen=True)
class _Field:
    number: int
    name: str
    type: str
    repeated: bool = False
    map: bool = False
    pointer: bool = False  # Go pointer: sent only when set, kept even when zero
    keep: bool = False  # JSON tag without omitempty: zero values and nil lists still shown
    inline: bool = False  # Go embedded struct: its fields join the parent's JSON object


def _parse_field(spec: str, message: str) -> _Field:
    parts = spec.split()
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "inline"):
        raise ValueError(f"bad field spec {spec!r} in {message}")
    number, name, type_ = int(parts[0]), parts[1], parts[2]
    keep = pointer = False
    while type_[-1] in "?!":
        keep |= type_[-1] == "!"
        pointer |= type_[-1] == "?"
        type_ = type_[:-1]
    repeated = type_.startswith("[") and type_.endswith("]")
    is_map = type_.startswith("{") and type_.endswith("}")
    if repeated or is_map:
        type_ = type_[1:-1]
    return _Field(number, name, type_, repeated, is_map, pointer, keep, len(parts) == 4)


def _build_schema() -> dict[str, dict[int, _Field]]:
    schema: dict[str, dict[int, _Field]] = {}
    for message, text in _SCHEMA.items():
        fields = [_parse_field(s.strip(), message) for s in text.split(";")]
        schema[message] = {f.number: f for f in fields}
        if len(schema[message]) != len(fields):
            raise ValueError(f"duplicate field number in {message}")
    for message, by_number in schema.items():
        for f in by_number.values():
            if f.type not in _SCALARS and f.type not in _SPECIALS and f.type not in schema:
                raise ValueError(f"{message}.{f.name}: unknown type {f.type}")
    return schema


_MESSAGES = _build_schema()

# ---------------------------------------------------------------------------
# Wire format: varints and length-delimited fields, as protobuf writes them.

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise BadRequest("malformed protobuf body: truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
        if shift >= 70:
            raise BadRequest("malformed protobuf body: varint longer than ten bytes")


def _wire_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) for each field of one encoded message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise BadRequest("malformed protobuf body: field number 0")
        value: int | bytes
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _LEN:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise BadRequest("malformed protobuf body: length runs past the end")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            if pos + width > len(data):
                raise BadRequest("malformed protobuf body: truncated fixed-width field")
            value, pos = int.from_bytes(data[pos:pos + width], "little"), pos + width
        else:  # groups (3, 4) are not used by Kubernetes; 6 and 7 do not exist
            raise BadRequest(f"malformed protobuf body: wire type {wire} in field {number}")
        yield number, wire, value


def _signed(value: int, bits: int) -> int:
    # Go truncates a decoded varint to the field's width and reads it as two's complement.
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


# ---------------------------------------------------------------------------
# Messages to JSON.


class _Decoder:
    def __init__(self, kind: str) -> None:
        self.kind = kind  # "apps/v1 Deployment", named in every error

    def unsupported(self, message: str, number: int, path: str) -> ApiError:
        where = f" at {path}" if path else ""
        return UnsupportedMediaType(
            f"cannot decode the protobuf body of {self.kind}: field {number} of {message}{where} "
            f"is not supported by this server; send the object as application/json")

    def message(self, data: bytes, message: str, path: str) -> dict[str, Any]:
        fields = _MESSAGES[message]
        found: dict[int, list[int | bytes]] = {}
        for number, wire, value in _wire_fields(data):
            f = fields.get(number)
            if f is None:
                raise self.unsupported(message, number, path)
            values = found.setdefault(number, [])
            if f.type in _VARINT_SCALARS and not f.map:
                if wire == _LEN and f.repeated:  # packed repeated numbers
                    assert isinstance(value, bytes)
                    pos = 0
                    while pos < len(value):
                        item, pos = _varint(value, pos)
                        values.append(item)
                    continue
                if wire != _VARINT:
                    raise self.malformed(message, f, path)
            elif wire != _LEN:
                raise self.malformed(message, f, path)
            values.append(value)
        out: dict[str, Any] = {}
        for f in fields.values():
            self.field(out, f, found.get(f.number), f"{path}.{f.name}" if path else f.name)
        return out

    def malformed(self, message: str, f: _Field, path: str) -> ApiError:
        where = f" at {path}" if path else ""
        return BadRequest(f"malformed protobuf body of {self.kind}: field {f.number} "
                          f"({f.name}) of {message}{where} has the wrong wire type")

    def field(self, out: dict[str, Any], f: _Field, values: list[int | bytes] | None,
              path: str) -> None:
        if f.repeated or f.map:
            if not values:
                if f.keep:
                    out[f.name] = None  # Go's nil slice or map, shown as null
                return
            if f.map:
                out[f.name] = dict(self.entry(v, f, path) for v in values)
            else:
                out[f.name] = [self.value(v, f.type, f"{path}[{i}]")
                               for i, v in enumerate(values)]
            return
        if values is None:
            if f.pointer:
                if f.keep:
                    out[f.name] = None
                return
            value = self.zero(f.type, path)
        elif f.type in _SCALARS:
            value = self.value(values[-1], f.type, path)  # the last one wins
        else:
            # Repeats of a message field merge, which decoding their concatenation does.
            value = self.value(b"".join(v for v in values if isinstance(v, bytes)), f.type, path)
        if f.inline:
            out.update(value)
        elif f.pointer or f.keep or f.type not in _SCALARS or value:
            out[f.name] = value

    def zero(self, type_: str, path: str) -> Any:
        if type_ in ("int32", "int64"):
            return 0
        if type_ == "bool":
            return False
        if type_ == "str":
            return ""
        if type_ == "bytes":
            return None
        return self.value(b"", type_, path)  # a Go struct left at its zero value

    def entry(self, data: int | bytes, f: _Field, path: str) -> tuple[str, Any]:
        assert isinstance(data, bytes)
        key, value = "", None
        for number, wire, item in _wire_fields(data):
            if number == 1 and wire == _LEN:
                assert isinstance(item, bytes)
                key = item.decode("utf-8", "replace")
            elif number == 2 and (wire == _VARINT) == (f.type in _VARINT_SCALARS):
                value = item
            else:
                raise BadRequest(f"malformed protobuf body of {self.kind}: bad map entry "
                                 f"in {path}")
        if value is None:
            # An entry without a value holds the zero value; for bytes that is an empty
            # string (Go's decoder starts each map value from an empty, not a nil, slice).
            return key, "" if f.type == "bytes" else self.zero(f.type, f"{path}[{key}]")
        return key, self.value(value, f.type, f"{path}[{key}]")

    def value(self, raw: int | bytes, type_: str, path: str) -> Any:
        if isinstance(raw, int):
            if type_ == "bool":
                return raw != 0
            return _signed(raw, 32 if type_ == "int32" else 64)
        if type_ == "str":
            return raw.decode("utf-8", "replace")  # Go's JSON encoder also replaces bad UTF-8
        if type_ == "bytes":
            return base64.b64encode(raw).decode("ascii")
        if type_ in _SPECIALS:
            return self.special(raw, type_, path)
        return self.message(raw, type_, path)

    def special(self, raw: bytes, type_: str, path: str) -> Any:
        # Each special is a message of one to three scalar fields.
        shape = _SPECIAL_FIELDS[type_]
        got: dict[int, int | bytes] = {}
        for number, wire, value in _wire_fields(raw):
            expected = shape.get(number)
            if expected is None:
                raise self.unsupported(type_, number, path)
            if (wire == _VARINT) != (expected == "varint"):
                raise BadRequest(f"malformed protobuf body of {self.kind}: field {number} "
                                 f"of {type_} at {path} has the wrong wire type")
            got[number] = value
        if type_ in ("Time", "MicroTime"):
            return _time(got, micro=type_ == "MicroTime", path=path, kind=self.kind)
        if type_ == "Quantity":
            text = got.get(1, b"")
            assert isinstance(text, bytes)
            return text.decode("utf-8", "replace") or "0"
        if type_ == "IntOrString":
            if got.get(1, 0) == 1:
                text = got.get(3, b"")
                assert isinstance(text, bytes)
                return text.decode("utf-8", "replace")
            int_val = got.get(2, 0)
            assert isinstance(int_val, int)
            return _signed(int_val, 32)
        # RawExtension and FieldsV1 carry JSON text in field 1.
        text = got.get(1, b"")
        assert isinstance(text, bytes)
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise BadRequest(f"malformed protobuf body of {self.kind}: {type_} at {path} "
                             f"does not hold JSON") from None


_SPECIAL_FIELDS: dict[str, dict[int, str]] = {
    "Time": {1: "varint", 2: "varint"},  # seconds, nanos
    "MicroTime": {1: "varint", 2: "varint"},
    "Quantity": {1: "bytes"},  # the canonical string form
    "IntOrString": {1: "varint", 2: "varint", 3: "bytes"},  # type, intVal, strVal
    "RawExtension": {1: "bytes"},
    "FieldsV1": {1: "bytes"},
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GO_ZERO_TIME = -62135596800  # 0001-01-01T00:00:00Z in Unix seconds


def _time(got: dict[int, int | bytes], *, micro: bool, path: str, kind: str) -> str | None:
    if not got:
        return None  # Go sends the zero time as an empty message; JSON shows it as null
    seconds, nanos = got.get(1, 0), got.get(2, 0)
    assert isinstance(seconds, int) and isinstance(nanos, int)
    seconds, nanos = _signed(seconds, 64), _signed(nanos, 32)
    if seconds == _GO_ZERO_TIME and (nanos == 0 or not micro):
        return None  # Go's zero time.Time (year 1) also reads as null
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
        if micro:  # metav1.Time keeps whole seconds only; MicroTime keeps microseconds
            moment += timedelta(microseconds=nanos // 1000)
    except OverflowError:
        raise BadRequest(f"malformed protobuf body of {kind}: time at {path} "
                         f"is out of range") from None
    text = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")
    return f"{text}.{moment.microsecond:06d}Z" if micro else f"{text}Z"


# ---------------------------------------------------------------------------
# The envelope.


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a Kubernetes protobuf body (``k8s\\x00`` + ``runtime.Unknown``).

    Raises :class:`ApiError`: 400 for bytes that are not such a body, 415 for a
    kind, encoding or field this server cannot read.
    """
    if not body.startswith(MAGIC):
        raise BadRequest("malformed protobuf body: it does not start with the k8s\\x00 prefix")
    api_version = kind = content_encoding = content_type = ""
    raw = b""
    for number, wire, value in _wire_fields(body[len(MAGIC):]):
        if wire != _LEN or not isinstance(value, bytes):
            raise BadRequest(f"malformed protobuf body: field {number} of the envelope "
                             f"has the wrong wire type")
        if number == 1:  # typeMeta
            for sub, sub_wire, text in _wire_fields(value):
                if sub_wire != _LEN or not isinstance(text, bytes):
                    raise BadRequest("malformed protobuf body: bad type meta")
                if sub == 1:
                    api_version = text.decode("utf-8", "replace")
                elif sub == 2:
                    kind = text.decode("utf-8", "replace")
        elif number == 2:
            raw = value
        elif number == 3:
            content_encoding = value.decode("utf-8", "replace")
        elif number == 4:
            content_type = value.decode("utf-8", "replace")
    if not kind or not api_version:
        raise BadRequest("malformed protobuf body: the envelope names no apiVersion and kind")
    if content_encoding:
        raise UnsupportedMediaType(f"protobuf body of {api_version} {kind} uses content "
                                   f"encoding {content_encoding!r}, which is not supported")
    if content_type and content_type != PROTOBUF:
        raise UnsupportedMediaType(f"protobuf body of {api_version} {kind} holds "
                                   f"{content_type!r}, which is not supported")
    message = _KINDS.get((api_version, kind))
    if message is None:
        raise UnsupportedMediaType(
            f"{api_version} {kind} cannot be sent as {PROTOBUF} to this server; "
            f"send it as application/json")
    obj: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    obj.update(_Decoder(f"{api_version} {kind}").message(raw, message, ""))
    return obj
