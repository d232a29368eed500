{{/* Name of the chart's objects: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "longshot.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "longshot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: longshot
{{- end -}}

{{/* Selector labels of one service; call with (dict "root" $ "name" "keyframe"). */}}
{{- define "longshot.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Image of one service; call with (dict "root" $ "svc" $svc). GPU services use the CUDA image. */}}
{{- define "longshot.image" -}}
{{- $repo := ternary .root.Values.image.cudaRepository .root.Values.image.repository (default false .svc.gpu) -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{/* Secret holding the NATS passwords and S3 keys. */}}
{{- define "longshot.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- printf "%s-credentials" (include "longshot.fullname" .) -}}
{{- end -}}
{{- end -}}
