{{/* Names and labels. */}}
{{- define "watchtower.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "watchtower.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Common labels; pass (dict "ctx" $ "component" "cluster"|"node"|"") */}}
{{- define "watchtower.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "watchtower.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: watchtower
{{- end -}}

{{- define "watchtower.selectorLabels" -}}
app.kubernetes.io/name: {{ include "watchtower.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{- define "watchtower.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "watchtower.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "watchtower.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "watchtower.stateConfigMapName" -}}
{{- printf "%s-state" (include "watchtower.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Where a referenced Secret is mounted; pass (dict "which" "grafana-token" "ref" .Values.secrets.grafanaToken) */}}
{{- define "watchtower.secretFile" -}}
{{- printf "/etc/watchtower/secrets/%s/%s" .which .ref.key -}}
{{- end -}}

{{/*
The watchtower config for one role, as YAML: preset → config.common → <role>.config.
Pass (dict "ctx" $ "role" "cluster"|"node").
*/}}
{{- define "watchtower.config" -}}
{{- $v := .ctx.Values -}}
{{- $cfg := dict "log" (dict "level" $v.log.level "format" $v.log.format) -}}
{{- if $v.cluster }}{{- $_ := set $cfg "cluster" $v.cluster -}}{{- end -}}
{{- $_ := set $cfg "server" (dict "listen" (printf "0.0.0.0:%d" (int $v.port))) -}}
{{- $cp := dict -}}
{{- with $v.controlPlane.endpoint }}{{- $_ := set $cp "endpoint" . -}}{{- end -}}
{{- with $v.controlPlane.vips }}{{- $_ := set $cp "vips" . -}}{{- end -}}
{{- with $v.controlPlane.apiservers }}{{- $_ := set $cp "apiservers" . -}}{{- end -}}
{{- if $cp }}{{- $_ := set $cfg "control_plane" $cp -}}{{- end -}}
{{- $preset := include (printf "watchtower.preset.%s" .role) .ctx | fromYaml -}}
{{- $cfg = mustMergeOverwrite $cfg $preset (deepCopy $v.config.common) -}}
{{- if eq .role "cluster" -}}
{{- $cfg = mustMergeOverwrite $cfg (deepCopy $v.deployment.config) -}}
{{- else -}}
{{- $cfg = mustMergeOverwrite $cfg (deepCopy $v.daemonSet.config) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/*
Role presets: which collectors each role runs and with which sources. A collector that belongs
to the other role is switched off explicitly (enabled: false), so `enabled: auto` never makes
both roles collect the same thing twice.
*/}}
{{- define "watchtower.preset.cluster" -}}
collectors:
  # HAProxy runs on each control-plane node: the DaemonSet reads its local stats.
  haproxy: {enabled: false}
  # "Is the VIP on my interfaces" only means something on the control-plane nodes.
  vip: {enabled: false}
{{- end -}}

{{- define "watchtower.preset.node" -}}
collectors:
  # enabled: auto: runs once daemonSet.config sets stats_url (hostNetwork reaches 127.0.0.1) or
  # stats_socket (mount its directory with daemonSet.extraHostPaths; read-only works for sockets).
  haproxy: {}
  # The cluster Deployment probes every apiserver and the VIP once; N nodes doing it too would
  # multiply series and alerts.
  apiserver: {enabled: false}
  # enabled: auto: runs when controlPlane.vips is set (hostNetwork shows the node's addresses,
  # read over netlink). keepalived state: mount its notify-state directory read-only with
  # daemonSet.extraHostPaths and set keepalived_notify_files in daemonSet.config.
  vip: {}
{{- end -}}

{{/* Secret references that are set: list of (dict "which" mount-dir "ref" {name,key}). */}}
{{- define "watchtower.secretRefs" -}}
{{- $refs := list -}}
{{- range $which, $ref := dict "grafana-token" .Values.secrets.grafanaToken "slack-webhook-url" .Values.secrets.slackWebhookUrl "smtp-password" .Values.secrets.smtpPassword -}}
{{- if $ref.name -}}
{{- $refs = append $refs (dict "which" $which "ref" $ref) -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "refs" $refs) -}}
{{- end -}}

{{/*
The watchtower container, shared by both roles. Pass (dict "ctx" $ "role" "cluster"|"node").
Read-only root filesystem, no capabilities, no privilege escalation; /tmp is an emptyDir.
*/}}
{{- define "watchtower.container" -}}
{{- $v := .ctx.Values -}}
name: watchtower
image: {{ include "watchtower.image" .ctx | quote }}
imagePullPolicy: {{ $v.image.pullPolicy }}
args: [run, --config, /etc/watchtower/config.yaml]
ports:
  - name: http
    containerPort: {{ $v.port }}
    protocol: TCP
livenessProbe:
  httpGet: {path: /healthz, port: http}
  initialDelaySeconds: 5
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 2
  failureThreshold: 30
securityContext:
  allowPrivilegeEscalation: false
  privileged: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
resources:
  {{- toYaml (ternary $v.deployment.resources $v.daemonSet.resources (eq .role "cluster")) | nindent 2 }}
volumeMounts:
  - name: config
    mountPath: /etc/watchtower/config.yaml
    subPath: config.yaml
    readOnly: true
  - name: tmp
    mountPath: /tmp
{{- if eq .role "cluster" }}
{{- range (include "watchtower.secretRefs" .ctx | fromYaml).refs }}
  - name: secret-{{ .which }}
    mountPath: /etc/watchtower/secrets/{{ .which }}
    readOnly: true
{{- end }}
{{- else }}
  - name: host-kubernetes
    mountPath: {{ $v.daemonSet.hostPaths.kubernetes }}
    readOnly: true
    recursiveReadOnly: IfPossible
  - name: host-kubelet-pki
    mountPath: {{ $v.daemonSet.hostPaths.kubeletPki }}
    readOnly: true
    recursiveReadOnly: IfPossible
{{- range $v.daemonSet.extraHostPaths }}
  - name: host-{{ .name }}
    mountPath: {{ .path }}
    readOnly: true
    recursiveReadOnly: IfPossible
{{- end }}
{{- end }}
{{- end -}}

{{/* The pod-level security context. Pass (dict "ctx" $ "role" ...). See values.yaml daemonSet.readRootOnlyFiles. */}}
{{- define "watchtower.podSecurityContext" -}}
{{- if and (eq .role "node") .ctx.Values.daemonSet.readRootOnlyFiles -}}
runAsNonRoot: false
runAsUser: 0
runAsGroup: 0
{{- else -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
{{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}
