"""The Kubernetes example's operator surfaces (deploy/k8s/), read as the cluster would read them.

No cluster here: the manifests and Helm values are parsed, the network policies evaluated on the
labels each pod will carry (the chart's, dagster-k8s's, ours), and the secrets followed to the
pods that receive them. Each test guards a property a careless edit would break: an Ingress
straight to a webserver, a missing default deny, the webhook secret in a run pod, a secret value
in a file, the receiver's edge limits.
"""

from __future__ import annotations

import inspect
import ipaddress
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from ofhq_pipeline.defs.deployment import DEPLOY_DIR, K8S_INSTANCE, K8S_VALUES
from ofhq_pipeline.realtime.receiver import MAX_BODY_BYTES, WEBHOOK_PATH
from ofhq_pipeline_tests.warehouse.test_deploy import require_dagster_k8s

K8S_DIR = DEPLOY_DIR / "k8s"
RELEASE = "ofhq"  # `helm upgrade --install ofhq ...`: names the chart's Services
DAGSTER_NS, EDGE_NS = "ofhq", "ofhq-edge"
INGRESS_NS = "ingress-nginx"
RECEIVER_SECRET = "ofhq-receiver-secrets"
WEBHOOK_SECRET_VARS = {"OFAPI_WEBHOOK_SECRET", "OFAPI_WEBHOOK_SECRET_PREVIOUS",
                       "OFAPI_WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT"}
RUN_SECRET_KEYS = {"OFAPI_API_KEY", "OPENAI_API_KEY", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID",
                   "OFHQ_MARTS_POSTGRES_URL"}
# Values that stand in for a secret: the receiver refuses to start with one, and no file ships one.
PLACEHOLDER = re.compile(r"(?i)\b(change[-_ ]?me|replace[-_ ]?me|changeit|hunter2|s3cr3t)\b")
# A URL with a password in it; `${VAR}`/`$VAR` references are fine.
URL_PASSWORD = re.compile(r"://[^/\s:@'\"]+:(?!\$)[^@\s'\"/]+@")


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> list[dict[str, Any]]:
    """Every Kubernetes object under deploy/k8s (not the Helm values nor the instance file)."""
    return [doc for path in sorted(K8S_DIR.glob("*.yaml")) for doc in documents(path)
            if "apiVersion" in doc and "kind" in doc]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests() if doc["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    return doc


def values() -> dict[str, Any]:
    return yaml.safe_load(K8S_VALUES.read_text())


def launcher_values() -> dict[str, Any]:
    return values()["runLauncher"]["config"]["k8sRunLauncher"]


def code_location_values() -> dict[str, Any]:
    (deployment,) = values()["dagster-user-deployments"]["deployments"]
    return deployment


def template_labels(deployment_name: str) -> dict[str, str]:
    return named("Deployment", deployment_name)["spec"]["template"]["metadata"]["labels"]


def container(deployment_name: str) -> dict[str, Any]:
    (only,) = named("Deployment", deployment_name)["spec"]["template"]["spec"]["containers"]
    return only


# --- pods as the cluster will label them ------------------------------------------------------

class Pod:
    def __init__(self, name: str, namespace: str, labels: Mapping[str, str], port: int = 0):
        self.name, self.namespace, self.labels, self.port = name, namespace, dict(labels), port

    def __repr__(self) -> str:
        return self.name


def chart_pod(name: str, component: str, port: int = 0) -> Pod:
    """A pod of the Dagster chart: its selector labels and `component` (the chart's helpers)."""
    labels = {"app.kubernetes.io/name": "dagster", "app.kubernetes.io/instance": RELEASE,
              "component": component}
    return Pod(name, DAGSTER_NS, labels, port)


def run_pod_labels() -> dict[str, str]:
    """What dagster-k8s puts on a run pod (common labels, component `run_worker`), plus the
    launcher's `labels` and, through `includeConfigInLaunchedRuns`, the code location's."""
    return {"app.kubernetes.io/name": "dagster", "app.kubernetes.io/instance": "dagster",
            "app.kubernetes.io/part-of": "dagster", "app.kubernetes.io/component": "run_worker",
            **(launcher_values().get("labels") or {}),
            **(code_location_values().get("labels") or {})}


def container_port(deployment_name: str) -> int:
    (port,) = container(deployment_name)["ports"]
    return port["containerPort"]


def pods() -> dict[str, Pod]:
    webserver_port = values()["dagsterWebserver"]["service"]["port"]
    code = code_location_values()
    all_pods = [
        chart_pod("webserver", "dagster-webserver", webserver_port),
        chart_pod("webserver-read-only", "dagster-webserver-read-only", webserver_port),
        chart_pod("daemon", "dagster-daemon"),
        Pod("code-location", DAGSTER_NS,
            {"app.kubernetes.io/name": "dagster-user-deployments",
             "app.kubernetes.io/instance": RELEASE, "component": "user-deployments",
             "deployment": code["name"], **(code.get("labels") or {})}, code["port"]),
        Pod("run", DAGSTER_NS, run_pod_labels()),
        Pod("postgres", DAGSTER_NS, {"app.kubernetes.io/name": "postgresql"}, 5432),
        Pod("stray", DAGSTER_NS, {"app": "added-later"}, 8080),
        Pod("oauth2-proxy-operators", EDGE_NS, template_labels("ofhq-oauth2-proxy-operators"),
            container_port("ofhq-oauth2-proxy-operators")),
        Pod("oauth2-proxy-viewers", EDGE_NS, template_labels("ofhq-oauth2-proxy-viewers"),
            container_port("ofhq-oauth2-proxy-viewers")),
        Pod("receiver", EDGE_NS, template_labels("ofhq-webhook-receiver"),
            container_port("ofhq-webhook-receiver")),
        Pod("stray-edge", EDGE_NS, {"app": "added-later"}, 8080),
        Pod("ingress-controller", INGRESS_NS,
            {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}),
        Pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, 53),
        Pod("elsewhere", "default", {"app.kubernetes.io/name": "ingress-nginx"}),
    ]
    return {pod.name: pod for pod in all_pods}


# --- NetworkPolicy semantics (what a CNI enforces) --------------------------------------------

def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, vals = expr["key"], expr["operator"], set(expr.get("values") or [])
        ok = {"In": key in labels and labels[key] in vals,
              "NotIn": key not in labels or labels[key] not in vals,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def peer_matches(peer: Mapping[str, Any], policy_ns: str, other: Pod | str) -> bool:
    """Does a `from`/`to` peer of a policy in `policy_ns` cover `other` (a pod, or an IP)?"""
    if isinstance(other, str):
        block = peer.get("ipBlock")
        if not block:
            return False
        address = ipaddress.ip_address(other)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except") or [])
    if "ipBlock" in peer:
        return False  # pod traffic is matched by selectors in this model
    if "namespaceSelector" in peer:
        ns_ok = selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace})
    else:
        ns_ok = other.namespace == policy_ns
    return ns_ok and ("podSelector" not in peer or selects(peer["podSelector"], other.labels))


def port_matches(rule: Mapping[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(
        p.get("port") in (None, port) and p.get("protocol", "TCP") == protocol for p in ports)


def policies_for(pod: Pod, direction: str) -> list[dict[str, Any]]:
    return [policy for policy in of_kind("NetworkPolicy")
            if policy["metadata"]["namespace"] == pod.namespace
            and direction in policy["spec"].get("policyTypes", ["Ingress"])
            and selects(policy["spec"]["podSelector"], pod.labels)]


def admits(target: Pod, source: Pod, port: int | None = None, protocol: str = "TCP") -> bool:
    """May `source` open a connection to `target` (ingress side only)?"""
    port = target.port if port is None else port
    applying = policies_for(target, "Ingress")
    if not applying:
        return True
    return any(
        port_matches(rule, port, protocol)
        and (not rule.get("from") or any(
            peer_matches(peer, policy["metadata"]["namespace"], source) for peer in rule["from"]))
        for policy in applying for rule in policy["spec"].get("ingress") or [])


def egress_allows(source: Pod, dest: Pod | str, port: int, protocol: str = "TCP") -> bool:
    applying = policies_for(source, "Egress")
    if not applying:
        return True
    return any(
        port_matches(rule, port, protocol)
        and (not rule.get("to") or any(
            peer_matches(peer, policy["metadata"]["namespace"], dest) for peer in rule["to"]))
        for policy in applying for rule in policy["spec"].get("egress") or [])


def sources_of(target: str) -> set[str]:
    everyone = pods()
    return {name for name, pod in everyone.items()
            if name != target and admits(everyone[target], pod)}


# --- the UI: only through oauth2-proxy ---------------------------------------------------------

def webserver_services() -> set[str]:
    """The chart's webserver Services: `<release>-webserver` and its read-only twin."""
    return {f"{RELEASE}-webserver", f"{RELEASE}-webserver-read-only"}


def ingress_backends(ingress: Mapping[str, Any]) -> Iterator[tuple[str | None, str, str]]:
    """(host, path, Service) of every route of an Ingress, its default backend included."""
    spec = ingress["spec"]
    if "defaultBackend" in spec:
        yield None, "*", spec["defaultBackend"]["service"]["name"]
    for rule in spec.get("rules") or []:
        for path in rule["http"]["paths"]:
            yield rule.get("host"), path["path"], path["backend"]["service"]["name"]


def service_pods(service: Mapping[str, Any]) -> set[str]:
    return {name for name, pod in pods().items()
            if pod.namespace == service["metadata"]["namespace"]
            and selects({"matchLabels": service["spec"]["selector"]}, pod.labels)}


def test_no_ingress_routes_to_a_webserver() -> None:
    assert values()["ingress"]["enabled"] is False  # the chart's own Ingress targets the webserver
    assert values()["dagsterWebserver"]["service"]["type"] == "ClusterIP"
    routed = set()
    for ingress in of_kind("Ingress"):
        for host, path, name in ingress_backends(ingress):
            assert name not in webserver_services(), (ingress["metadata"]["name"], host, path)
            service = named("Service", name)
            assert service["metadata"]["namespace"] == ingress["metadata"]["namespace"]
            # The Service behind a route selects a proxy or the receiver, never a Dagster pod.
            behind = service_pods(service)
            assert behind and behind <= {"oauth2-proxy-operators", "oauth2-proxy-viewers",
                                         "receiver"}, (name, behind)
            routed |= behind
    assert routed == {"oauth2-proxy-operators", "oauth2-proxy-viewers", "receiver"}
    for service in of_kind("Service"):
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]


def proxy_args(deployment_name: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for arg in container(deployment_name)["args"]:
        flag, _, value = arg.partition("=")
        parsed.setdefault(flag, []).append(value)
    return parsed


def test_oauth2_proxy_fronts_each_webserver_and_checks_groups() -> None:
    webserver = values()["dagsterWebserver"]
    assert webserver["enableReadOnly"] is True  # the chart deploys the read-only twin
    port = webserver["service"]["port"]
    expected = {"ofhq-oauth2-proxy-operators": f"{RELEASE}-webserver",
                "ofhq-oauth2-proxy-viewers": f"{RELEASE}-webserver-read-only"}
    for proxy, upstream_service in expected.items():
        args = proxy_args(proxy)
        (upstream,) = args["--upstream"]
        assert re.fullmatch(rf"http://{upstream_service}\.{DAGSTER_NS}\.svc\.cluster\.local:"
                            rf"{port}/?", upstream), upstream
        assert args["--cookie-secure"] == ["true"]
        assert all(arg.startswith("__Host-") for arg in args["--cookie-name"])
        # Who may sign in: an e-mail domain, and groups; never anyone with an account anywhere.
        assert args.get("--allowed-group"), proxy
        assert "*" not in args.get("--email-domain", ["*"]), proxy
        for loosening in ("--skip-auth-route", "--skip-auth-regex", "--skip-jwt-bearer-tokens",
                          "--ssl-insecure-skip-verify", "--ssl-upstream-insecure-skip-verify",
                          "--insecure-oidc-allow-unverified-email", "--ping-user-agent",
                          "--skip-auth-preflight", "--client-secret", "--cookie-secret"):
            assert loosening not in args, (proxy, loosening)
        image = container(proxy)["image"]
        version = tuple(int(n) for n in re.search(r":v(\d+)\.(\d+)\.(\d+)$", image).groups())
        assert version >= (7, 15, 1), image  # older releases have critical auth bypasses
    assert proxy_args("ofhq-oauth2-proxy-operators")["--allowed-group"] == ["ofhq-operators"]
    assert "ofhq-viewers" in proxy_args("ofhq-oauth2-proxy-viewers")["--allowed-group"]
    cookie_keys = {next(e["valueFrom"]["secretKeyRef"]["key"] for e in container(p)["env"]
                        if e["name"] == "OAUTH2_PROXY_COOKIE_SECRET") for p in expected}
    assert len(cookie_keys) == 2  # a viewer's session cookie is worthless to the operators' proxy


# --- network policies ---------------------------------------------------------------------------

def test_default_deny_in_both_namespaces() -> None:
    for namespace in (DAGSTER_NS, EDGE_NS):
        assert any(
            policy["metadata"]["namespace"] == namespace
            and policy["spec"]["podSelector"] == {}
            and "Ingress" in policy["spec"]["policyTypes"]
            and not policy["spec"].get("ingress")
            for policy in of_kind("NetworkPolicy")), namespace
    assert sources_of("stray") == set() and sources_of("stray-edge") == set()


EXPECTED_SOURCES = {
    "webserver": {"oauth2-proxy-operators"},
    "webserver-read-only": {"oauth2-proxy-viewers"},
    "oauth2-proxy-operators": {"ingress-controller"},
    "oauth2-proxy-viewers": {"ingress-controller"},
    "receiver": {"ingress-controller"},
    "code-location": {"webserver", "webserver-read-only", "daemon"},
    "postgres": {"webserver", "webserver-read-only", "daemon", "code-location", "run", "receiver"},
    "daemon": set(),
    "run": set(),
}


@pytest.mark.parametrize("target", sorted(EXPECTED_SOURCES))
def test_who_may_connect_to_whom(target: str) -> None:
    assert sources_of(target) == EXPECTED_SOURCES[target]
    everyone = pods()
    for source in EXPECTED_SOURCES[target]:  # on the pod's own port only
        assert not admits(everyone[target], everyone[source], port=22)


def test_run_pods_reach_postgres_dns_and_public_https_only() -> None:
    everyone = pods()
    run = everyone["run"]
    assert egress_allows(run, everyone["postgres"], 5432)
    assert egress_allows(run, everyone["kube-dns"], 53, "UDP")
    assert egress_allows(run, "203.0.113.10", 443)  # an external API
    assert not egress_allows(run, "203.0.113.10", 80)
    assert not egress_allows(run, "10.96.0.1", 443)  # the Kubernetes API's usual service address
    assert not egress_allows(run, "169.254.169.254", 443)  # cloud metadata
    for other in ("webserver", "code-location", "receiver", "oauth2-proxy-operators"):
        assert not egress_allows(run, everyone[other], everyone[other].port), other


def test_receiver_reaches_postgres_and_dns_only() -> None:
    everyone = pods()
    receiver = everyone["receiver"]
    assert egress_allows(receiver, everyone["postgres"], 5432)
    assert egress_allows(receiver, everyone["kube-dns"], 53, "UDP")
    assert not egress_allows(receiver, "203.0.113.10", 443)
    for other in ("webserver", "code-location", "run"):
        assert not egress_allows(receiver, everyone[other], everyone[other].port or 80), other


def test_edge_pods_meet_the_restricted_pod_security_level() -> None:
    levels = {ns["metadata"]["name"]: ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
              for ns in of_kind("Namespace")}
    assert levels == {DAGSTER_NS: "baseline", EDGE_NS: "restricted"}
    for deployment in of_kind("Deployment"):
        assert deployment["metadata"]["namespace"] == EDGE_NS
        spec = deployment["spec"]["template"]["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for box in spec["containers"]:
            assert box["securityContext"]["allowPrivilegeEscalation"] is False
            assert box["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert selects(deployment["spec"]["selector"],
                       deployment["spec"]["template"]["metadata"]["labels"])


def test_run_pods_carry_the_label_the_policies_select() -> None:
    """Both instance descriptions give run pods `ofhq-role: run`, and dagster-k8s puts the
    launcher's labels and its own component label on the pod it creates."""
    require_dagster_k8s()
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.launcher import K8sRunLauncher

    instance = yaml.safe_load(K8S_INSTANCE.read_text())
    assert instance["run_launcher"]["config"]["labels"] == launcher_values()["labels"]
    context = K8sContainerContext(labels=launcher_values()["labels"])
    pod_labels = context.run_k8s_config.pod_template_spec_metadata["labels"]
    assert selects({"matchLabels": {"ofhq-role": "run"}}, pod_labels)
    assert 'component="run_worker"' in inspect.getsource(K8sRunLauncher)


# --- secrets: each process gets its own ---------------------------------------------------------

def run_pod_secrets() -> set[str]:
    """Secrets a run pod gets: the launcher's, and the code location's when it passes its
    configuration on to the runs it launches (the chart's default)."""
    names = {s["name"] for s in launcher_values()["envSecrets"]}
    code = code_location_values()
    if (code.get("includeConfigInLaunchedRuns") or {"enabled": True})["enabled"]:
        names |= {s["name"] for s in code.get("envSecrets") or []}
    return names


def test_run_pods_get_the_run_secrets_and_never_the_receivers() -> None:
    instance = yaml.safe_load(K8S_INSTANCE.read_text())
    assert set(instance["run_launcher"]["config"]["env_secrets"]) <= run_pod_secrets()
    assert "ofhq-run-secrets" in run_pod_secrets()
    assert RECEIVER_SECRET not in run_pod_secrets()
    # The code location gets the landing URL for the webhook sensor, not the API keys.
    assert [s["name"] for s in code_location_values()["envSecrets"]] == ["ofhq-landing"]


def test_webservers_and_daemon_get_no_application_secret() -> None:
    for component in ("dagsterWebserver", "dagsterDaemon"):
        settings = values()[component]
        assert not settings.get("envSecrets"), component
        env = settings.get("env") or []
        assert isinstance(env, list) and not any("valueFrom" in e for e in env), component


def test_receiver_gets_its_signing_secrets_and_landing_url_only() -> None:
    receiver = container("ofhq-webhook-receiver")
    assert "envFrom" not in receiver  # key by key: nothing added to the Secret leaks in
    env = {e["name"]: e for e in receiver["env"]}
    assert set(env) == WEBHOOK_SECRET_VARS | {"OFHQ_LANDING_URL"}
    assert "OFAPI_API_KEY" not in env
    for entry in env.values():
        assert entry["valueFrom"]["secretKeyRef"]["name"] == RECEIVER_SECRET
    assert named("Deployment", "ofhq-webhook-receiver")["metadata"]["namespace"] == EDGE_NS


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, Mapping):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_signing_secrets_are_named_by_the_receiver_alone() -> None:
    """No other object, nor the Helm values or the instance file, mentions the receiver's Secret
    or the signing-secret variables (comments aside)."""
    holders = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for doc in documents(path):
            strings = {node for node in walk(doc) if isinstance(node, str)}
            if strings & ({RECEIVER_SECRET} | WEBHOOK_SECRET_VARS):
                holders.append((path.name, doc.get("kind"), (doc.get("metadata") or {}).get("name")))
    assert holders == [("receiver.yaml", "Deployment", "ofhq-webhook-receiver")]


def readme_secrets() -> dict[tuple[str, str], dict[str, str]]:
    """(namespace, name) -> {key: value as written} of each `kubectl create secret generic`."""
    text = (K8S_DIR / "README.md").read_text().replace("\\\n", " ")
    created = {}
    for line in text.splitlines():
        if "create secret generic" not in line:
            continue
        words = shlex.split(line, comments=True)
        namespace = words[words.index("-n") + 1]
        name = words[words.index("generic") + 1]
        created[(namespace, name)] = dict(
            word.removeprefix("--from-literal=").split("=", 1)
            for word in words if word.startswith("--from-literal="))
    return created


def referenced_secrets() -> dict[tuple[str, str], set[str]]:
    """(namespace, name) -> required keys, for every Secret a pod of the example reads."""
    refs: dict[tuple[str, str], set[str]] = {
        (DAGSTER_NS, values()["global"]["postgresqlSecretName"]): {"postgresql-password"}}
    for name in run_pod_secrets():
        refs.setdefault((DAGSTER_NS, name), set())
    for deployment in of_kind("Deployment"):
        namespace = deployment["metadata"]["namespace"]
        for node in walk(deployment):
            if isinstance(node, Mapping) and "secretKeyRef" in node:
                ref = node["secretKeyRef"]
                keys = refs.setdefault((namespace, ref["name"]), set())
                if not ref.get("optional"):
                    keys.add(ref["key"])
    return refs


def test_readme_creates_every_secret_with_its_keys() -> None:
    created = readme_secrets()
    for secret, keys in referenced_secrets().items():
        assert secret in created, secret
        assert keys <= set(created[secret]), (secret, keys - set(created[secret]))
    assert set(created[(DAGSTER_NS, "ofhq-run-secrets")]) == RUN_SECRET_KEYS
    receiver_keys = set(created[(EDGE_NS, RECEIVER_SECRET)])
    assert receiver_keys <= WEBHOOK_SECRET_VARS | {"OFHQ_LANDING_URL"}
    for (_, name), keys in created.items():
        if name != RECEIVER_SECRET:
            assert not set(keys) & WEBHOOK_SECRET_VARS, name
        for key, value in keys.items():  # values come from the shell, never written here
            assert value.startswith("$"), (name, key)


def test_no_secret_value_anywhere_under_deploy() -> None:
    for path in sorted(p for p in DEPLOY_DIR.rglob("*") if p.is_file()):
        text = path.read_text()
        assert not PLACEHOLDER.search(text), (path, PLACEHOLDER.search(text).group(0))
        assert not URL_PASSWORD.search(text), (path, URL_PASSWORD.search(text).group(0))
        if path.suffix == ".yaml":
            for doc in documents(path):
                assert doc.get("kind") != "Secret", path  # created with kubectl, never shipped
                for node in walk(doc):
                    if isinstance(node, Mapping) and "name" in node and "value" in node:
                        assert not re.search(r"(KEY|SECRET|TOKEN|PASSWORD)", node["name"]), (
                            path, node["name"])


# --- the receiver's edge ---------------------------------------------------------------------------

def size_in_bytes(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", text).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]


def receiver_ingress() -> dict[str, Any]:
    (ingress,) = [i for i in of_kind("Ingress")
                  if {name for *_, name in ingress_backends(i)} == {"ofhq-webhook-receiver"}]
    return ingress


def test_receiver_ingress_limits_slow_and_greedy_clients() -> None:
    ingress = receiver_ingress()
    notes = {key.removeprefix("nginx.ingress.kubernetes.io/"): value
             for key, value in ingress["metadata"]["annotations"].items()}
    assert size_in_bytes(notes["proxy-body-size"]) == MAX_BODY_BYTES
    assert size_in_bytes(notes["client-body-buffer-size"]) >= MAX_BODY_BYTES
    assert notes["proxy-request-buffering"] == "on"
    assert 1 <= int(notes["limit-connections"]) <= 100
    assert not any(key.endswith("-snippet") for key in notes)
    assert [(path, p["pathType"]) for rule in ingress["spec"]["rules"]
            for p in rule["http"]["paths"] for path in [p["path"]]] == [(WEBHOOK_PATH, "Exact")]
    # Header and body timeouts have no per-Ingress annotation: the controller sets them.
    controller = yaml.safe_load((K8S_DIR / "ingress-nginx-values.yaml").read_text())["controller"]
    assert controller["allowSnippetAnnotations"] is False
    assert 0 < int(controller["config"]["client-header-timeout"]) <= 30
    assert 0 < int(controller["config"]["client-body-timeout"]) <= 30
    assert controller["service"]["externalTrafficPolicy"] == "Local"  # per-client counting
    # The edge is no looser than the receiver's own limits, which the Deployment states.
    command = container("ofhq-webhook-receiver")["command"]
    flags = dict(zip(command[3::2], command[4::2], strict=True))
    assert command[:3] == ["ofhq", "webhooks", "serve"]
    assert int(controller["config"]["client-header-timeout"]) <= float(flags["--header-timeout"])
    assert int(controller["config"]["client-body-timeout"]) <= float(flags["--body-timeout"])
    assert int(notes["limit-connections"]) <= int(flags["--max-connections"])
    for each in of_kind("Ingress"):
        assert each["spec"]["ingressClassName"] == controller["ingressClassResource"]["name"]


def test_every_ingress_serves_tls_for_its_hosts() -> None:
    for ingress in of_kind("Ingress"):
        tls_hosts = {host for entry in ingress["spec"]["tls"] for host in entry["hosts"]}
        assert all(entry.get("secretName") for entry in ingress["spec"]["tls"])
        assert {rule["host"] for rule in ingress["spec"]["rules"]} <= tls_hosts
