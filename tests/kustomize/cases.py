"""Fixture folders for the differential kustomize tests, as {relative path: text}.

Each case is a small folder a Flux user could commit; the test builds it with
sluice and with ``kubectl kustomize`` and expects identical bytes.
"""

from __future__ import annotations

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      serviceAccountName: web
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
        envFrom:
        - configMapRef:
            name: web-config
        env:
        - name: PASSWORD
          valueFrom:
            secretKeyRef:
              name: web-secret
              key: password
        volumeMounts:
        - name: config
          mountPath: /etc/web
      volumes:
      - name: config
        configMap:
          name: web-config
      - name: data
        persistentVolumeClaim:
          claimName: web-data
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
"""

SA_RBAC = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: web
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
rules:
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [web-config]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: reader
subjects:
- kind: ServiceAccount
  name: web
- kind: ServiceAccount
  name: default
- kind: User
  name: jane
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: reader-all
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
- kind: ServiceAccount
  name: web
  namespace: default
"""

CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: "on"
  port: "8080"
"""

MIXED = """\
apiVersion: v1
kind: Namespace
metadata:
  name: apps
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: hook
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: b
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: postgres:16
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
---
apiVersion: another.io/v1
kind: Widget
metadata:
  name: a
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: tick
            image: busybox
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  token: abc
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: viewer
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
  namespace: zeta
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
  namespace: alpha
"""


def k(text: str) -> str:
    return text


CASES: dict[str, dict[str, str]] = {
    "plain_resources": {
        "kustomization.yaml": "resources:\n- deploy.yaml\n- service.yaml\n",
        "deploy.yaml": DEPLOY,
        "service.yaml": SERVICE,
    },
    "multi_doc_and_ordering": {
        "kustomization.yaml": "resources:\n- mixed.yaml\n- rbac.yaml\n",
        "mixed.yaml": MIXED,
        "rbac.yaml": SA_RBAC,
    },
    "kustomization_yml_name": {
        "kustomization.yml": "resources:\n- cm.yaml\n",
        "cm.yaml": CONFIG,
    },
    "capital_kustomization_name": {
        "Kustomization": "resources:\n- cm.yaml\n",
        "cm.yaml": CONFIG,
    },
    "nested_base_overlay": {
        "kustomization.yaml": "resources:\n- ../base\nnamePrefix: prod-\nnamespace: prod\n",
        "../base/kustomization.yaml": "resources:\n- deploy.yaml\n- service.yaml\n- cm.yaml\n",
        "../base/deploy.yaml": DEPLOY,
        "../base/service.yaml": SERVICE,
        "../base/cm.yaml": CONFIG,
    },
    "namespace_everything": {
        "kustomization.yaml": "namespace: team-a\nresources:\n- mixed.yaml\n- rbac.yaml\n",
        "mixed.yaml": MIXED.replace("  namespace: zeta\n", "").replace(
            "kind: ConfigMap\nmetadata:\n  name: cm\n  namespace: alpha\n",
            "kind: ConfigMap\nmetadata:\n  name: cm2\n  namespace: alpha\n",
        ),
        "rbac.yaml": SA_RBAC,
    },
    "prefix_suffix_references": {
        "kustomization.yaml": (
            "namePrefix: p-\nnameSuffix: -s\nresources:\n- deploy.yaml\n- cm.yaml\n"
            "- rbac.yaml\n- extra.yaml\n"
        ),
        "deploy.yaml": DEPLOY,
        "cm.yaml": CONFIG,
        "rbac.yaml": SA_RBAC,
        "extra.yaml": """\
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
type: Opaque
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: web-data
spec:
  accessModes: [ReadWriteOnce]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
""",
    },
    "common_labels": {
        "kustomization.yaml": "commonLabels:\n  team: core\n  tier: '1'\nresources:\n- deploy.yaml\n- service.yaml\n- mixed.yaml\n",
        "deploy.yaml": DEPLOY,
        "service.yaml": SERVICE,
        "mixed.yaml": MIXED,
    },
    "labels_without_selectors": {
        "kustomization.yaml": "labels:\n- pairs:\n    team: core\nresources:\n- deploy.yaml\n- service.yaml\n",
        "deploy.yaml": DEPLOY,
        "service.yaml": SERVICE,
    },
    "labels_include_selectors": {
        "kustomization.yaml": "labels:\n- pairs:\n    team: core\n  includeSelectors: true\nresources:\n- deploy.yaml\n- service.yaml\n",
        "deploy.yaml": DEPLOY,
        "service.yaml": SERVICE,
    },
    "labels_include_templates": {
        "kustomization.yaml": "labels:\n- pairs:\n    team: core\n  includeTemplates: true\nresources:\n- deploy.yaml\n- mixed.yaml\n",
        "deploy.yaml": DEPLOY,
        "mixed.yaml": MIXED,
    },
    "common_annotations": {
        "kustomization.yaml": "commonAnnotations:\n  owner: 'team core'\n  note: 'yes'\nresources:\n- deploy.yaml\n- mixed.yaml\n",
        "deploy.yaml": DEPLOY,
        "mixed.yaml": MIXED,
    },
    "images_all_forms": {
        "kustomization.yaml": """\
resources:
- pods.yaml
images:
- name: nginx
  newTag: "1.27"
- name: busybox
  newName: registry.local:5000/tools/busybox
- name: postgres
  digest: sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3
- name: redis
  newName: cache
  newTag: v7
  digest: sha256:aaaa
""",
        "pods.yaml": """\
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  initContainers:
  - name: init
    image: busybox:1.36
  containers:
  - name: a
    image: nginx
  - name: b
    image: nginx:1.25@sha256:1111
  - name: c
    image: postgres:16
  - name: d
    image: redis:6
  - name: e
    image: nginx-other:1
---
apiVersion: example.com/v1
kind: Runner
metadata:
  name: r
spec:
  deep:
    containers:
    - name: x
      image: nginx:old
""",
    },
    "replicas": {
        "kustomization.yaml": "resources:\n- deploy.yaml\n- mixed.yaml\nreplicas:\n- name: web\n  count: 3\n- name: db\n  count: 2\n",
        "deploy.yaml": DEPLOY,
        "mixed.yaml": MIXED,
    },
    "smp_patch_file": {
        "kustomization.yaml": "resources:\n- deploy.yaml\npatches:\n- path: patch.yaml\n",
        "deploy.yaml": DEPLOY,
        "patch.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    patched: "true"
spec:
  replicas: 4
  template:
    spec:
      containers:
      - name: sidecar
        image: envoy:1
      - name: web
        env:
        - name: EXTRA
          value: "1"
        resources:
          limits:
            memory: 128Mi
        ports:
        - containerPort: 80
          name: http
""",
    },
    "smp_delete_directives": {
        "kustomization.yaml": "resources:\n- deploy.yaml\n- cm.yaml\npatches:\n- path: patch.yaml\n",
        "deploy.yaml": DEPLOY,
        "cm.yaml": CONFIG,
        "patch.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: null
spec:
  template:
    spec:
      volumes:
      - name: data
        $patch: delete
      containers:
      - name: web
        envFrom: null
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
$patch: delete
""",
    },
    "smp_inline_with_target": {
        "kustomization.yaml": """\
resources:
- deploy.yaml
- mixed.yaml
patches:
- target:
    kind: Deployment|StatefulSet
  patch: |-
    apiVersion: apps/v1
    kind: Whatever
    metadata:
      name: ignored
    spec:
      template:
        spec:
          nodeSelector:
            disk: ssd
""",
        "deploy.yaml": DEPLOY,
        "mixed.yaml": MIXED,
    },
    "json6902_inline": {
        "kustomization.yaml": """\
resources:
- deploy.yaml
patches:
- target:
    group: apps
    version: v1
    kind: Deployment
    name: web
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 5
    - op: add
      path: /spec/template/spec/containers/0/args
      value: ["--verbose", "--port=80"]
    - op: remove
      path: /metadata/labels
    - op: add
      path: /metadata/annotations
      value:
        added: "yes"
""",
        "deploy.yaml": DEPLOY,
    },
    "json6902_file_json": {
        "kustomization.yaml": "resources:\n- service.yaml\npatches:\n- path: ops.json\n  target:\n    kind: Service\n",
        "service.yaml": SERVICE,
        "ops.json": '[{"op": "add", "path": "/spec/type", "value": "NodePort"}, '
        '{"op": "copy", "from": "/metadata/name", "path": "/spec/externalName"}]',
    },
    "target_label_and_annotation_selectors": {
        "kustomization.yaml": """\
resources:
- cms.yaml
patches:
- target:
    kind: ConfigMap
    labelSelector: "tier in (front,back),!legacy"
  patch: |-
    - op: add
      path: /data/selected
      value: label
- target:
    annotationSelector: "owner=ops"
  patch: |-
    - op: add
      path: /data/byannotation
      value: "1"
- target:
    name: "cm-[ab]"
    namespace: default
  patch: |-
    - op: add
      path: /data/regex
      value: "1"
""",
        "cms.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-a
  labels: {tier: front}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-b
  labels: {tier: back, legacy: "true"}
  annotations: {owner: ops}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-c
  labels: {tier: middle}
data: {k: v}
""",
    },
    "patches_strategic_merge_legacy": {
        "kustomization.yaml": """\
resources:
- deploy.yaml
- service.yaml
patchesStrategicMerge:
- patch.yaml
- |-
  apiVersion: v1
  kind: Service
  metadata:
    name: web
  spec:
    type: LoadBalancer
""",
        "deploy.yaml": DEPLOY,
        "service.yaml": SERVICE,
        "patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n",
    },
    "patches_json6902_legacy": {
        "kustomization.yaml": """\
resources:
- deploy.yaml
patchesJson6902:
- target:
    group: apps
    version: v1
    kind: Deployment
    name: web
  path: ops.yaml
""",
        "deploy.yaml": DEPLOY,
        "ops.yaml": "- op: replace\n  path: /spec/template/spec/containers/0/image\n  value: nginx:2\n",
    },
    "configmap_generator_hash": {
        "kustomization.yaml": """\
resources:
- deploy.yaml
configMapGenerator:
- name: web-config
  literals:
  - mode=prod
  - quoted="a b"
  - empty=
  files:
  - app.properties
  - custom-key=settings.txt
  envs:
  - vars.env
""",
        "deploy.yaml": DEPLOY,
        "app.properties": "color=blue\nsize=10\n",
        "settings.txt": "line one\nline two <b>&</b>\n",
        "vars.env": "# comment\nFOO=bar\n\n  SPACED=ok\nURL=http://x?a=1&b=2\n",
    },
    "secret_generator": {
        "kustomization.yaml": """\
resources:
- deploy.yaml
secretGenerator:
- name: web-secret
  literals:
  - password=s3cret
  - user=admin
- name: tls
  type: kubernetes.io/tls
  files:
  - tls.crt
  - tls.key
""",
        "deploy.yaml": DEPLOY,
        "tls.crt": "CERT\n",
        "tls.key": "KEY\n",
    },
    "generator_options": {
        "kustomization.yaml": """\
generatorOptions:
  disableNameSuffixHash: true
  labels:
    generated: "yes"
  annotations:
    note: from-options
configMapGenerator:
- name: plain
  literals: [a=1]
- name: hashed
  literals: [b=2]
  options:
    disableNameSuffixHash: false
    labels:
      extra: local
secretGenerator:
- name: s
  literals: [c=3]
  options:
    immutable: true
""",
    },
    "generator_merge_replace": {
        "kustomization.yaml": """\
resources:
- ../base
namePrefix: o-
configMapGenerator:
- name: settings
  behavior: merge
  literals:
  - level=debug
  - extra=1
- name: other
  behavior: replace
  literals:
  - only=this
""",
        "../base/kustomization.yaml": """\
resources:
- deploy.yaml
namePrefix: b-
configMapGenerator:
- name: settings
  literals:
  - level=info
  - keep=me
- name: other
  literals:
  - gone=1
""",
        "../base/deploy.yaml": DEPLOY.replace("name: web-config", "name: settings"),
    },
    "generator_binary_file": {
        "kustomization.yaml": "configMapGenerator:\n- name: bin\n  files:\n  - blob.bin\n",
        "blob.bin": "BINARY_PLACEHOLDER",
    },
    "components": {
        "kustomization.yaml": "resources:\n- deploy.yaml\ncomponents:\n- ../comp\nnamePrefix: app-\n",
        "deploy.yaml": DEPLOY,
        "../comp/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources:
- extra.yaml
configMapGenerator:
- name: comp-config
  literals: [feature=on]
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      template:
        spec:
          containers:
          - name: web
            envFrom:
            - configMapRef:
                name: comp-config
commonLabels:
  component: extra
""",
        "../comp/extra.yaml": SERVICE,
    },
    "replacements_inline": {
        "kustomization.yaml": """\
resources:
- deploy.yaml
- cm.yaml
replacements:
- source:
    kind: ConfigMap
    name: web-config
    fieldPath: data.port
  targets:
  - select:
      kind: Deployment
    fieldPaths:
    - spec.template.spec.containers.[name=web].ports.0.containerPort
    - spec.template.metadata.annotations.port
    options:
      create: true
- source:
    kind: Deployment
    name: web
    fieldPath: spec.template.spec.containers.[name=web].image
    options:
      delimiter: ":"
      index: 1
  targets:
  - select:
      kind: ConfigMap
    fieldPaths:
    - data.version
    options:
      create: true
""",
        "deploy.yaml": DEPLOY,
        "cm.yaml": CONFIG,
    },
    "replacements_from_file": {
        "kustomization.yaml": "resources:\n- deploy.yaml\n- service.yaml\nreplacements:\n- path: repl.yaml\n",
        "deploy.yaml": DEPLOY,
        "service.yaml": SERVICE,
        "repl.yaml": """\
source:
  kind: Service
  name: web
targets:
- select:
    kind: Deployment
  fieldPaths:
  - spec.template.spec.containers.0.image
  options:
    delimiter: ":"
    index: 0
""",
    },
    "folder_resources_nested_twice": {
        "kustomization.yaml": "resources:\n- a\n- b\nnameSuffix: -top\n",
        "a/kustomization.yaml": "resources:\n- ../c\nnamePrefix: a-\n",
        "b/kustomization.yaml": "resources:\n- svc.yaml\nnamespace: bns\n",
        "b/svc.yaml": SERVICE,
        "c/kustomization.yaml": "resources:\n- cm.yaml\ncommonLabels:\n  from: c\n",
        "c/cm.yaml": CONFIG,
    },
    "yaml_scalars_and_quoting": {
        "kustomization.yaml": "resources:\n- weird.yaml\n",
        "weird.yaml": """\
# leading comment
apiVersion: example.com/v1
kind: Thing
metadata:
  name: weird   # trailing comment
  annotations:
    a/on: "on"
    b/yes: 'yes'
    c/num: "0123"
    d/date: "2024-01-02"
    e/float: "1.50"
    f/long: "a long annotation value that certainly goes beyond the eighty column width of the emitter"
    g/colon: "key: value"
    h/hash: "#tag"
    i/multiline: |
      line one
      line two
    j/star: "*"
spec:
  int: 0x10
  oct: 0o17
  float: 2.50
  exp: 1e3
  bools: [true, False, yes, no, on, off]
  nulls: [~, null, ""]
  empty_map: {}
  empty_list: []
  nested:
  - - a
    - b
  - {k: v}
  unicode: "héllo wörld"
  tab: "a\\tb"
  alias: &anchor
    x: 1
  ref: *anchor
""",
    },
    "list_kind_expanded": {
        "kustomization.yaml": "resources:\n- list.yaml\n",
        "list.yaml": """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: one
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: two
""",
    },
    "empty_documents_skipped": {
        "kustomization.yaml": "resources:\n- docs.yaml\n",
        "docs.yaml": "---\n# only a comment\n---\n" + CONFIG + "---\n---\n",
    },
    "namespace_with_generators_and_refs": {
        "kustomization.yaml": """\
namespace: shop
resources:
- deploy.yaml
- rbac.yaml
configMapGenerator:
- name: web-config
  literals: [a=b]
secretGenerator:
- name: web-secret
  literals: [password=x]
""",
        "deploy.yaml": DEPLOY,
        "rbac.yaml": SA_RBAC,
    },
    "sort_fifo": {
        "kustomization.yaml": "sortOptions:\n  order: fifo\nresources:\n- mixed.yaml\n",
        "mixed.yaml": MIXED,
    },
    "sort_legacy_custom": {
        "kustomization.yaml": """\
sortOptions:
  order: legacy
  legacySortOptions:
    orderFirst: [Widget, ConfigMap]
    orderLast: [Namespace]
resources:
- mixed.yaml
""",
        "mixed.yaml": MIXED,
    },
    "ingress_and_statefulset_refs": {
        "kustomization.yaml": "namePrefix: x-\nresources:\n- res.yaml\n",
        "res.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: db
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  tls:
  - secretName: tls
  rules:
  - http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: db
            port:
              number: 80
---
apiVersion: v1
kind: Secret
metadata:
  name: tls
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: postgres
""",
    },
    "cronjob_job_daemonset_labels": {
        "kustomization.yaml": "commonLabels:\n  env: dev\ncommonAnnotations:\n  a: b\nresources:\n- res.yaml\n",
        "res.yaml": """\
apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: x, image: busybox}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers: [{name: x, image: busybox}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: np
spec:
  podSelector:
    matchLabels: {app: agent}
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: web}
""",
        "mixed.yaml": MIXED,
    },
    "patch_service_ports_by_port": {
        "kustomization.yaml": "resources:\n- service.yaml\npatches:\n- patch: |-\n    apiVersion: v1\n    kind: Service\n    metadata:\n      name: web\n    spec:\n      ports:\n      - port: 443\n        targetPort: 8443\n      - port: 80\n        name: http\n",
        "service.yaml": SERVICE,
    },
    "patch_replace_directive": {
        "kustomization.yaml": """\
resources:
- deploy.yaml
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      template:
        spec:
          containers:
          - $patch: replace
          - name: only
            image: alpine
          volumes:
          - name: config
            configMap:
              $patch: replace
              name: replaced
""",
        "deploy.yaml": DEPLOY,
    },
    "custom_resource_lists_replaced": {
        "kustomization.yaml": "resources:\n- cr.yaml\npatches:\n- path: p.yaml\n",
        "cr.yaml": "apiVersion: example.com/v1\nkind: Foo\nmetadata:\n  name: foo\n  finalizers: [a]\nspec:\n  items:\n  - name: a\n    v: 1\n  - name: b\n",
        "p.yaml": "apiVersion: example.com/v1\nkind: Foo\nmetadata:\n  name: foo\n  finalizers: [b]\nspec:\n  items:\n  - name: c\n  extra: {x: 1}\n",
    },
    "namespace_transformer_cluster_scoped": {
        "kustomization.yaml": "namespace: ns1\nresources:\n- res.yaml\n",
        "res.yaml": """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cr
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: fast
provisioner: x
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv
spec:
  storageClassName: fast
---
apiVersion: example.com/v1
kind: Custom
metadata:
  name: c
  namespace: other
""",
    },
    "hash_references_in_many_kinds": {
        "kustomization.yaml": """\
resources:
- workloads.yaml
configMapGenerator:
- name: app-config
  literals: [x=1]
secretGenerator:
- name: app-secret
  literals: [y=2]
""",
        "workloads.yaml": """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: cj
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: c
            image: busybox
            envFrom:
            - secretRef: {name: app-secret}
          volumes:
          - name: v
            projected:
              sources:
              - configMap: {name: app-config}
              - secret: {name: app-secret}
---
apiVersion: v1
kind: Pod
metadata:
  name: pod
spec:
  imagePullSecrets:
  - name: app-secret
  containers:
  - name: c
    image: busybox
    env:
    - name: X
      valueFrom:
        configMapKeyRef: {name: app-config, key: x}
    - name: OTHER
      valueFrom:
        configMapKeyRef: {name: not-generated, key: x}
""",
    },
}

CASES.update(
    {
        "labels_custom_fields_and_null_maps": {
            "kustomization.yaml": """\
resources:
- res.yaml
labels:
- pairs:
    app.kubernetes.io/part-of: shop
  fields:
  - path: spec/selectorLabels
    kind: Widget
    create: true
- pairs:
    stage: "2"
  includeTemplates: true
""",
            "res.yaml": """\
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
  labels:
spec: {}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  annotations:
spec:
  template:
    metadata: {}
    spec:
      containers: []
""",
        },
        "generator_namespace_and_env_file": {
            "kustomization.yaml": """\
namespace: top
resources:
- deploy.yaml
configMapGenerator:
- name: web-config
  namespace: elsewhere
  env: app.env
- name: other-config
  envs:
  - app.env
  - more.env
""",
            "deploy.yaml": DEPLOY,
            "app.env": "\ufeffA=1\nB=two words\n",
            "more.env": "C=3\n#D=4\n",
        },
        "components_patch_base_by_original_name": {
            "kustomization.yaml": "resources:\n- ../base\ncomponents:\n- ../comp\nnamespace: ovl\n",
            "../base/kustomization.yaml": "resources:\n- deploy.yaml\nnamePrefix: base-\n",
            "../base/deploy.yaml": DEPLOY,
            "../comp/kustomization.yaml": """\
kind: Component
patches:
- target:
    kind: Deployment
    name: web
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/env/-
      value: {name: FROM_COMPONENT, value: "1"}
images:
- name: nginx
  newTag: "2.0"
""",
        },
        "bases_field_and_namespace_patch": {
            "kustomization.yaml": """\
bases:
- ../base
patches:
- patch: |-
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: web-config
    data:
      extra: "1"
""",
            "../base/kustomization.yaml": "resources:\n- cm.yaml\n",
            "../base/cm.yaml": CONFIG,
        },
        "json6902_test_move_and_escapes": {
            "kustomization.yaml": """\
resources:
- cm.yaml
patches:
- target: {kind: ConfigMap, name: web-config}
  patch: |-
    - op: test
      path: /data/mode
      value: "on"
    - op: move
      from: /data/port
      path: /data/listen
    - op: add
      path: /metadata/annotations
      value: {}
    - op: add
      path: /metadata/annotations/example.com~1role
      value: primary
""",
            "cm.yaml": CONFIG,
        },
        "replacements_reject_and_wildcards": {
            "kustomization.yaml": """\
resources:
- res.yaml
replacements:
- source:
    kind: ConfigMap
    name: source
    fieldPath: data.image
  targets:
  - select:
      kind: Deployment
    reject:
    - name: skip
    fieldPaths:
    - spec.template.spec.containers.*.image
""",
            "res.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: source
data:
  image: registry.local/app:9
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: take
spec:
  template:
    spec:
      containers:
      - {name: a, image: x}
      - {name: b, image: y}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: skip
spec:
  template:
    spec:
      containers:
      - {name: a, image: x}
""",
        },
        "build_metadata_managed_by": {
            "kustomization.yaml": "buildMetadata: [managedByLabel]\nresources:\n- cm.yaml\n",
            "cm.yaml": CONFIG,
        },
        "secret_resources_and_generated_secret_refs": {
            "kustomization.yaml": """\
namePrefix: s-
resources:
- res.yaml
secretGenerator:
- name: registry
  type: kubernetes.io/dockerconfigjson
  literals:
  - .dockerconfigjson={"auths":{}}
""",
            "res.yaml": """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: builder
imagePullSecrets:
- name: registry
---
apiVersion: v1
kind: Secret
metadata:
  name: plain
stringData:
  password: hunter2
""",
        },
    }
)

CASES["ordering_ties_by_group_namespace_name"] = {
    "kustomization.yaml": "resources:\n- r.yaml\n",
    "r.yaml": """\
apiVersion: z.io/v1
kind: Alpha
metadata: {name: a}
---
apiVersion: a.io/v1
kind: Beta
metadata: {name: b}
---
apiVersion: a.io/v2
kind: Beta
metadata: {name: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: z}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: y, namespace: default}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
---
apiVersion: example.com/v1
kind: ConfigMap
metadata: {name: fake}
""",
}

CASES["transformer_order_in_one_layer"] = {
    "kustomization.yaml": """\
resources: [r.yaml]
commonLabels: {team: x}
namePrefix: p-
namespace: ns
replicas:
- name: web
  count: 2
images:
- name: nginx
  newTag: "9"
patches:
- target: {labelSelector: team=x}
  patch: |-
    - op: add
      path: /metadata/annotations
      value: {bylabel: "1"}
- target: {name: p-web}
  patch: |-
    - op: add
      path: /spec/paused
      value: true
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      replicas: 5
      template:
        spec:
          containers:
          - name: web
            image: nginx:2
patchesJson6902:
- target: {group: apps, version: v1, kind: Deployment, name: web}
  patch: |-
    - op: add
      path: /metadata/labels/viajson
      value: "yes"
    - op: replace
      path: /spec/replicas
      value: 7
""",
    "r.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx:1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-values
  annotations:
    config.kubernetes.io/local-config: "true"
data:
  tag: "9"
""",
}

CASES["smp_lists_with_schema_keys"] = {
    "kustomization.yaml": """\
resources: [r.yaml]
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      template:
        spec:
          containers:
          - name: web
            ports:
            - {containerPort: 80, protocol: TCP, name: web}
            - {containerPort: 81, protocol: UDP}
            env:
            - name: A
              valueFrom: {fieldRef: {fieldPath: metadata.name}}
            - name: B
              $patch: delete
            resources:
              $patch: replace
              requests: {cpu: 2}
          volumes:
          - name: v
            emptyDir: null
            configMap: {name: c}
          tolerations:
          - {key: b, operator: Exists}
- patch: |-
    apiVersion: v1
    kind: Service
    metadata:
      name: svc
    spec:
      ports:
      - {port: 443, targetPort: 8443}
      - {port: 8080, name: alt}
""",
    "r.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - {containerPort: 80, protocol: TCP, name: http}
        - {containerPort: 90, protocol: TCP, name: other}
        env:
        - {name: A, value: x}
        - {name: B, value: y}
        resources:
          limits: {cpu: 1}
      volumes:
      - name: v
        emptyDir: {}
      tolerations:
      - {key: a, operator: Exists}
---
apiVersion: v1
kind: Service
metadata:
  name: svc
spec:
  ports:
  - {port: 80, name: http}
  - {port: 443, name: https}
""",
}

CASES["smp_ports_partly_multi_key"] = {
    "kustomization.yaml": """\
resources: [r.yaml]
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      template:
        spec:
          containers:
          - name: web
            ports:
            - {containerPort: 70, name: c2}
            - {containerPort: 81, protocol: UDP, name: new}
            - {containerPort: 71, name: new2}
""",
    "r.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - {containerPort: 60, name: a}
        - {containerPort: 70, name: c}
""",
}

CASES["smp_ports_multi_key_reorder"] = {
    "kustomization.yaml": """\
resources: [r.yaml]
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      template:
        spec:
          containers:
          - name: web
            ports:
            - {containerPort: 90, protocol: TCP, name: b2}
            - {containerPort: 82, protocol: TCP, name: new}
            - {containerPort: 80, protocol: TCP, name: a2}
            - {containerPort: 70, name: c2}
            - {containerPort: 60, name: d}
""",
    "r.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - {containerPort: 80, protocol: TCP, name: a}
        - {containerPort: 90, protocol: TCP, name: b}
        - {containerPort: 70, name: c}
""",
}

CASES["generator_merge_into_plain_and_unhashed"] = {
    "kustomization.yaml": (
        "resources: [../ov]\nconfigMapGenerator:\n- name: cm2\n  behavior: merge\n"
        "  literals: [w=4]\n- name: g\n  behavior: merge\n  literals: [c=3]\n"
        "  options: {disableNameSuffixHash: true}\n"
    ),
    "../ov/kustomization.yaml": (
        "resources: [../base]\nconfigMapGenerator:\n- name: cm\n  behavior: merge\n"
        "  literals: [y=2]\n- name: cm2\n  literals: [z=3]\n"
        "  options: {disableNameSuffixHash: true}\n- name: g\n  literals: [a=1]\n"
    ),
    "../base/kustomization.yaml": "resources: [cm.yaml]\n",
    "../base/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels: {a: b}\n"
        'data:\n  x: "1"\n'
    ),
}
