"""The Helm chart, rendered by the real Helm engine (helm-python-sdk, no helm binary).

Every rendered object is validated against the Kubernetes OpenAPI schemas of the oldest and
newest Kubernetes versions the chart targets; Prometheus Operator and KEDA objects are custom
resources the validator has no schema for, so their shape is asserted here instead. The rest
pins what a Kafka consumer needs from Kubernetes and what a bad values file must not get past.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python as helm
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from service.ledger.redis import RedisLedger
from service.settings import Settings
from service.tenants import load_tenants
from tools.markdown_links import anchors

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "deploy" / "helm" / "interaction-enricher"
RELEASE = "enr"
NAMESPACE = "contact-center"
FULLNAME = "enr-interaction-enricher"
# Oldest supported (Chart.yaml kubeVersion) and newest the validator knows.
KUBE_VERSIONS = ("1.31", "1.36")
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}

REDIS = {"backend": "redis", "redis": {"url": "redis://redis:6379/0"}}
REDIS_CA_URL = "rediss://redis.cache:6380/0?ssl_ca_certs=/etc/enricher/redis-ca/ca.crt"
MONITORING = {
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "prometheusRule": {"enabled": True},
    "grafanaDashboard": {"enabled": True},
}

# Value sets that exercise every template branch; all must render, validate and lint.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "hpa-redis": {
        "ledger": REDIS,
        "autoscaling": {"enabled": True, "maxReplicas": 8, "targetMemoryUtilizationPercentage": 80},
    },
    "keda-secrets": {
        "ledger": {
            "backend": "redis",
            "redis": {"existingSecret": "enricher-redis", "urlKey": "url"},
        },
        "keda": {"enabled": True, "authenticationRef": "kafka-scaler-auth"},
        "kafka": {
            "bootstrapServers": "b-1.kafka:9096,b-2.kafka:9096",
            "securityProtocol": "SASL_SSL",
            "sasl": {
                "mechanism": "SCRAM-SHA-512",
                "username": "enricher",
                "existingSecret": "kafka-sasl",
            },
            "tls": {"existingSecret": "kafka-ca", "certKey": "tls.crt", "keyKey": "tls.key"},
            "partitions": 12,
        },
        "adminToken": {"existingSecret": "enricher-admin"},
        "tenants": {
            "envFromSecrets": ["acme-nice-credentials"],
            "secretMounts": [
                {
                    "name": "acme",
                    "secretName": "acme-nice-key",
                    "mountPath": "/var/run/secrets/enricher/acme",
                }
            ],
        },
        "extraEnv": [{"name": "TZ", "value": "UTC"}],
    },
    "monitored-locked-down": {
        "metrics": MONITORING,
        "networkPolicy": {
            "enabled": True,
            "allowExternal": False,
            "allowExternalEgress": False,
            "ingressFrom": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}}}
            ],
            "extraEgress": [{"ports": [{"port": 9093, "protocol": "TCP"}]}],
        },
        "ledger": {"sqlite": {"persistence": {"enabled": True, "storageClass": "standard"}}},
    },
    "redis-password": {
        "ledger": {
            "backend": "redis",
            "redis": {
                "url": "rediss://enricher@redis.cache:6380/0",
                "keyPrefix": "prod-enricher:",
                "password": {"existingSecret": "redis-auth", "key": "redis-password"},
            },
        },
        "replicaCount": 4,
    },
    # A Redis with its own CA: the CA Secret mounted through extraVolumes and the rediss:// URL,
    # which names the CA file, given through extraEnv instead of ledger.redis.url.
    "redis-ca": {
        "ledger": {"backend": "redis"},
        "replicaCount": 2,
        "extraVolumes": [{"name": "redis-ca", "secret": {"secretName": "redis-ca"}}],
        "extraVolumeMounts": [
            {"name": "redis-ca", "mountPath": "/etc/enricher/redis-ca", "readOnly": True}
        ],
        "extraEnv": [{"name": "ENRICHER_LEDGER_URL", "value": REDIS_CA_URL}],
        "extraEnvFrom": [{"configMapRef": {"name": "enricher-tuning"}}],
    },
    "kafka-oidc": {
        "kafka": {
            "securityProtocol": "SASL_SSL",
            "sasl": {
                "mechanism": "OAUTHBEARER",
                "oauth": {
                    "provider": "oidc",
                    "tokenUrl": "https://idp.example.com/oauth2/token",
                    "clientId": "enricher",
                    "scope": "kafka",
                    "existingSecret": "kafka-oidc",
                    "extensions": {"logicalCluster": "lkc-123", "identityPoolId": "pool-9"},
                },
            },
        },
    },
    "kafka-msk-iam": {
        "kafka": {
            "bootstrapServers": "b-1.msk.eu-west-1.amazonaws.com:9098",
            "securityProtocol": "SASL_SSL",
            "sasl": {
                "mechanism": "OAUTHBEARER",
                "oauth": {"provider": "msk-iam", "awsRegion": "eu-west-1"},
            },
        },
        "serviceAccount": {
            "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/enricher"}
        },
    },
    "external-config": {
        "tenants": {"existingConfigMap": "my-tenants", "config": ""},
        "ledger": REDIS,
        "replicaCount": 3,
        "pdb": {"minAvailable": 2},
        "image": {"digest": "sha256:" + "a" * 64},
    },
}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def render(chart: helm.Chart, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object the release would apply (NOTES.txt and empty templates dropped)."""
    manifests = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith(".yaml"):
            objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def kinds(objects: list[dict[str, Any]]) -> set[str]:
    return {o["kind"] for o in objects}


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = only(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (main,) = pod_spec(objects)["containers"]
    return dict(main)


def env(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(objects)["env"]}


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge, as Helm merges -f files: what a test adds does not drop a value set's keys."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------
# Rendering, Kubernetes schemas, lint


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_object_is_valid_kubernetes(
    chart: helm.Chart, value_set: str, kube_version: str
) -> None:
    objects = render(chart, VALUE_SETS[value_set])
    assert "Deployment" in kinds(objects)
    for obj in objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        # strict: a misspelt or misplaced field is an error, not silently dropped by the API.
        kubernetes_validate.validate(obj, kube_version, strict=True)
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_helm_lint_reports_no_errors_or_warnings(value_set: str) -> None:
    report = helm.lint(CHART_DIR, VALUE_SETS[value_set], strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == []
    assert problems == []


def test_lint_catches_a_broken_values_file() -> None:
    report = helm.lint(CHART_DIR, {"replicaCount": "two"}, strict=True)
    assert any(m["severity"] == 3 for m in report["messages"])


def test_every_enricher_variable_is_a_setting(chart: helm.Chart) -> None:
    """A misspelt ENRICHER_* name would be ignored by pydantic-settings (extra="ignore")."""
    known = {f"ENRICHER_{name.upper()}" for name in Settings.model_fields}
    for value_set in sorted(VALUE_SETS):
        names = set(env(render(chart, VALUE_SETS[value_set])))
        assert {n for n in names if n.startswith("ENRICHER_")} <= known


# Chart defaults that differ from the service's on purpose, each with its reason (the same
# reason is the comment beside the value in values.yaml). Any other difference is an accident:
# an operator reading the settings reference would expect the service's default in the pod.
DELIBERATE_DIFFERENCES = {
    "config": "the tenants file is mounted from a ConfigMap; the service has no default path",
    "kafka_bootstrap_servers": "localhost means the pod itself; kafka:9092 is an in-cluster name",
    "client_id": "the release name, so broker logs and quotas tell releases apart",
    "ledger_url": "the SQLite file lives on the writable /tmp emptyDir (read-only root)",
    "topic_replication_factor": "a cluster has at least three brokers; 1 suits a dev broker",
}


def chart_settings(
    objects: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The settings the pod starts with: every literal ENRICHER_* the chart sets, parsed."""
    variables = {
        name: var["value"]
        for name, var in env(objects).items()
        if name.startswith("ENRICHER_") and "value" in var
    }
    with monkeypatch.context() as patched:
        for name in [n for n in os.environ if n.startswith("ENRICHER_")]:
            patched.delenv(name)
        for name, value in variables.items():
            patched.setenv(name, value)
        started = Settings()
    fields = {f"ENRICHER_{name.upper()}": name for name in Settings.model_fields}
    return {fields[name]: getattr(started, fields[name]) for name in variables}


@pytest.mark.parametrize("ledger", [{}, REDIS], ids=["sqlite", "redis"])
def test_chart_defaults_are_the_service_defaults(
    chart: helm.Chart, monkeypatch: pytest.MonkeyPatch, ledger: dict[str, Any]
) -> None:
    """Every value the chart passes by default is the service's own default, or is listed in
    DELIBERATE_DIFFERENCES with its reason; a listed difference that no longer differs is
    listed in vain and fails too."""
    rendered = chart_settings(render(chart, {"ledger": ledger} if ledger else {}), monkeypatch)
    defaults = Settings.model_construct()
    differing = {
        name: (value, getattr(defaults, name))
        for name, value in rendered.items()
        if value != getattr(defaults, name)
    }
    undocumented = {k: v for k, v in differing.items() if k not in DELIBERATE_DIFFERENCES}
    assert undocumented == {}, "chart value != service default (chart, service)"
    if not ledger:
        assert set(DELIBERATE_DIFFERENCES) == set(differing), "a listed difference is gone"


def test_default_tenants_file_passes_check_config(chart: helm.Chart, tmp_path: Path) -> None:
    tenants = only(render(chart), "ConfigMap")["data"]["tenants.yaml"]
    path = tmp_path / "tenants.yaml"
    path.write_text(tenants, encoding="utf-8")
    config = load_tenants(path, resolve=False)
    assert set(config.tenants) == {"acme"}


# ---------------------------------------------------------------------------------------------
# Security defaults


def test_pod_runs_non_root_read_only_without_capabilities(chart: helm.Chart) -> None:
    objects = render(chart)
    pod = pod_spec(objects)
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container(objects)["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["privileged"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert "add" not in ctx["capabilities"]
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert only(objects, "ServiceAccount")["automountServiceAccountToken"] is False


def test_tmp_is_the_only_writable_mount_by_default(chart: helm.Chart) -> None:
    objects = render(chart)
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    writable = [m for m in container(objects)["volumeMounts"] if not m.get("readOnly")]
    assert [m["mountPath"] for m in writable] == ["/tmp"]
    assert "emptyDir" in volumes[writable[0]["name"]]
    assert env(objects)["ENRICHER_LEDGER_URL"]["value"].startswith("sqlite:////tmp/")


def test_persistence_moves_the_ledger_to_a_volume(chart: helm.Chart) -> None:
    objects = render(chart, VALUE_SETS["monitored-locked-down"])
    claim = only(objects, "PersistentVolumeClaim")
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    assert volumes["ledger"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    mounts = {m["mountPath"] for m in container(objects)["volumeMounts"]}
    assert "/var/lib/enricher" in mounts
    assert env(objects)["ENRICHER_LEDGER_URL"]["value"] == (
        "sqlite:////var/lib/enricher/ledger.sqlite3"
    )


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_secrets_are_only_referenced(chart: helm.Chart, value_set: str) -> None:
    """The chart never renders a Secret: credentials stay in Secrets the operator manages."""
    objects = render(chart, VALUE_SETS[value_set])
    assert "Secret" not in kinds(objects)
    for var in container(objects)["env"]:
        assert not re.search(r"PASSWORD$|TOKEN$|SECRET$", var["name"]), var["name"]


def test_secret_references_reach_the_container(chart: helm.Chart) -> None:
    objects = render(chart, VALUE_SETS["keda-secrets"])
    variables = env(objects)
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    mounts = {m["name"]: m for m in container(objects)["volumeMounts"]}

    def secret_file(var: str, volume: str, secret: str) -> None:
        path = variables[var]["value"]
        assert volumes[volume]["secret"]["secretName"] == secret
        assert mounts[volume]["readOnly"] is True
        assert path.startswith(mounts[volume]["mountPath"] + "/")

    secret_file("ENRICHER_KAFKA_SASL_PASSWORD_FILE", "kafka-sasl", "kafka-sasl")
    secret_file("ENRICHER_KAFKA_SSL_CAFILE", "kafka-tls", "kafka-ca")
    secret_file("ENRICHER_KAFKA_SSL_CERTFILE", "kafka-tls", "kafka-ca")
    secret_file("ENRICHER_ADMIN_TOKEN_FILE", "admin-token", "enricher-admin")
    assert variables["ENRICHER_LEDGER_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "enricher-redis",
        "key": "url",
    }
    assert container(objects)["envFrom"] == [{"secretRef": {"name": "acme-nice-credentials"}}]
    assert volumes["secret-acme"]["secret"]["secretName"] == "acme-nice-key"
    assert mounts["secret-acme"]["mountPath"] == "/var/run/secrets/enricher/acme"


# ---------------------------------------------------------------------------------------------
# Probes, shutdown, disruption


def test_probes_use_the_service_health_endpoints(chart: helm.Chart) -> None:
    main = container(render(chart))
    port = {p["name"]: p["containerPort"] for p in main["ports"]}["http"]
    assert port == 8080
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert "initialDelaySeconds" not in main["livenessProbe"]


def drain_seconds(objects: list[dict[str, Any]]) -> int:
    value = env(objects)["ENRICHER_SHUTDOWN_DRAIN"]["value"]
    match = re.fullmatch(r"(\d+)s", value)
    assert match, value
    return int(match.group(1))


@pytest.mark.parametrize("drain", [5, 20, 60])
def test_grace_period_outlasts_the_drain(chart: helm.Chart, drain: int) -> None:
    values = {"shutdownDrainSeconds": drain, "terminationGracePeriodSeconds": drain + 30}
    objects = render(chart, values)
    assert drain_seconds(objects) == drain
    assert pod_spec(objects)["terminationGracePeriodSeconds"] > drain_seconds(objects)
    defaults = render(chart)
    assert pod_spec(defaults)["terminationGracePeriodSeconds"] > drain_seconds(defaults)


def test_grace_period_shorter_than_the_drain_is_refused(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmRenderError, match="terminationGracePeriodSeconds"):
        render(chart, {"shutdownDrainSeconds": 30, "terminationGracePeriodSeconds": 30})


def test_pdb_allows_one_disruption_and_evicts_unready_pods(chart: helm.Chart) -> None:
    objects = render(chart)
    pdb = only(objects, "PodDisruptionBudget")["spec"]
    assert pdb["maxUnavailable"] == 1
    assert "minAvailable" not in pdb
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    pod_labels = only(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()


def test_tenants_change_rolls_the_pods(chart: helm.Chart) -> None:
    def checksum(values: dict[str, Any]) -> str:
        meta = only(render(chart, values), "Deployment")["spec"]["template"]["metadata"]
        return str(meta["annotations"]["checksum/tenants"])

    other = {"tenants": {"config": "tenants: {}\n"}}
    assert checksum({}) != checksum(other)
    assert checksum({}) == checksum({})


def test_own_tenants_file_replaces_the_example(chart: helm.Chart) -> None:
    own = "tenants:\n  globex:\n    platform: 8x8\n"
    data = only(render(chart, {"tenants": {"config": own}}), "ConfigMap")["data"]
    assert data["tenants.yaml"] == own


def test_existing_config_map_is_mounted_instead(chart: helm.Chart) -> None:
    objects = render(chart, VALUE_SETS["external-config"])
    assert "ConfigMap" not in kinds(objects)
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    assert volumes["tenants"]["configMap"]["name"] == "my-tenants"
    assert env(objects)["ENRICHER_CONFIG"]["value"] == "/etc/enricher/config/tenants.yaml"


def test_sqlite_ledger_recreates_instead_of_overlapping(chart: helm.Chart) -> None:
    assert only(render(chart), "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    rolling = only(render(chart, VALUE_SETS["external-config"]), "Deployment")["spec"]
    assert rolling["strategy"]["type"] == "RollingUpdate"


# ---------------------------------------------------------------------------------------------
# Scaling


def test_fixed_replicas_without_an_autoscaler(chart: helm.Chart) -> None:
    objects = render(chart, VALUE_SETS["external-config"])
    assert only(objects, "Deployment")["spec"]["replicas"] == 3
    assert not kinds(objects) & {"HorizontalPodAutoscaler", "ScaledObject"}


def test_hpa_owns_the_replica_count(chart: helm.Chart) -> None:
    objects = render(chart, VALUE_SETS["hpa-redis"])
    assert "replicas" not in only(objects, "Deployment")["spec"]
    assert "ScaledObject" not in kinds(objects)
    hpa = only(objects, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": FULLNAME,
    }
    assert hpa["maxReplicas"] == 8
    assert {m["resource"]["name"] for m in hpa["metrics"]} == {"cpu", "memory"}


def test_keda_scales_on_consumer_lag_of_both_inputs(chart: helm.Chart) -> None:
    objects = render(chart, VALUE_SETS["keda-secrets"])
    assert "replicas" not in only(objects, "Deployment")["spec"]
    assert "HorizontalPodAutoscaler" not in kinds(objects)
    scaled = only(objects, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {"name": FULLNAME}
    assert spec["minReplicaCount"] >= 1
    assert spec["maxReplicaCount"] == 12  # kafka.partitions
    triggers = spec["triggers"]
    assert {t["type"] for t in triggers} == {"kafka"}
    assert {t["metadata"]["topic"] for t in triggers} == {
        "interactions.closed",
        "analytics.results",
    }
    for trigger in triggers:
        meta = trigger["metadata"]
        assert meta["consumerGroup"] == "interaction-enricher"
        assert meta["bootstrapServers"] == "b-1.kafka:9096,b-2.kafka:9096"
        assert meta["offsetResetPolicy"] == "earliest"  # what the service's consumer uses
        assert all(isinstance(v, str) for v in meta.values())  # KEDA metadata is map[string]string
        assert trigger["authenticationRef"] == {"name": "kafka-scaler-auth"}
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] > 0


def test_hpa_and_keda_are_mutually_exclusive(chart: helm.Chart) -> None:
    values = merged(VALUE_SETS["hpa-redis"], {"keda": {"enabled": True}})
    with pytest.raises(helm.HelmRenderError, match="mutually exclusive"):
        render(chart, values)


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": 2},
        {"autoscaling": {"enabled": True}},
        {"keda": {"enabled": True}},
    ],
    ids=["replicas", "hpa", "keda"],
)
def test_sqlite_ledger_refuses_more_than_one_replica(
    chart: helm.Chart, values: dict[str, Any]
) -> None:
    with pytest.raises(helm.HelmRenderError, match=r"ledger\.backend=redis"):
        render(chart, values)
    render(chart, merged(values, {"ledger": REDIS}))


@pytest.mark.parametrize(
    "values",
    [
        {"keda": {"enabled": True, "maxReplicaCount": 9}},
        {"autoscaling": {"enabled": True, "maxReplicas": 9}},
    ],
    ids=["keda", "hpa"],
)
def test_replicas_are_capped_at_the_partition_count(
    chart: helm.Chart, values: dict[str, Any]
) -> None:
    values = merged(values, {"ledger": REDIS, "kafka": {"partitions": 8}})
    with pytest.raises(helm.HelmRenderError, match=r"exceeds kafka\.partitions"):
        render(chart, values)
    render(chart, merged(values, {"kafka": {"partitions": 9}}))


def test_redis_backend_needs_a_url(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmRenderError, match=r"ledger\.redis\.url"):
        render(chart, {"ledger": {"backend": "redis"}})


# ---------------------------------------------------------------------------------------------
# Kafka OAUTHBEARER


def started_settings(
    objects: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, files: dict[str, Path]
) -> Settings:
    """Settings as the pod would start them, each mounted file stood in for by a local one."""
    for name, variable in env(objects).items():
        if name.startswith("ENRICHER_") and "value" in variable:
            monkeypatch.setenv(name, str(files.get(name, variable["value"])))
    return Settings()


def test_oidc_client_secret_is_a_mounted_file(
    chart: helm.Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render(chart, VALUE_SETS["kafka-oidc"])
    variables = env(objects)
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    mounts = {m["name"]: m for m in container(objects)["volumeMounts"]}
    assert volumes["kafka-oauth"]["secret"] == {"secretName": "kafka-oidc", "defaultMode": 0o440}
    assert mounts["kafka-oauth"]["readOnly"] is True
    path = variables["ENRICHER_KAFKA_SASL_OAUTH_CLIENT_SECRET_FILE"]["value"]
    assert path == mounts["kafka-oauth"]["mountPath"] + "/client-secret"
    assert "ENRICHER_KAFKA_SASL_OAUTH_CLIENT_SECRET" not in variables

    secret = tmp_path / "client-secret"
    secret.write_text("from-the-secret\n", encoding="utf-8")
    files = {"ENRICHER_KAFKA_SASL_OAUTH_CLIENT_SECRET_FILE": secret}
    settings = started_settings(objects, monkeypatch, files)
    assert settings.kafka_sasl_mechanism == "OAUTHBEARER"
    assert settings.kafka_sasl_oauth_provider == "oidc"
    assert settings.kafka_sasl_oauth_token_url == "https://idp.example.com/oauth2/token"
    assert settings.kafka_sasl_oauth_client_id == "enricher"
    assert settings.kafka_sasl_oauth_scope == "kafka"
    assert settings.kafka_sasl_oauth_extensions == {
        "logicalCluster": "lkc-123",
        "identityPoolId": "pool-9",
    }
    assert settings.kafka_sasl_oauth_client_secret is not None
    assert settings.kafka_sasl_oauth_client_secret.get_secret_value() == "from-the-secret"
    assert "sasl_oauth_token_provider" in settings.kafka_client_options()


def test_msk_iam_needs_only_the_region_and_the_pod_identity(
    chart: helm.Chart, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("aws_msk_iam_sasl_signer", reason="the msk extra is not installed")
    objects = render(chart, VALUE_SETS["kafka-msk-iam"])
    variables = env(objects)
    assert variables["ENRICHER_KAFKA_SASL_OAUTH_PROVIDER"]["value"] == "msk-iam"
    assert not {n for n in variables if "OAUTH_CLIENT" in n or "TOKEN_URL" in n}
    assert "kafka-oauth" not in {v["name"] for v in pod_spec(objects)["volumes"]}
    account = only(objects, "ServiceAccount")["metadata"]["annotations"]
    assert account["eks.amazonaws.com/role-arn"].endswith(":role/enricher")
    settings = started_settings(objects, monkeypatch, {})
    assert settings.kafka_sasl_oauth_aws_region == "eu-west-1"
    assert settings.kafka_client_options()["sasl_mechanism"] == "OAUTHBEARER"


def test_plain_sasl_gets_no_oauth_settings(chart: helm.Chart) -> None:
    values = merged(
        VALUE_SETS["keda-secrets"],
        {"kafka": {"sasl": {"oauth": {"provider": "oidc", "existingSecret": "kafka-oidc"}}}},
    )
    objects = render(chart, values)
    assert not {n for n in env(objects) if "OAUTH" in n}
    assert "kafka-oauth" not in {v["name"] for v in pod_spec(objects)["volumes"]}


@pytest.mark.parametrize(
    ("oauth", "message"),
    [
        ({}, r"OAUTHBEARER needs kafka\.sasl\.oauth\.provider"),
        ({"provider": "oidc", "clientId": "x", "existingSecret": "s"}, r"oauth\.tokenUrl"),
        ({"provider": "oidc", "tokenUrl": "https://idp/t", "clientId": "x"}, "existingSecret"),
        ({"provider": "msk-iam"}, r"oauth\.awsRegion"),
    ],
)
def test_incomplete_oauth_values_are_refused(
    chart: helm.Chart, oauth: dict[str, Any], message: str
) -> None:
    values = {
        "kafka": {
            "securityProtocol": "SASL_SSL",
            "sasl": {"mechanism": "OAUTHBEARER", "oauth": oauth},
        }
    }
    with pytest.raises(helm.HelmRenderError, match=message):
        render(chart, values)


def test_oauthbearer_needs_a_sasl_protocol(chart: helm.Chart) -> None:
    values = merged(VALUE_SETS["kafka-oidc"], {"kafka": {"securityProtocol": "SSL"}})
    with pytest.raises(helm.HelmRenderError, match=r"kafka\.securityProtocol SASL_SSL"):
        render(chart, values)


# ---------------------------------------------------------------------------------------------
# Redis ledger


def test_redis_ledger_password_is_a_mounted_file(chart: helm.Chart) -> None:
    objects = render(chart, VALUE_SETS["redis-password"])
    variables = env(objects)
    assert variables["ENRICHER_LEDGER_URL"] == {
        "name": "ENRICHER_LEDGER_URL",
        "value": "rediss://enricher@redis.cache:6380/0",
    }
    assert variables["ENRICHER_LEDGER_KEY_PREFIX"]["value"] == "prod-enricher:"
    assert "ENRICHER_LEDGER_PASSWORD" not in variables
    path = variables["ENRICHER_LEDGER_PASSWORD_FILE"]["value"]
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    mounts = {m["name"]: m for m in container(objects)["volumeMounts"]}
    assert volumes["redis-password"]["secret"] == {"secretName": "redis-auth", "defaultMode": 0o440}
    assert mounts["redis-password"]["readOnly"] is True
    assert path == mounts["redis-password"]["mountPath"] + "/redis-password"
    assert "PersistentVolumeClaim" not in kinds(objects)
    deployment = only(objects, "Deployment")["spec"]
    assert deployment["replicas"] == 4
    assert deployment["strategy"]["type"] == "RollingUpdate"


def test_redis_environment_starts_the_service_settings(
    chart: helm.Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the chart sets is what Settings reads: the URL, the prefix and the password file
    (its mount stood in for by a local file)."""
    password_file = tmp_path / "redis-password"
    password_file.write_text("from-the-secret\n", encoding="utf-8")
    for name, variable in env(render(chart, VALUE_SETS["redis-password"])).items():
        if name.startswith("ENRICHER_") and "value" in variable:
            monkeypatch.setenv(name, variable["value"])
    monkeypatch.setenv("ENRICHER_LEDGER_PASSWORD_FILE", str(password_file))
    settings = Settings()
    assert settings.ledger_url == "rediss://enricher@redis.cache:6380/0"
    assert settings.ledger_key_prefix == "prod-enricher:"
    assert settings.ledger_password is not None
    assert settings.ledger_password.get_secret_value() == "from-the-secret"


def test_redis_url_from_a_secret_keeps_the_default_prefix(chart: helm.Chart) -> None:
    variables = env(render(chart, VALUE_SETS["keda-secrets"]))
    assert variables["ENRICHER_LEDGER_URL"]["valueFrom"]["secretKeyRef"]["name"] == "enricher-redis"
    assert variables["ENRICHER_LEDGER_KEY_PREFIX"]["value"] == "enricher:"
    assert "ENRICHER_LEDGER_PASSWORD_FILE" not in variables


def test_sqlite_ledger_gets_no_redis_settings(chart: helm.Chart) -> None:
    values = {"ledger": {"redis": {"password": {"existingSecret": "redis-auth"}}}}
    objects = render(chart, values)
    variables = env(objects)
    assert variables["ENRICHER_LEDGER_URL"]["value"].startswith("sqlite:///")
    assert not {"ENRICHER_LEDGER_KEY_PREFIX", "ENRICHER_LEDGER_PASSWORD_FILE"} & variables.keys()
    assert "redis-password" not in {v["name"] for v in pod_spec(objects)["volumes"]}


def test_redis_ca_mounted_through_extra_volumes(
    chart: helm.Chart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rediss:// URL whose CA is a mounted Secret reaches the Redis connection as given."""
    objects = render(chart, VALUE_SETS["redis-ca"])
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    mounts = {m["name"]: m for m in container(objects)["volumeMounts"]}
    assert volumes["redis-ca"]["secret"] == {"secretName": "redis-ca"}
    assert mounts["redis-ca"] == {
        "name": "redis-ca",
        "mountPath": "/etc/enricher/redis-ca",
        "readOnly": True,
    }
    assert container(objects)["envFrom"] == [{"configMapRef": {"name": "enricher-tuning"}}]
    names = [e["name"] for e in container(objects)["env"]]
    assert names.count("ENRICHER_LEDGER_URL") == 1, "extraEnv replaces the chart's variable"
    url = env(objects)["ENRICHER_LEDGER_URL"]["value"]
    assert url == REDIS_CA_URL
    ca_file = urlsplit(url).query.partition("=")[2]
    assert ca_file.startswith(mounts["redis-ca"]["mountPath"] + "/")

    monkeypatch.setenv("ENRICHER_LEDGER_URL", url)
    settings = Settings()
    ledger = RedisLedger(settings.ledger_url, key_prefix=settings.ledger_key_prefix)
    connection = ledger._redis.connection_pool.connection_kwargs
    assert connection["ssl_ca_certs"] == "/etc/enricher/redis-ca/ca.crt"


def test_extra_env_overrides_what_the_chart_sets(chart: helm.Chart) -> None:
    """An ENRICHER_* in extraEnv wins over the chart's own, without a duplicate name (which
    kubectl apply would merge unpredictably)."""
    values = {"ledger": REDIS, "extraEnv": [{"name": "ENRICHER_MAX_IN_FLIGHT", "value": "512"}]}
    variables = container(render(chart, values))["env"]
    assert [v for v in variables if v["name"] == "ENRICHER_MAX_IN_FLIGHT"] == [
        {"name": "ENRICHER_MAX_IN_FLIGHT", "value": "512"}
    ]
    assert any(v["name"] == "ENRICHER_LEDGER_URL" for v in variables)


def test_redis_backend_without_any_url_is_refused(chart: helm.Chart) -> None:
    values = {"ledger": {"backend": "redis"}, "extraEnv": [{"name": "TZ", "value": "UTC"}]}
    with pytest.raises(helm.HelmRenderError, match="ENRICHER_LEDGER_URL in extraEnv"):
        render(chart, values)


# ---------------------------------------------------------------------------------------------
# Monitoring


@pytest.mark.parametrize(
    ("metrics", "monitor", "rendered"),
    [(True, True, True), (True, False, False), (False, True, False), (False, False, False)],
)
def test_service_monitor_needs_metrics_and_monitor(
    chart: helm.Chart, metrics: bool, monitor: bool, rendered: bool
) -> None:
    values = {"metrics": {"enabled": metrics, "serviceMonitor": {"enabled": monitor}}}
    assert ("ServiceMonitor" in kinds(render(chart, values))) is rendered


def test_service_monitor_scrapes_the_metrics_path(chart: helm.Chart) -> None:
    objects = render(chart, {"metrics": MONITORING})
    monitor = only(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    service = only(objects, "Service")
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}


def test_alerts_cover_dlq_lag_breakers_and_progress(chart: helm.Chart) -> None:
    rule = only(render(chart, {"metrics": MONITORING}), "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    rules = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    expected_metric = {
        "EnricherDeadLetterRate": "enricher_dead_lettered_total",
        "EnricherConsumerLagGrowing": "enricher_consumer_lag",
        "EnricherLaneBreakerOpen": "enricher_lane_breaker_open",
        "EnricherNoProgress": "enricher_committed_offset",
    }
    assert expected_metric.keys() <= rules.keys()
    for alert, metric in expected_metric.items():
        assert metric in rules[alert]["expr"]
    for alert in rules.values():
        # Scoped to this release, so two releases in one Prometheus do not trip each other.
        assert f'job="{FULLNAME}", namespace="{NAMESPACE}"' in alert["expr"]
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["summary"]
        assert "{{" not in alert["expr"]


def test_monitoring_objects_are_off_by_default(chart: helm.Chart) -> None:
    found = kinds(render(chart))
    assert not found & {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"}
    assert only(render(chart), "ConfigMap")["metadata"]["name"] == f"{FULLNAME}-tenants"


KNOWN_METRICS = {
    "enricher_consumed_total",
    "enricher_bad_input_total",
    "enricher_delivered_total",
    "enricher_retried_total",
    "enricher_dead_lettered_total",
    "enricher_vendor_request_seconds_bucket",
    "enricher_vendor_request_seconds_count",
    "enricher_vendor_request_seconds_sum",
    "enricher_in_flight",
    "enricher_committed_offset",
    "enricher_assigned_partitions",
    "enricher_consumer_lag",
    "enricher_lane_breaker_open",
    "enricher_lane_limit",
    "enricher_lane_in_flight",
    "enricher_oldest_undelivered_seconds",
}


def test_grafana_dashboard_uses_the_service_metrics(chart: helm.Chart) -> None:
    objects = render(chart, {"metrics": MONITORING})
    (config_map,) = [o for o in objects if o["metadata"]["name"] == f"{FULLNAME}-dashboard"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["interaction-enricher.json"])
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\benricher_[a-z_]+", expr)}
    assert used <= KNOWN_METRICS
    assert {"enricher_consumer_lag", "enricher_dead_lettered_total"} <= used
    assert all('job="$job"' in expr for expr in exprs)
    panel_ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(panel_ids) == len(set(panel_ids))
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"datasource", "job"}


def test_network_policy_restricts_ingress_to_listed_peers(chart: helm.Chart) -> None:
    policy = only(render(chart, VALUE_SETS["monitored-locked-down"]), "NetworkPolicy")["spec"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": 8080, "protocol": "TCP"}]
    peers = ingress["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}}} in peers
    egress_ports = [p["port"] for rule in policy["egress"] for p in rule.get("ports", [])]
    assert egress_ports == [53, 53, 9093]


# ---------------------------------------------------------------------------------------------
# values.schema.json


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"replicaCount": -1}, "/replicaCount"),
        ({"replicaCount": "two"}, "/replicaCount"),
        ({"replicaas": 2}, "replicaas"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"kafka": {"securityProtocol": "TLS"}}, "/kafka/securityProtocol"),
        ({"kafka": {"sasl": {"mechanism": "GSSAPI"}}}, "/kafka/sasl/mechanism"),
        ({"kafka": {"sasl": {"oauth": {"provider": "kerberos"}}}}, "/kafka/sasl/oauth/provider"),
        ({"kafka": {"sasl": {"oauth": {"tokenUrl": "idp/token"}}}}, "/kafka/sasl/oauth/tokenUrl"),
        ({"kafka": {"sasl": {"oauth": {"awsRegion": "Ireland"}}}}, "/kafka/sasl/oauth/awsRegion"),
        ({"kafka": {"sasl": {"oauth": {"extensions": {"auth": "x"}}}}}, "propertyName 'auth'"),
        ({"kafka": {"sasl": {"oauth": {"clientSecret": "x"}}}}, "clientSecret"),
        ({"kafka": {"partitions": 0}}, "/kafka/partitions"),
        ({"kafka": {"topics": {"closed": "bad topic"}}}, "/kafka/topics/closed"),
        ({"ledger": {"backend": "postgres"}}, "/ledger/backend"),
        ({"ledger": {"redis": {"url": "http://redis"}}}, "/ledger/redis/url"),
        ({"ledger": {"redis": {"url": "redis://:pw@redis:6379/0"}}}, "/ledger/redis/url"),
        ({"ledger": {"redis": {"url": "rediss://u:pw@redis/0"}}}, "/ledger/redis/url"),
        ({"ledger": {"redis": {"url": "redis://redis/0?password=pw"}}}, "/ledger/redis/url"),
        ({"ledger": {"redis": {"keyPrefix": "{enricher}:"}}}, "/ledger/redis/keyPrefix"),
        ({"ledger": {"redis": {"keyPrefix": ""}}}, "/ledger/redis/keyPrefix"),
        ({"ledger": {"redis": {"password": {"key": "a/b"}}}}, "/ledger/redis/password/key"),
        ({"ledger": {"redis": {"password": {"secret": "x"}}}}, "secret"),
        ({"log": {"format": "xml"}}, "/log/format"),
        ({"delivery": {"commitInterval": "soon"}}, "/delivery/commitInterval"),
        ({"terminationGracePeriodSeconds": 0}, "/terminationGracePeriodSeconds"),
        ({"pdb": {"unhealthyPodEvictionPolicy": "Never"}}, "/pdb/unhealthyPodEvictionPolicy"),
        ({"keda": {"minReplicaCount": 0}}, "/keda/minReplicaCount"),
        ({"keda": {"offsetResetPolicy": "none"}}, "/keda/offsetResetPolicy"),
        ({"autoscaling": {"targetCPUUtilizationPercentage": 150}}, "targetCPUUtilization"),
        ({"containerSecurityContext": {"privilegd": True}}, "privilegd"),
        ({"tenants": {"secretMounts": [{"name": "x", "secretName": "y"}]}}, "mountPath"),
        ({"extraVolumeMounts": [{"name": "redis-ca"}]}, "mountPath"),
        ({"extraVolumeMounts": [{"name": "x", "mountPath": "etc"}]}, "/extraVolumeMounts/0"),
        ({"extraVolumes": [{"secret": {"secretName": "redis-ca"}}]}, "name"),
        ({"extraVolumes": {"redis-ca": {}}}, "/extraVolumes"),
        ({"resources": {"limits": {"memory": "lots"}}}, "/resources/limits/memory"),
    ],
)
def test_schema_rejects_bad_values(chart: helm.Chart, values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=re.escape(where)):
        chart.validate_schema(values)
    with pytest.raises(helm.HelmValuesError):
        render(chart, values)


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_schema_accepts_the_documented_value_sets(chart: helm.Chart, value_set: str) -> None:
    chart.validate_schema(VALUE_SETS[value_set])


def test_schema_covers_every_default_key(chart: helm.Chart) -> None:
    """Each key in values.yaml is described, so additionalProperties=false guards them all."""

    def paths(node: dict[str, Any], schema: dict[str, Any], prefix: str) -> Iterator[str]:
        props = schema.get("properties", {})
        for key, value in node.items():
            if key not in props:
                yield f"{prefix}{key}"
            elif isinstance(value, dict) and props[key].get("additionalProperties") is False:
                yield from paths(value, props[key], f"{prefix}{key}.")

    schema = chart.schema
    assert schema is not None
    assert schema["additionalProperties"] is False
    assert list(paths(chart.values, schema, "")) == []


def test_every_alert_links_to_its_runbook_section(chart: helm.Chart) -> None:
    """Each alert's runbook_url lands on a heading of the operations page about alerts."""
    base = "https://docs.example.com/enricher/"
    values = {"metrics": merged(MONITORING, {"prometheusRule": {"runbookBaseUrl": base}})}
    rule = only(render(chart, values), "PrometheusRule")
    alerts = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    page = ROOT / "docs" / "operations" / "alerts.md"
    site, github = anchors(page.read_text(encoding="utf-8"))
    assert len(alerts) == 5
    for alert in alerts:
        url = alert["annotations"].get("runbook_url", "")
        assert url.startswith(f"{base}operations/alerts/#"), (alert["alert"], url)
        anchor = url.rpartition("#")[2]
        assert anchor in site, f"{alert['alert']}: no heading #{anchor} in {page}"
        assert anchor in github, f"{alert['alert']}: GitHub names no heading #{anchor}"
