{{/*
The variables the chart sets, as a YAML list. The Deployment drops any whose name extraEnv
also gives, so extraEnv overrides them without a duplicate name in the container (the API
server keeps both and the last wins, while kubectl apply merges them by name unpredictably).
*/}}
{{- define "enricher.env" -}}
{{- $fullname := include "enricher.fullname" . -}}
{{- $sqlite := eq .Values.ledger.backend "sqlite" -}}
{{- $redisPassword := and (not $sqlite) .Values.ledger.redis.password.existingSecret -}}
- name: ENRICHER_CONFIG
  value: /etc/enricher/config/{{ .Values.tenants.key }}
- name: ENRICHER_HTTP_PORT
  value: {{ .Values.containerPort | quote }}
- name: ENRICHER_LOG_FORMAT
  value: {{ .Values.log.format | quote }}
- name: ENRICHER_LOG_LEVEL
  value: {{ .Values.log.level | quote }}
- name: ENRICHER_KAFKA_BOOTSTRAP_SERVERS
  value: {{ .Values.kafka.bootstrapServers | quote }}
- name: ENRICHER_KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- with .Values.kafka.sasl.mechanism }}
- name: ENRICHER_KAFKA_SASL_MECHANISM
  value: {{ . | quote }}
{{- end }}
{{- with .Values.kafka.sasl.username }}
- name: ENRICHER_KAFKA_SASL_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- if .Values.kafka.sasl.existingSecret }}
- name: ENRICHER_KAFKA_SASL_PASSWORD_FILE
  value: /etc/enricher/kafka-sasl/{{ .Values.kafka.sasl.passwordKey }}
{{- end }}
{{- if eq .Values.kafka.sasl.mechanism "OAUTHBEARER" }}
{{- $oauth := .Values.kafka.sasl.oauth }}
- name: ENRICHER_KAFKA_SASL_OAUTH_PROVIDER
  value: {{ $oauth.provider | quote }}
{{- if eq $oauth.provider "oidc" }}
- name: ENRICHER_KAFKA_SASL_OAUTH_TOKEN_URL
  value: {{ $oauth.tokenUrl | quote }}
- name: ENRICHER_KAFKA_SASL_OAUTH_CLIENT_ID
  value: {{ $oauth.clientId | quote }}
- name: ENRICHER_KAFKA_SASL_OAUTH_CLIENT_SECRET_FILE
  value: /etc/enricher/kafka-oauth/{{ $oauth.clientSecretKey }}
{{- with $oauth.scope }}
- name: ENRICHER_KAFKA_SASL_OAUTH_SCOPE
  value: {{ . | quote }}
{{- end }}
{{- with $oauth.extensions }}
- name: ENRICHER_KAFKA_SASL_OAUTH_EXTENSIONS
  value: {{ toJson . | quote }}
{{- end }}
{{- else }}
- name: ENRICHER_KAFKA_SASL_OAUTH_AWS_REGION
  value: {{ $oauth.awsRegion | quote }}
{{- end }}
{{- end }}
{{- if .Values.kafka.tls.existingSecret }}
- name: ENRICHER_KAFKA_SSL_CAFILE
  value: /etc/enricher/kafka-tls/{{ .Values.kafka.tls.caKey }}
{{- if .Values.kafka.tls.certKey }}
- name: ENRICHER_KAFKA_SSL_CERTFILE
  value: /etc/enricher/kafka-tls/{{ .Values.kafka.tls.certKey }}
{{- end }}
{{- if .Values.kafka.tls.keyKey }}
- name: ENRICHER_KAFKA_SSL_KEYFILE
  value: /etc/enricher/kafka-tls/{{ .Values.kafka.tls.keyKey }}
{{- end }}
{{- end }}
- name: ENRICHER_KAFKA_ENABLE_IDEMPOTENCE
  value: {{ .Values.kafka.enableIdempotence | quote }}
- name: ENRICHER_KAFKA_SESSION_TIMEOUT
  value: {{ .Values.kafka.sessionTimeout | quote }}
- name: ENRICHER_KAFKA_HEARTBEAT_INTERVAL
  value: {{ .Values.kafka.heartbeatInterval | quote }}
- name: ENRICHER_GROUP_ID
  value: {{ .Values.kafka.groupId | quote }}
- name: ENRICHER_CLIENT_ID
  value: {{ $fullname | quote }}
- name: ENRICHER_TOPIC_CLOSED
  value: {{ .Values.kafka.topics.closed | quote }}
- name: ENRICHER_TOPIC_ANALYTICS
  value: {{ .Values.kafka.topics.analytics | quote }}
- name: ENRICHER_TOPIC_DLQ
  value: {{ .Values.kafka.topics.dlq | quote }}
- name: ENRICHER_TOPIC_RETRY_PREFIX
  value: {{ .Values.kafka.topics.retryPrefix | quote }}
- name: ENRICHER_CREATE_TOPICS
  value: {{ .Values.kafka.createTopics | quote }}
- name: ENRICHER_TOPIC_PARTITIONS
  value: {{ .Values.kafka.partitions | quote }}
- name: ENRICHER_TOPIC_REPLICATION_FACTOR
  value: {{ .Values.kafka.replicationFactor | quote }}
{{- if $sqlite }}
- name: ENRICHER_LEDGER_URL
  value: {{ printf "sqlite:///%s" (include "enricher.sqlitePath" .) | quote }}
{{- else if .Values.ledger.redis.existingSecret }}
- name: ENRICHER_LEDGER_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.ledger.redis.existingSecret }}
      key: {{ .Values.ledger.redis.urlKey }}
{{- else }}
- name: ENRICHER_LEDGER_URL
  value: {{ .Values.ledger.redis.url | quote }}
{{- end }}
{{- if not $sqlite }}
- name: ENRICHER_LEDGER_KEY_PREFIX
  value: {{ .Values.ledger.redis.keyPrefix | quote }}
{{- end }}
{{- if $redisPassword }}
- name: ENRICHER_LEDGER_PASSWORD_FILE
  value: /etc/enricher/redis/{{ .Values.ledger.redis.password.key }}
{{- end }}
{{- if .Values.adminToken.existingSecret }}
- name: ENRICHER_ADMIN_TOKEN_FILE
  value: /etc/enricher/admin/{{ .Values.adminToken.key }}
{{- end }}
- name: ENRICHER_MAX_IN_FLIGHT
  value: {{ .Values.delivery.maxInFlight | quote }}
- name: ENRICHER_COMMIT_INTERVAL
  value: {{ .Values.delivery.commitInterval | quote }}
- name: ENRICHER_RETRY_BASE_DELAY
  value: {{ .Values.delivery.retryBaseDelay | quote }}
- name: ENRICHER_RETRY_MAX_DELAY
  value: {{ .Values.delivery.retryMaxDelay | quote }}
- name: ENRICHER_LIVENESS_STALL
  value: {{ .Values.delivery.livenessStall | quote }}
- name: ENRICHER_SHUTDOWN_DRAIN
  value: {{ printf "%ds" (int .Values.shutdownDrainSeconds) | quote }}
{{- end -}}
