{{/* The name of every object of the release. */}}
{{- define "haredis.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "haredis.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "haredis.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "haredis.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/*
A PodMonitor for one component of every RedisFailover the operator serves:
root (the chart's context), suffix (of its name), component (the pods'
app.kubernetes.io/component) and port (the name of their metrics port).
*/}}
{{- define "haredis.podMonitor" -}}
{{- $root := .root -}}
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: {{ include "haredis.fullname" $root }}-{{ .suffix }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "haredis.labels" $root | nindent 4 }}
    {{- with $root.Values.metrics.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: haredis
      app.kubernetes.io/component: {{ .component }}
      app.kubernetes.io/managed-by: haredis
  namespaceSelector:
    {{- if $root.Values.watchNamespaces }}
    matchNames:
      {{- toYaml $root.Values.watchNamespaces | nindent 6 }}
    {{- else }}
    any: true
    {{- end }}
  podMetricsEndpoints:
  - port: {{ .port }}
    path: /metrics
    interval: {{ $root.Values.metrics.serviceMonitor.interval }}
{{- end }}
