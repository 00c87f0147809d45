"""Deployment + the export's choices -> Kubernetes objects, as plain dicts. Pure: no I/O.

Each compose service becomes a workload of the same name with a ClusterIP Service of the same
name where it listens (the stack's code connects to `postgres`, `redis`, `qdrant`, `vecpipe` by
name): a StatefulSet when it keeps a named volume of its own (qdrant, redis, the bundled
postgres), a Deployment otherwise (one replica, `Recreate`). Volumes several services share
become ReadWriteMany claims. Every pod sets `enableServiceLinks: false`: a Service named `webui`
would otherwise give pods `WEBUI_PORT=tcp://...`, which the stack reads as a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wizard.export.choices import Choices
from wizard.export.deployment import Deployment, Service, Volume
from wizard.export.pods import ADMIN_CONTAINER, CA_KEY, WEB_SERVICE, Pods, slug


@dataclass(frozen=True)
class Manifests:
    objects: tuple[dict[str, Any], ...]
    images: Mapping[str, str]  # built service -> the image to build and push
    warnings: tuple[str, ...]


def build(deployment: Deployment, choices: Choices) -> Manifests:
    """Every object `kubectl apply -k` needs, in the order the files are listed."""
    pods = Pods(deployment, choices)
    stack = pods.stack
    size = str(pods.settings.get("claim_size") or "10Gi")
    env = pods.env_entries()
    workloads: list[dict[str, Any]] = []
    services: list[dict[str, Any]] = []
    for name, service in deployment.services.items():
        owned = pods.owns(service)
        volumes, mounts = pods.volumes(service, owned)
        container = pods.container(service, env.get(name, []), mounts)
        spec: dict[str, Any] = {"enableServiceLinks": False}
        if name == WEB_SERVICE:
            init, extra = pods.init_containers(container, env.get(ADMIN_CONTAINER, []))
            spec["initContainers"] = init
            volumes += extra
        spec["containers"] = [container]
        if volumes:
            spec["volumes"] = volumes
        workloads.append(_workload(stack, service, spec, owned, size, choices))
        ports = pods.ports(service)
        if ports:
            services.append(_service(stack, name, ports))
    if deployment.ca_certificate is not None:
        pods.secret[CA_KEY] = deployment.ca_certificate
    objects: list[dict[str, Any]] = []
    if choices.namespace:
        namespace = {"apiVersion": "v1", "kind": "Namespace"}
        objects.append({**namespace, "metadata": _meta(choices.namespace, stack)})
    objects.append(_config_map(stack, pods.config))
    objects.append(_secret(stack, pods.secret))
    objects += [_claim(stack, claim, size, choices) for claim in sorted(pods.claims.values())]
    objects += services
    objects += sorted(workloads, key=lambda item: (item["kind"] != "StatefulSet", _name_of(item)))
    if choices.host:
        web = next((s for s in services if _name_of(s) == WEB_SERVICE), None)
        port = web["spec"]["ports"][0]["port"] if web else 8080
        objects.append(_ingress(stack, choices, port))
    images = {
        name: pods.image(service)
        for name, service in deployment.services.items()
        if service.build is not None
    }
    warnings = [*_warnings(deployment, choices, pods), *pods.warnings]
    return Manifests(tuple(objects), images, tuple(warnings))


def _name_of(item: Mapping[str, Any]) -> str:
    return str(item["metadata"]["name"])


def _meta(name: str, stack: str, service: str | None = None) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "wizard", "app.kubernetes.io/part-of": stack}
    if service is not None:
        labels["app.kubernetes.io/name"] = service
    return {"name": name, "labels": labels}


def _selector(stack: str, service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": service, "app.kubernetes.io/part-of": stack}


def _claim_spec(mode: str, size: str, choices: Choices) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": [mode], "resources": {"requests": {"storage": size}}}
    if choices.storage_class:
        spec["storageClassName"] = choices.storage_class
    return spec


def _workload(
    stack: str,
    service: Service,
    spec: dict[str, Any],
    owned: list[Volume],
    size: str,
    choices: Choices,
) -> dict[str, Any]:
    selector = _selector(stack, service.name)
    template = {"metadata": {"labels": selector}, "spec": spec}
    body: dict[str, Any] = {"replicas": 1, "selector": {"matchLabels": selector}}
    if owned:
        body["serviceName"] = service.name
        body["template"] = template
        body["volumeClaimTemplates"] = [
            {
                "metadata": {"name": slug(volume.source)},
                "spec": _claim_spec("ReadWriteOnce", size, choices),
            }
            for volume in owned
        ]
        kind = "StatefulSet"
    else:
        # One pod at a time: beat must never run twice, and the shared claims and GPUs are
        # handed from the old pod to the new one.
        body["strategy"] = {"type": "Recreate"}
        body["template"] = template
        kind = "Deployment"
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": _meta(service.name, stack, service.name),
        "spec": body,
    }


def _service(stack: str, name: str, ports: list[int]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, stack, name),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(stack, name),
            "ports": [
                {"name": f"p{port}", "port": port, "targetPort": port, "protocol": "TCP"}
                for port in ports
            ],
        },
    }


def _config_map(stack: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(f"{stack}-config", stack),
        "data": {key: data[key] for key in sorted(data)},
    }


def _secret(stack: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(f"{stack}-secrets", stack),
        "type": "Opaque",
        "stringData": {key: data[key] for key in sorted(data)},
    }


def _claim(stack: str, name: str, size: str, choices: Choices) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(name, stack),
        "spec": _claim_spec("ReadWriteMany", size, choices),
    }


def _ingress(stack: str, choices: Choices, port: int) -> dict[str, Any]:
    backend = {"service": {"name": WEB_SERVICE, "port": {"number": port}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    spec: dict[str, Any] = {"rules": [{"host": choices.host, "http": {"paths": [path]}}]}
    if choices.tls_secret:
        spec["tls"] = [{"hosts": [choices.host], "secretName": choices.tls_secret}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(WEB_SERVICE, stack, WEB_SERVICE),
        "spec": spec,
    }


def _warnings(deployment: Deployment, choices: Choices, pods: Pods) -> list[str]:
    warnings = []
    gpu_users = [name for name, s in deployment.services.items() if pods.gpus(s)]
    if gpu_users and deployment.gpu_ids:
        warnings.append(
            f"GPUs: Kubernetes has no device ids; {', '.join(gpu_users)} asks for "
            f"nvidia.com/gpu: {len(deployment.gpu_ids)}, any {len(deployment.gpu_ids)} of the "
            f"node's GPUs, not the devices {','.join(deployment.gpu_ids)} chosen on this host"
        )
    elif gpu_users:
        warnings.append(
            f"GPUs: every GPU of the Docker host was reserved; {', '.join(gpu_users)} asks for "
            "nvidia.com/gpu: 1 (Kubernetes needs a number: edit the limit for more)"
        )
    if choices.documents_host_path:
        warnings.append(
            "--documents-host-path: the pods that read documents can run only on a node that "
            "has those directories; schedule them there (nodeSelector) or use claims"
        )
    if pods.claims:
        warnings.append(
            f"The claims {', '.join(sorted(pods.claims.values()))} are shared by several pods "
            "(ReadWriteMany): the storage class "
            f"({choices.storage_class or 'the cluster default'}) must support that"
        )
    if choices.administrator is None:
        warnings.append(
            "No administrator: the web UI's registration is open until one exists; export "
            "with --admin USERNAME --admin-email EMAIL --generate-password to create it first"
        )
    return warnings
