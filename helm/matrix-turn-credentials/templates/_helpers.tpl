{{/*
Names, labels and the derived settings every template shares: the environment the
service gets, which secrets are mounted from where, whether Redis is configured, and
the termination grace period that follows from SHUTDOWN_TIMEOUT_MS.
*/}}

{{- define "mtc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mtc.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mtc.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mtc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mtc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mtc.labels" -}}
helm.sh/chart: {{ include "mtc.chart" . }}
{{ include "mtc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: turn-credentials
app.kubernetes.io/part-of: matrix
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mtc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mtc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mtc.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Where the secret files are mounted; each secret X is the file <dir>/X, passed as X_FILE. */}}
{{- define "mtc.secretsDir" -}}
/run/secrets/matrix-turn-credentials
{{- end }}

{{/* Inline secrets with a value, as a sorted list of names. */}}
{{- define "mtc.inlineSecretNames" -}}
{{- $names := list }}
{{- range $name, $value := .Values.secrets }}
{{- if $value }}{{ $names = append $names $name }}{{ end }}
{{- end }}
{{- toJson (sortAlpha $names) }}
{{- end }}

{{/* Secrets taken from existingSecret, as a sorted list of names. */}}
{{- define "mtc.existingSecretNames" -}}
{{- $names := list }}
{{- if .Values.existingSecret.name }}
{{- range $name, $key := .Values.existingSecret.keys }}
{{- if $key }}{{ $names = append $names $name }}{{ end }}
{{- end }}
{{- end }}
{{- toJson (sortAlpha $names) }}
{{- end }}

{{/* Every configured secret name; fails when one is given in both places. */}}
{{- define "mtc.secretNames" -}}
{{- $inline := include "mtc.inlineSecretNames" . | fromJsonArray }}
{{- $existing := include "mtc.existingSecretNames" . | fromJsonArray }}
{{- range $inline }}
{{- if has . $existing }}
{{- fail (printf "secrets.%s and existingSecret.keys.%s are both set: give each secret in one place only" . .) }}
{{- end }}
{{- end }}
{{- if and (not .Values.existingSecret.name) .Values.existingSecret.keys }}
{{- fail "existingSecret.keys is set but existingSecret.name is empty: name the Secret that holds those keys" }}
{{- end }}
{{- toJson (sortAlpha (concat $inline $existing)) }}
{{- end }}

{{/* One environment value as the service reads it: lists comma-joined, whole numbers without exponent. */}}
{{- define "mtc.envValue" -}}
{{- $v := . }}
{{- if kindIs "slice" $v }}
{{- join "," $v }}
{{- else if kindIs "float64" $v }}
{{- if eq $v (float64 (int64 $v)) }}{{ int64 $v }}{{ else }}{{ $v }}{{ end }}
{{- else }}
{{- toString $v }}
{{- end }}
{{- end }}

{{/* The plain settings, as a map of variable name to string (unset and empty values left out). */}}
{{- define "mtc.env" -}}
{{- $env := dict "PORT" (toString (int .Values.containerPorts.http)) "METRICS_PORT" (toString (int .Values.containerPorts.metrics)) "HOST" "0.0.0.0" }}
{{- range $name, $value := .Values.config }}
{{- if not (or (kindIs "invalid" $value) (and (kindIs "string" $value) (eq $value "")) (and (kindIs "slice" $value) (eq (len $value) 0))) }}
{{- $_ := set $env $name (include "mtc.envValue" $value) }}
{{- end }}
{{- end }}
{{- toJson $env }}
{{- end }}

{{/* Whether a shared rate limit store is configured (any of the three Redis modes). */}}
{{- define "mtc.redisConfigured" -}}
{{- $secrets := include "mtc.secretNames" . | fromJsonArray }}
{{- $env := include "mtc.env" . | fromJson }}
{{- if or (has "REDIS_URL" $secrets) (hasKey $env "REDIS_SENTINELS") (hasKey $env "REDIS_CLUSTER_NODES") }}true{{ end }}
{{- end }}

{{/* preStop sleep + SHUTDOWN_TIMEOUT_MS rounded up to seconds + 5 s for the process to exit. */}}
{{- define "mtc.terminationGracePeriodSeconds" -}}
{{- $shutdownMs := int (.Values.config.SHUTDOWN_TIMEOUT_MS | default 8000) }}
{{- $needed := add (int .Values.lifecycle.preStopSleepSeconds) (div (add $shutdownMs 999) 1000) 5 }}
{{- $given := .Values.lifecycle.terminationGracePeriodSeconds }}
{{- if kindIs "invalid" $given }}
{{- $needed }}
{{- else if lt (int $given) (int $needed) }}
{{- fail (printf "lifecycle.terminationGracePeriodSeconds is %d, but preStopSleepSeconds (%d) + SHUTDOWN_TIMEOUT_MS (%d ms) + 5 s need %d: the kubelet would kill the service while it drains" (int $given) (int .Values.lifecycle.preStopSleepSeconds) $shutdownMs (int $needed)) }}
{{- else }}
{{- int $given }}
{{- end }}
{{- end }}

{{/*
Whether the container gets a setting at all: from config, as a secret (inline or from
existingSecret), or from an extraEnv entry named NAME or NAME_FILE (a value, or valueFrom
a Secret or ConfigMap the chart cannot read, which counts as given).
*/}}
{{- define "mtc.givenSettings" -}}
{{- $given := concat (keys (include "mtc.env" . | fromJson)) (include "mtc.secretNames" . | fromJsonArray) }}
{{- range .Values.extraEnv }}{{ $given = concat $given (list (toString .name) (trimSuffix "_FILE" (toString .name))) }}{{ end }}
{{- toJson (uniq $given) }}
{{- end }}

{{/*
Refuses to render without a setting the service cannot start without, naming every one
missing, by its place in values: the same rules as the service's own check (src/config/rules.ts),
which would otherwise only say so in the pod's log, after the rollout stalled. With a
CONFIG_FILE from extraEnv the chart cannot see what the file gives (e.g. turn_servers), and
leaves the check to the service.
*/}}
{{- define "mtc.checkRequired" -}}
{{- $given := include "mtc.givenSettings" . | fromJsonArray }}
{{- if not (has "CONFIG_FILE" $given) }}
{{- $missing := list }}
{{- $uris := include "mtc.effectiveSetting" (list . "TURN_URIS") }}
{{- if not (has "TURN_URIS" $given) }}{{ $missing = append $missing "config.TURN_URIS" }}{{ end }}
{{- /* A list of stun: URIs only needs no credential. */}}
{{- $stunOnly := and $uris (regexMatch "^(stuns?:[^,]*)(, *stuns?:[^,]*)*$" (trim $uris)) }}
{{- $secret := has "TURN_SHARED_SECRET" $given }}
{{- $username := has "TURN_USERNAME" $given }}
{{- $password := has "TURN_PASSWORD" $given }}
{{- /* Managed secrets sign without TURN_SHARED_SECRET, from coturn's Redis under its realm. */}}
{{- $rotation := include "mtc.effectiveSetting" (list . "TURN_SECRET_ROTATION_INTERVAL") | default "0" }}
{{- $managed := and (has "TURN_SECRET_ROTATION_INTERVAL" $given) (ne (trim $rotation) "0") }}
{{- if $managed }}
{{- if not (has "COTURN_REDIS_URL" $given) }}{{ $missing = append $missing "secrets.COTURN_REDIS_URL (with TURN_SECRET_ROTATION_INTERVAL)" }}{{ end }}
{{- if not (has "COTURN_REALM" $given) }}{{ $missing = append $missing "config.COTURN_REALM (with TURN_SECRET_ROTATION_INTERVAL)" }}{{ end }}
{{- end }}
{{- if not (or $secret $username $password $stunOnly $managed) }}
{{- $missing = append $missing "secrets.TURN_SHARED_SECRET (or config.TURN_USERNAME with secrets.TURN_PASSWORD)" }}
{{- else if and (not $secret) $username (not $password) }}
{{- $missing = append $missing "secrets.TURN_PASSWORD (with config.TURN_USERNAME)" }}
{{- else if and (not $secret) $password (not $username) }}
{{- $missing = append $missing "config.TURN_USERNAME (with secrets.TURN_PASSWORD)" }}
{{- end }}
{{- $method := include "mtc.effectiveSetting" (list . "AUTH_METHOD") | default "whoami" }}
{{- if and (eq $method "whoami") (not (has "HOMESERVER_URL" $given)) }}{{ $missing = append $missing "config.HOMESERVER_URL" }}{{ end }}
{{- if and (ne $method "whoami") (not (has "SERVER_NAME" $given)) }}{{ $missing = append $missing "config.SERVER_NAME" }}{{ end }}
{{- if eq $method "introspection" }}
{{- if not (has "INTROSPECTION_URL" $given) }}{{ $missing = append $missing "config.INTROSPECTION_URL" }}{{ end }}
{{- if not (has "INTROSPECTION_CLIENT_SECRET" $given) }}{{ $missing = append $missing "secrets.INTROSPECTION_CLIENT_SECRET" }}{{ end }}
{{- $clientAuth := include "mtc.effectiveSetting" (list . "INTROSPECTION_CLIENT_AUTH") | default "client_secret_basic" }}
{{- if and (ne $clientAuth "bearer") (not (has "INTROSPECTION_CLIENT_ID" $given)) }}
{{- $missing = append $missing (printf "config.INTROSPECTION_CLIENT_ID (with INTROSPECTION_CLIENT_AUTH %s)" $clientAuth) }}
{{- end }}
{{- end }}
{{- if eq $method "jwt" }}
{{- if not (or (has "JWT_JWKS_URL" $given) (has "JWT_PUBLIC_KEY" $given)) }}{{ $missing = append $missing "config.JWT_JWKS_URL (or secrets.JWT_PUBLIC_KEY)" }}{{ end }}
{{- if not (has "JWT_ISSUER" $given) }}{{ $missing = append $missing "config.JWT_ISSUER" }}{{ end }}
{{- if not (has "JWT_AUDIENCE" $given) }}{{ $missing = append $missing "config.JWT_AUDIENCE" }}{{ end }}
{{- end }}
{{- if and (eq $method "appservice") (not (has "APPSERVICE_HS_TOKEN" $given)) }}{{ $missing = append $missing "secrets.APPSERVICE_HS_TOKEN" }}{{ end }}
{{- if and (has "REDIS_SENTINELS" $given) (not (has "REDIS_SENTINEL_NAME" $given)) }}{{ $missing = append $missing "config.REDIS_SENTINEL_NAME (with REDIS_SENTINELS)" }}{{ end }}
{{- if $missing }}
{{- fail (printf "missing required values: %s. The service refuses to start without them (exit 2); the chart README lists every value" (join "; " $missing)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* A setting as the container gets it: extraEnv (which wins over the ConfigMap) first, then config; "" when unset. */}}
{{- define "mtc.effectiveSetting" -}}
{{- $name := index . 1 }}
{{- $root := index . 0 }}
{{- $value := "" }}
{{- $env := include "mtc.env" $root | fromJson }}
{{- if hasKey $env $name }}{{ $value = get $env $name }}{{ end }}
{{- range $root.Values.extraEnv }}
{{- if and (eq (toString .name) $name) (hasKey . "value") }}{{ $value = toString .value }}{{ end }}
{{- end }}
{{- $value }}
{{- end }}

{{/* Where a setting came from, for messages: extraEnv, config, or "". */}}
{{- define "mtc.settingSource" -}}
{{- $name := index . 1 }}
{{- $root := index . 0 }}
{{- $source := "" }}
{{- if hasKey (include "mtc.env" $root | fromJson) $name }}{{ $source = "config" }}{{ end }}
{{- range $root.Values.extraEnv }}
{{- if and (eq (toString .name) $name) (hasKey . "value") }}{{ $source = "extraEnv" }}{{ end }}
{{- end }}
{{- $source }}
{{- end }}

{{/*
The memory rules, from what bench/cache-memory.ts measured (README, "Memory"). A token-cache
entry takes up to 1 KiB of heap: one holding a refusal, as a flood of wrong tokens leaves
(the error and its stack trace); one holding an identity about 250 B. The rest of the
service keeps up to about 55 MiB (every other bounded structure full, a flood's per-call
timers pending), held here at 64 MiB. The cache at its worst plus that must fit three
quarters of the old-space cap, the last quarter being room for garbage between
collections; and the process needs about 75-85 MiB outside its old space (code, young
generation, buffers), held here at 96 MiB, so the memory limit must be the cap plus that,
or the kernel kills the pod before V8 collects. With nodeMaxOldSpaceMiB 0 V8 sizes its heap
itself and there is no cap to hold the cache to.
*/}}
{{- define "mtc.checkMemory" -}}
{{- $mib := 1048576 }}
{{- $entryBytes := 1024 }}
{{- $baseMiB := 64 }}
{{- $outsideMiB := 96 }}
{{- $cap := int64 .Values.nodeMaxOldSpaceMiB }}
{{- if gt $cap 0 }}
{{- $given := include "mtc.effectiveSetting" (list . "TOKEN_CACHE_SIZE") }}
{{- $source := include "mtc.settingSource" (list . "TOKEN_CACHE_SIZE") | default "the service's default" }}
{{- $entries := int64 ($given | default "100000") }}
{{- $allowed := div (mul $cap $mib 3) 4 }}
{{- $needed := add (mul $entries $entryBytes) (mul $baseMiB $mib) }}
{{- if gt $needed $allowed }}
{{- $largest := max 0 (div (sub $allowed (mul $baseMiB $mib)) $entryBytes) }}
{{- $capNeeded := div (add (mul $needed 4) (sub (mul 3 $mib) 1)) (mul 3 $mib) }}
{{- fail (printf "TOKEN_CACHE_SIZE %d does not fit nodeMaxOldSpaceMiB %d (TOKEN_CACHE_SIZE from %s): an entry takes up to %d bytes of heap (measured: a cached refusal, see bench/cache-memory.ts), so the cache needs %d MiB, and with %d MiB for the rest of the service it must fit three quarters of the heap cap (the last quarter is room for garbage). Lower TOKEN_CACHE_SIZE to at most %d entries, or raise nodeMaxOldSpaceMiB to at least %d and resources.limits.memory to at least %dMi" $entries $cap $source $entryBytes (div (add (mul $entries $entryBytes) (sub $mib 1)) $mib) $baseMiB $largest $capNeeded (add $capNeeded $outsideMiB)) }}
{{- end }}
{{- $limit := toString (dig "limits" "memory" "" (.Values.resources | default dict)) }}
{{- if regexMatch "^[0-9]+(Ki|Mi|Gi|Ti|K|M|G|T)?$" $limit }}
{{- $unit := regexFind "[A-Za-z]+$" $limit }}
{{- $factor := get (dict "" 1 "Ki" 1024 "Mi" $mib "Gi" (mul $mib 1024) "Ti" (mul $mib 1048576) "K" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000) $unit }}
{{- $limitBytes := mul (int64 (trimSuffix $unit $limit)) $factor }}
{{- if lt $limitBytes (mul (add $cap $outsideMiB) $mib) }}
{{- fail (printf "nodeMaxOldSpaceMiB %d needs resources.limits.memory of at least %dMi, not %s: the heap may grow to %d MiB and the process uses about %d MiB outside it (measured), so the kernel would kill the pod before V8 collects. Raise the limit or lower nodeMaxOldSpaceMiB (and TOKEN_CACHE_SIZE with it)" $cap (add $cap $outsideMiB) $limit $cap $outsideMiB) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
TRUST_PROXY takes the client address from X-Forwarded-For, which whoever reaches the pod
writes: the per-address budget for unknown tokens would then be theirs to choose. So it
is on only where nothing but the proxy can reach the API port: a NetworkPolicy naming
the proxy's pods (networkPolicy.ingressFrom).
*/}}
{{- define "mtc.checkTrustProxy" -}}
{{- $value := include "mtc.effectiveSetting" (list . "TRUST_PROXY") | trim | lower }}
{{- if has $value (list "true" "1" "yes") }}
{{- if not (and .Values.networkPolicy.enabled .Values.networkPolicy.ingressFrom) }}
{{- fail (printf "TRUST_PROXY is on (from %s), but anything in the cluster can reach the pod and write X-Forwarded-For, choosing the address its unknown-token budget is counted against: set networkPolicy.enabled and name the proxy's pods in networkPolicy.ingressFrom, or leave TRUST_PROXY off (every request then counts against the proxy's one address)" (include "mtc.settingSource" (list . "TRUST_PROXY"))) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
NODE_OPTIONS, one variable: the heap cap from nodeMaxOldSpaceMiB, then what an extraEnv
NODE_OPTIONS adds (a second NODE_OPTIONS entry would silently replace the first). The cap
stays the chart's: the memory checks above hold the cache and the limit to it.
*/}}
{{- define "mtc.nodeOptions" -}}
{{- $parts := list }}
{{- with .Values.nodeMaxOldSpaceMiB }}{{ $parts = append $parts (printf "--max-old-space-size=%d" (int .)) }}{{ end }}
{{- range .Values.extraEnv }}
{{- if eq (toString .name) "NODE_OPTIONS" }}
{{- if not (hasKey . "value") }}
{{- fail "extraEnv NODE_OPTIONS must be a value, not valueFrom: the chart appends it to its own --max-old-space-size (nodeMaxOldSpaceMiB) in one variable" }}
{{- end }}
{{- if and $.Values.nodeMaxOldSpaceMiB (regexMatch "--max[-_]old[-_]space[-_]size" (toString .value)) }}
{{- fail (printf "extraEnv NODE_OPTIONS sets --max-old-space-size, which nodeMaxOldSpaceMiB (%d) already sets and the chart's memory checks rely on: set nodeMaxOldSpaceMiB instead (0 leaves V8 alone)" (int $.Values.nodeMaxOldSpaceMiB)) }}
{{- end }}
{{- with toString .value }}{{ $parts = append $parts . }}{{ end }}
{{- end }}
{{- end }}
{{- join " " $parts }}
{{- end }}

{{/* The service container's environment beside the ConfigMap: NODE_OPTIONS, the secret files, extraEnv. */}}
{{- define "mtc.containerEnv" -}}
{{- with include "mtc.nodeOptions" . }}
- name: NODE_OPTIONS
  value: {{ . | quote }}
{{- end }}
{{- range include "mtc.secretNames" . | fromJsonArray }}
- name: {{ . }}_FILE
  value: {{ printf "%s/%s" (include "mtc.secretsDir" $) . | quote }}
{{- end }}
{{- range .Values.extraEnv }}
{{- if ne (toString .name) "NODE_OPTIONS" }}
- {{ toYaml . | nindent 2 | trim }}
{{- end }}
{{- end }}
{{- end }}

{{/* The service container's mounts: the secret files, then extraVolumeMounts. */}}
{{- define "mtc.volumeMounts" -}}
{{- if include "mtc.secretNames" . | fromJsonArray }}
- name: secrets
  mountPath: {{ include "mtc.secretsDir" . }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end }}

{{/* The pod's volumes: the secret files (projected from the chart's Secret and existingSecret), then extraVolumes. */}}
{{- define "mtc.volumes" -}}
{{- $inline := include "mtc.inlineSecretNames" . | fromJsonArray }}
{{- $existing := include "mtc.existingSecretNames" . | fromJsonArray }}
{{- range .Values.extraVolumes }}
{{- if eq (toString .name) "secrets" }}
{{- fail "extraVolumes: the volume name \"secrets\" is the chart's own (the secret files); choose another" }}
{{- end }}
{{- end }}
{{- if or $inline $existing }}
- name: secrets
  projected:
    # The kubelet writes these files owned by root, and by the pod's fsGroup when it
    # has one, which every container's process then has as a group: 0440 lets that
    # group read them and nobody else. Without an fsGroup (set to null, e.g. where
    # the platform assigns ids) the group is root's, so 0440 would shut the service
    # out; 0444 then, which exposes nothing more, as only this container mounts them.
    defaultMode: {{ if .Values.podSecurityContext.fsGroup }}0440{{ else }}0444{{ end }}
    sources:
      {{- if $inline }}
      - secret:
          name: {{ include "mtc.fullname" . }}
          items:
            {{- range $inline }}
            - key: {{ . }}
              path: {{ . }}
            {{- end }}
      {{- end }}
      {{- if $existing }}
      - secret:
          name: {{ .Values.existingSecret.name }}
          items:
            {{- range $existing }}
            - key: {{ get $.Values.existingSecret.keys . }}
              path: {{ . }}
            {{- end }}
      {{- end }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end }}

{{/*
Labels of the helm test pod: the release's, but not the Deployment's selector (no
app.kubernetes.io/name), so the Service, the PodDisruptionBudget and the NetworkPolicy
never take the test pod for a replica.
*/}}
{{- define "mtc.testLabels" -}}
helm.sh/chart: {{ include "mtc.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: doctor
app.kubernetes.io/part-of: matrix
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
One alerting rule, unless metrics.prometheusRule.rules.<alert>.enabled is false: its
`for` and severity from there, and a runbook_url to the heading named after the alert on
the operations page (GitHub's anchor for a heading is its text in lower case). Arguments:
root, alert, expr, summary, description.
*/}}
{{- define "mtc.alertRule" -}}
{{- $values := .root.Values.metrics.prometheusRule }}
{{- $settings := index $values.rules .alert }}
{{- if $settings.enabled }}
{{- $rule := dict "alert" .alert "expr" .expr }}
{{- with $settings.for }}{{ $_ := set $rule "for" . }}{{ end }}
{{- $_ := set $rule "labels" (dict "severity" $settings.severity) }}
{{- $annotations := dict "summary" .summary "description" .description }}
{{- with $values.runbookBaseUrl }}{{ $_ := set $annotations "runbook_url" (printf "%s#%s" . (lower $.alert)) }}{{ end }}
{{- $_ := set $rule "annotations" $annotations }}
{{- toYaml (list $rule) }}
{{- end }}
{{- end }}
