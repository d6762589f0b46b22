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
{{- $server := dict "listen" (printf "0.0.0.0:%d" (int $v.port)) -}}
{{- with $v.metricsAuth.secretName -}}
{{- $_ := set $server "basic_auth" (dict "username" $v.metricsAuth.username "password_file" "/etc/watchtower/secrets/metrics-auth/password") -}}
{{- end -}}
{{- $_ := set $cfg "server" $server -}}
{{- $cp := dict -}}
{{- with $v.controlPlane.endpoint }}{{- $_ := set $cp "endpoint" . -}}{{- end -}}
{{- with $v.controlPlane.vips }}{{- $_ := set $cp "vips" . -}}{{- end -}}
{{- with $v.controlPlane.apiservers }}{{- $_ := set $cp "apiservers" . -}}{{- end -}}
{{- if $cp }}{{- $_ := set $cfg "control_plane" $cp -}}{{- end -}}
{{- $preset := include (printf "watchtower.preset.%s" .role) .ctx | fromYaml -}}
{{- if hasKey $preset "Error" }}{{ fail (printf "preset %s: %s" .role $preset.Error) }}{{ end -}}
{{- /* files/collectors.yaml (generated from the registry): off in the roles a collector does not list */ -}}
{{- $collectors := $preset.collectors | default dict -}}
{{- range $name, $c := (.ctx.Files.Get "files/collectors.yaml" | fromYaml).collectors -}}
{{- if not (has $.role $c.roles) -}}
{{- $_ := set $collectors $name (dict "enabled" false) -}}
{{- else if not (hasKey $collectors $name) -}}
{{- $_ := set $collectors $name dict -}}
{{- end -}}
{{- end -}}
{{- $_ := set $preset "collectors" $collectors -}}
{{- $cfg = mustMergeOverwrite $cfg $preset (deepCopy $v.config.common) -}}
{{- if eq .role "cluster" -}}
{{- $cfg = mustMergeOverwrite $cfg (deepCopy $v.deployment.config) -}}
{{- else -}}
{{- $cfg = mustMergeOverwrite $cfg (deepCopy $v.daemonSet.config) -}}
{{- end -}}
{{- include "watchtower.pruneNulls" $cfg -}}
{{- end -}}

{{/*
A map as YAML without its null-valued keys, recursively: as in Helm values, `key: null` in
config.common / deployment.config / daemonSet.config removes that key from the preset (back to
watchtower's default), e.g. collectors.apiserver.token_file: null for anonymous probes.
*/}}
{{- define "watchtower.pruneNulls" -}}
{{- $out := dict -}}
{{- range $key, $value := . -}}
{{- if kindIs "map" $value -}}
{{- $_ := set $out $key (include "watchtower.pruneNulls" $value | fromYaml) -}}
{{- else if not (kindIs "invalid" $value) -}}
{{- $_ := set $out $key $value -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
Role presets: with which sources each role runs its collectors. Which collectors a role runs
comes from files/collectors.yaml (each collector's declared roles, generated from the registry):
"watchtower.config" switches the others off (enabled: false), so `enabled: auto` never makes
both roles collect the same thing twice. Keys are the collectors' own Settings fields;
tests/integration/test_helm_chart.py runs `watchtower config check` on every rendered config.
*/}}
{{- define "watchtower.preset.cluster" -}}
{{- $v := .Values -}}
{{- $addresses := list -}}
{{- range $v.controlPlane.apiservers }}{{ $addresses = append $addresses . }}{{ end -}}
{{- with $v.controlPlane.endpoint }}{{ $addresses = append $addresses . }}{{ end -}}
{{- $endpoints := list -}}
{{- range $addresses | uniq }}
{{- /* verified against the cluster CA, which the service account mount carries */ -}}
{{- $endpoints = append $endpoints (dict "address" . "ca_file" "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt") -}}
{{- end -}}
collectors:
  # Certificates as served (every apiserver and the control-plane endpoint, verified against
  # the cluster CA) and in TLS Secrets; the files on the nodes are the DaemonSet's.
  certs:
    kubeadm: false
    endpoints: {{ $endpoints | toJson }}
    secrets:
      enabled: {{ $v.tlsSecrets.enabled }}
      namespaces: {{ $v.tlsSecrets.namespaces | toJson }}
  # /livez, /readyz, /version of every apiserver, each VIP and the control-plane endpoint,
  # authenticated as watchtower's service account, TLS verified against the cluster CA.
  apiserver:
    ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    token_file: /var/run/secrets/kubernetes.io/serviceaccount/token
  nodes: {}
  upgrade:
    # /var/lib/watchtower: an emptyDir, or a PersistentVolumeClaim with deployment.persistence.
    state_file: /var/lib/watchtower/upgrade-state.json
  # API versions the next minors remove, still used by applied objects, Helm releases or clients.
  removed_apis:
    enabled: {{ $v.removedApis.enabled }}
    live_objects: {{ $v.removedApis.liveObjects }}
    apiserver_metrics: {{ $v.removedApis.apiserverMetrics }}
    helm_releases: {{ $v.removedApis.helmReleases.enabled }}
    helm_namespaces: {{ $v.removedApis.helmReleases.namespaces | toJson }}
  {{- if $v.grafana.provisioner.url }}
  grafana:
    enabled: true
    url: {{ $v.grafana.provisioner.url | quote }}
    # an object edited in Grafana is saved (file + a copy dashboard) before code's version is restored
    on_drift: backup
    backup_dir: /var/lib/watchtower/grafana-backups
    state_file: /var/lib/watchtower/grafana-state.json
    # dashboards and alert rules: the ones shipped inside the installed package
    {{- with $v.secrets.grafanaToken }}{{ if .name }}
    token_file: {{ include "watchtower.secretFile" (dict "which" "grafana-token" "ref" .) }}
    {{- end }}{{ end }}
    {{- with $v.secrets.slackWebhookUrl }}{{ if .name }}
    slack_webhook_file: {{ include "watchtower.secretFile" (dict "which" "slack-webhook-url" "ref" .) }}
    {{- end }}{{ end }}
  {{- else }}
  grafana: {enabled: false}
  {{- end }}
{{- end -}}

{{- define "watchtower.preset.node" -}}
{{- $v := .Values -}}
{{- $k8s := $v.daemonSet.hostPaths.kubernetes -}}
collectors:
  # kubeadm's PKI, kubeconfigs and kubelet certificates on this node (mounted read-only at the
  # host's paths; hostPath type Directory, so the pod does not start without them).
  certs:
    enabled: true
    kubeadm: true
    kubeadm_root: {{ $k8s | quote }}
    kubelet_pki_dir: {{ $v.daemonSet.hostPaths.kubeletPki | quote }}
  # Is the VIP on one of this node's interfaces (hostNetwork), and keepalived's account of it.
  vip: {}
  # The local etcd member.
  {{- if $v.daemonSet.readRootOnlyFiles }}
  etcd:
    endpoints: ["https://127.0.0.1:2379"]
    ca_file: {{ printf "%s/pki/etcd/ca.crt" $k8s | quote }}
    cert_file: {{ printf "%s/pki/etcd/healthcheck-client.crt" $k8s | quote }}
    key_file: {{ printf "%s/pki/etcd/healthcheck-client.key" $k8s | quote }}
  {{- else }}
  etcd:
    # Non-root cannot read the 0600 healthcheck-client key: kubeadm's plain metrics port instead.
    endpoints: ["http://127.0.0.1:2381"]
  {{- end }}
  # enabled: auto: runs once daemonSet.config sets stats_url (hostNetwork reaches 127.0.0.1) or
  # stats_socket (mount its directory with daemonSet.extraHostPaths; read-only works for sockets).
  haproxy: {}
{{- end -}}

{{/* Secret references that are set: list of (dict "which" mount-dir "ref" {name,key}). */}}
{{- define "watchtower.secretRefs" -}}
{{- $refs := list -}}
{{- range $which, $ref := dict "grafana-token" .Values.secrets.grafanaToken "slack-webhook-url" .Values.secrets.slackWebhookUrl -}}
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
{{- /* recursiveReadOnly exists from Kubernetes 1.30; older API servers (and server-side apply) reject it */ -}}
{{- $recursive := semverCompare ">=1.30.0-0" .ctx.Capabilities.KubeVersion.Version -}}
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
{{- if $v.metricsAuth.secretName }}
  - name: secret-metrics-auth
    mountPath: /etc/watchtower/secrets/metrics-auth
    readOnly: true
{{- end }}
{{- if eq .role "cluster" }}
  - name: state
    mountPath: /var/lib/watchtower
{{- range (include "watchtower.secretRefs" .ctx | fromYaml).refs }}
  - name: secret-{{ .which }}
    mountPath: /etc/watchtower/secrets/{{ .which }}
    readOnly: true
{{- end }}
{{- else }}
  - name: host-kubernetes
    mountPath: {{ $v.daemonSet.hostPaths.kubernetes }}
    readOnly: true
    {{- if $recursive }}
    recursiveReadOnly: IfPossible
    {{- end }}
  - name: host-kubelet-pki
    mountPath: {{ $v.daemonSet.hostPaths.kubeletPki }}
    readOnly: true
    {{- if $recursive }}
    recursiveReadOnly: IfPossible
    {{- end }}
{{- range $v.daemonSet.extraHostPaths }}
  - name: host-{{ .name }}
    mountPath: {{ .path }}
    readOnly: true
    {{- if $recursive }}
    recursiveReadOnly: IfPossible
    {{- end }}
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

{{/*
Alertmanager → AlertmanagerConfig (monitoring.coreos.com/v1alpha1) translation of the routing in
files/alertmanager/alertmanager.yaml (a synced copy of alerts/alertmanager.yaml, the source of
truth). Anything the translation does not know fails the render instead of being dropped.
*/}}
{{- define "watchtower.amMatchers" -}}
{{- $re := "^\\s*([a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!~|!=|=)\\s*\"(.*)\"\\s*$" -}}
{{- $out := list -}}
{{- range . -}}
{{- if not (regexMatch $re .) }}{{ fail (printf "alertmanager.yaml: matcher %q not understood" .) }}{{ end -}}
{{- $out = append $out (dict "name" (regexReplaceAll $re . "${1}") "matchType" (regexReplaceAll $re . "${2}") "value" (regexReplaceAll $re . "${3}")) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{- define "watchtower.amRoute" -}}
{{- $known := list "receiver" "group_by" "group_wait" "group_interval" "repeat_interval" "matchers" "routes" "continue" -}}
{{- range $key, $_ := . }}{{ if not (has $key $known) }}{{ fail (printf "alertmanager.yaml: route key %q has no AlertmanagerConfig translation" $key) }}{{ end }}{{ end -}}
{{- $r := dict "receiver" .receiver -}}
{{- range $from, $to := dict "group_by" "groupBy" "group_wait" "groupWait" "group_interval" "groupInterval" "repeat_interval" "repeatInterval" "continue" "continue" -}}
{{- if hasKey $ $from }}{{ $_ := set $r $to (get $ $from) }}{{ end -}}
{{- end -}}
{{- with .matchers }}{{ $_ := set $r "matchers" (include "watchtower.amMatchers" . | fromJsonArray) }}{{ end -}}
{{- with .routes -}}
{{- $children := list -}}
{{- range . }}{{ $children = append $children (include "watchtower.amRoute" . | fromYaml) }}{{ end -}}
{{- $_ := set $r "routes" $children -}}
{{- end -}}
{{- toYaml $r -}}
{{- end -}}

{{- define "watchtower.amInhibitRules" -}}
{{- $out := list -}}
{{- range . -}}
{{- range $key, $_ := . }}{{ if not (has $key (list "source_matchers" "target_matchers" "equal")) }}{{ fail (printf "alertmanager.yaml: inhibit rule key %q has no AlertmanagerConfig translation" $key) }}{{ end }}{{ end -}}
{{- $rule := dict "sourceMatch" (include "watchtower.amMatchers" .source_matchers | fromJsonArray) "targetMatch" (include "watchtower.amMatchers" .target_matchers | fromJsonArray) -}}
{{- with .equal }}{{ $_ := set $rule "equal" . }}{{ end -}}
{{- $out = append $out $rule -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* The metrics basic-auth password volume (both roles); only the `password` key is projected. */}}
{{- define "watchtower.metricsAuthVolume" -}}
{{- with .Values.metricsAuth.secretName }}
- name: secret-metrics-auth
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: password
        path: password
{{- end }}
{{- end -}}
