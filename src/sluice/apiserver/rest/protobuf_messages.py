"""The protobuf messages of the built-in kinds kubectl's generators send, as a table.

:mod:`sluice.apiserver.rest.protobuf_decode` reads Kubernetes protobuf bodies with
this table: for each message, the field numbers of the ``generated.proto``
files of ``k8s.io/api`` and ``k8s.io/apimachinery``, the JSON names, and the
types. Two facts of the Go types decide how a field looks in JSON, and the
table records both, since the wire alone cannot tell them:

* whether the Go field is a pointer (``?``): Go encodes every non-pointer
  scalar, zero or not, so a zero there means "unset" and an omitempty JSON
  field drops it; a pointer is sent only when set, and then kept even if zero
  (``replicas: 0``);
* whether the JSON tag lacks ``omitempty`` (``!``): then a zero value or an
  absent list still appears, as ``""``, ``0``, ``false`` or ``null``
  (``rules: null`` on an aggregated ClusterRole).

Each field is ``number jsonName type``, and ``inline`` after it for a Go
embedded struct whose fields JSON flattens into the parent (VolumeSource in
Volume, LocalObjectReference in ConfigMapKeySelector). A type is a scalar
(str, int32, int64, bool, bytes), a special with a JSON form of its own (Time,
MicroTime, Quantity, IntOrString, RawExtension, FieldsV1) or a message name;
``[T]`` is a repeated field, ``{T}`` a map with string keys. Fields are listed
in the order of the Go structs, which is the order JSON objects come out in.

Only the kinds kubectl's generators POST, and the pieces of them in common use,
are described; the decoder refuses anything else by name.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    # --- k8s.io/apimachinery/pkg/apis/meta/v1 (Helm's client-go sends DELETE bodies so)
    "DeleteOptions": """1 gracePeriodSeconds int64?; 2 preconditions Preconditions?;
        3 orphanDependents bool?; 4 propagationPolicy str?; 5 dryRun [str]""",
    "Preconditions": "1 uid str?; 2 resourceVersion str?",
}

# The kinds a body may carry: (apiVersion, kind) -> top-level message.
KINDS: dict[tuple[str, str], str] = {
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
# DeleteOptions travels under the group version of the resource being deleted.
OPTIONS_KINDS: frozenset[str] = frozenset({"DeleteOptions"})

VARINT_SCALARS = frozenset({"int32", "int64", "bool"})
SCALARS = VARINT_SCALARS | {"str", "bytes"}
# Apimachinery types with JSON forms of their own; each is a small message on the wire.
SPECIALS = frozenset({"Time", "MicroTime", "Quantity", "IntOrString", "RawExtension", "FieldsV1"})


@dataclass(frozen=True)
class Field:
    """One field of a message, parsed from the table."""

    number: int
    name: str
    type: str
    repeated: bool = False
    map: bool = False
    pointer: bool = False  # Go pointer: sent only when set, kept even when zero
    keep: bool = False  # JSON tag without omitempty: zero values and nil lists still shown
    inline: bool = False  # Go embedded struct: its fields join the parent's JSON object


def _parse_field(spec: str, message: str) -> Field:
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
    return Field(number, name, type_, repeated, is_map, pointer, keep, len(parts) == 4)


def _build_schema() -> dict[str, dict[int, Field]]:
    schema: dict[str, dict[int, Field]] = {}
    for message, text in _SCHEMA.items():
        fields = [_parse_field(s.strip(), message) for s in text.split(";")]
        schema[message] = {f.number: f for f in fields}
        if len(schema[message]) != len(fields):
            raise ValueError(f"duplicate field number in {message}")
    for message, by_number in schema.items():
        for f in by_number.values():
            if f.type not in SCALARS and f.type not in SPECIALS and f.type not in schema:
                raise ValueError(f"{message}.{f.name}: unknown type {f.type}")
    return schema


MESSAGES = _build_schema()
