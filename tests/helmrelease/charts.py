"""Charts the HelmRelease tests release, written in the test and packaged by Helm itself.

`podinfo_chart` is shaped like stefanprodan/podinfo for the seed's values
(``replicaCount``, ``resources``, ``ui.message``); options add what the
remediation tests need: a pod template the simulated scheduler never binds
(``schedulerName``, so Helm's wait times out and the release fails), hooks
that record their order, and a test hook.
"""

from __future__ import annotations

from pathlib import Path

from sluice.helmsdk import helm

CHART_YAML = """apiVersion: v2
name: {name}
version: {version}
appVersion: "{version}"
"""

VALUES = """replicaCount: 1
image:
  repository: ghcr.io/stefanprodan/podinfo
  tag: "{version}"
ui:
  message: ""
resources: {{}}
schedulerName: ""
"""

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      {{- if .Values.schedulerName }}
      schedulerName: {{ .Values.schedulerName }}
      {{- end }}
      containers:
        - name: podinfod
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          env:
            - name: PODINFO_UI_MESSAGE
              value: {{ .Values.ui.message | quote }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
"""

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app: {{ .Release.Name }}
  ports:
    - port: 9898
"""

HOOK = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{{{ .Release.Name }}}}-{hook}-{weight}
  annotations:
    "helm.sh/hook": {hook}
    "helm.sh/hook-weight": "{weight}"
data:
  revision: "{{{{ .Release.Revision }}}}"
"""

TEST_HOOK = """apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    "helm.sh/hook": test
spec:
  restartPolicy: Never
  {{- if .Values.testSchedulerName }}
  schedulerName: {{ .Values.testSchedulerName }}
  {{- end }}
  containers:
    - name: wget
      image: busybox
      command: ["wget", "{{ .Release.Name }}:9898"]
"""


def podinfo_chart(dest: Path, version: str, *, name: str = "podinfo", hooks: bool = False,
                  test: bool = False) -> Path:
    """A packaged podinfo-like chart ``<name>-<version>.tgz`` under ``dest``."""
    src = dest / f"src-{name}-{version}" / name
    (src / "templates").mkdir(parents=True, exist_ok=True)
    (src / "Chart.yaml").write_text(CHART_YAML.format(name=name, version=version))
    (src / "values.yaml").write_text(VALUES.format(version=version))
    (src / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    (src / "templates" / "service.yaml").write_text(SERVICE)
    if hooks:
        for hook, weight in (("pre-install", 1), ("pre-install", 2), ("post-install", 1),
                             ("pre-upgrade", 1), ("post-upgrade", 1)):
            (src / "templates" / f"hook-{hook}-{weight}.yaml").write_text(
                HOOK.format(hook=hook, weight=weight))
    if test:
        (src / "templates" / "test.yaml").write_text(TEST_HOOK)
    dest.mkdir(parents=True, exist_ok=True)
    return Path(helm().package(src, destination=dest))
