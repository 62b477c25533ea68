{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "enricher.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name: release-chart, or the release name alone when it already holds the chart's. */}}
{{- define "enricher.fullname" -}}
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

{{- define "enricher.selectorLabels" -}}
app.kubernetes.io/name: {{ include "enricher.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "enricher.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "enricher.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: consumer
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "enricher.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "enricher.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "enricher.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "enricher.tenantsConfigMap" -}}
{{- default (printf "%s-tenants" (include "enricher.fullname" .)) .Values.tenants.existingConfigMap -}}
{{- end -}}

{{/* True when something other than replicaCount decides how many pods run. */}}
{{- define "enricher.autoscaled" -}}
{{- if or .Values.autoscaling.enabled .Values.keda.enabled -}}true{{- end -}}
{{- end -}}

{{- define "enricher.kedaMaxReplicas" -}}
{{- if .Values.keda.maxReplicaCount -}}
{{- .Values.keda.maxReplicaCount -}}
{{- else -}}
{{- .Values.kafka.partitions -}}
{{- end -}}
{{- end -}}

{{/* The Secret with the OIDC client secret, when OAUTHBEARER tokens come from OIDC. */}}
{{- define "enricher.oauthSecret" -}}
{{- $sasl := .Values.kafka.sasl -}}
{{- if and (eq $sasl.mechanism "OAUTHBEARER") (eq $sasl.oauth.provider "oidc") -}}
{{- $sasl.oauth.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "enricher.sqlitePath" -}}
{{- if .Values.ledger.sqlite.persistence.enabled -}}
/var/lib/enricher/ledger.sqlite3
{{- else -}}
/tmp/enricher-ledger.sqlite3
{{- end -}}
{{- end -}}

{{/* PromQL matcher for this release's series (the ServiceMonitor's job is the Service name). */}}
{{- define "enricher.promSelector" -}}
job="{{ include "enricher.fullname" . }}", namespace="{{ .Release.Namespace }}"
{{- end -}}

{{/*
Combinations the schema cannot express. Each one would otherwise deploy and then misbehave:
two SQLite ledgers that disagree, two autoscalers fighting over one Deployment, replicas with
no partition to consume, or a pod killed before it commits what it drained.
*/}}
{{- define "enricher.validate" -}}
{{- $v := .Values -}}
{{- if and $v.autoscaling.enabled $v.keda.enabled -}}
{{- fail "autoscaling.enabled and keda.enabled are mutually exclusive: KEDA manages its own HorizontalPodAutoscaler" -}}
{{- end -}}
{{- if eq $v.ledger.backend "sqlite" -}}
{{- if gt (int $v.replicaCount) 1 -}}
{{- fail "replicaCount > 1 needs ledger.backend=redis: each replica would keep its own SQLite ledger" -}}
{{- end -}}
{{- if or $v.autoscaling.enabled $v.keda.enabled -}}
{{- fail "autoscaling (HPA or KEDA) needs ledger.backend=redis: the SQLite ledger serves one replica" -}}
{{- end -}}
{{- end -}}
{{- $urlInExtraEnv := false -}}
{{- range $v.extraEnv -}}
{{- if eq .name "ENRICHER_LEDGER_URL" -}}{{- $urlInExtraEnv = true -}}{{- end -}}
{{- end -}}
{{- if and (eq $v.ledger.backend "redis") (not (or $v.ledger.redis.url $v.ledger.redis.existingSecret $urlInExtraEnv)) -}}
{{- fail "ledger.backend=redis needs ledger.redis.url, ledger.redis.existingSecret or ENRICHER_LEDGER_URL in extraEnv" -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.maxReplicas) (int $v.kafka.partitions)) -}}
{{- fail (printf "autoscaling.maxReplicas (%d) exceeds kafka.partitions (%d): the extra replicas would sit idle" (int $v.autoscaling.maxReplicas) (int $v.kafka.partitions)) -}}
{{- end -}}
{{- if $v.keda.enabled -}}
{{- $max := int (include "enricher.kedaMaxReplicas" .) -}}
{{- if gt $max (int $v.kafka.partitions) -}}
{{- fail (printf "keda.maxReplicaCount (%d) exceeds kafka.partitions (%d): the extra replicas would sit idle" $max (int $v.kafka.partitions)) -}}
{{- end -}}
{{- if gt (int $v.keda.minReplicaCount) $max -}}
{{- fail "keda.minReplicaCount exceeds keda.maxReplicaCount" -}}
{{- end -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling.minReplicas exceeds autoscaling.maxReplicas" -}}
{{- end -}}
{{- if le (int $v.terminationGracePeriodSeconds) (add (int $v.shutdownDrainSeconds) 10 | int) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed shutdownDrainSeconds (%d) by more than 10 s, to commit and leave the group after the drain" (int $v.terminationGracePeriodSeconds) (int $v.shutdownDrainSeconds)) -}}
{{- end -}}
{{- if and (not $v.tenants.existingConfigMap) (not $v.tenants.config) -}}
{{- fail "set tenants.config (the tenants file) or tenants.existingConfigMap" -}}
{{- end -}}
{{- if and (hasPrefix "SASL" $v.kafka.securityProtocol) (not $v.kafka.sasl.mechanism) -}}
{{- fail "kafka.securityProtocol SASL_* needs kafka.sasl.mechanism" -}}
{{- end -}}
{{- if eq $v.kafka.sasl.mechanism "OAUTHBEARER" -}}
{{- $oauth := $v.kafka.sasl.oauth -}}
{{- if not (hasPrefix "SASL" $v.kafka.securityProtocol) -}}
{{- fail "kafka.sasl.mechanism=OAUTHBEARER needs kafka.securityProtocol SASL_SSL (or SASL_PLAINTEXT)" -}}
{{- end -}}
{{- if not $oauth.provider -}}
{{- fail "kafka.sasl.mechanism=OAUTHBEARER needs kafka.sasl.oauth.provider: oidc or msk-iam" -}}
{{- end -}}
{{- if eq $oauth.provider "oidc" -}}
{{- range $key := list "tokenUrl" "clientId" "existingSecret" -}}
{{- if not (get $oauth $key) -}}
{{- fail (printf "kafka.sasl.oauth.provider=oidc needs kafka.sasl.oauth.%s" $key) -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- if ne $v.kafka.securityProtocol "SASL_SSL" -}}
{{- fail "kafka.sasl.oauth.provider=msk-iam needs kafka.securityProtocol SASL_SSL" -}}
{{- end -}}
{{- if not $oauth.awsRegion -}}
{{- fail "kafka.sasl.oauth.provider=msk-iam needs kafka.sasl.oauth.awsRegion" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
