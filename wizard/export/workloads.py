"""One compose service -> the parts of its Kubernetes container: command, probes, resources,
security context. Plain data in, plain dicts out; no I/O.

Compose interpolates a command and a healthcheck when it reads the file; Kubernetes expands
`$(VAR)` in a command but not in an exec probe, and either way a pasted secret would sit in the
manifest. So a command or probe that references a secret becomes `sh -c` reading it from the
container's environment, and every other reference is interpolated as compose does.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Collection, Mapping
from typing import Any

from wizard.export.deployment import Service

# Kubernetes' startup probe period: compose's start_period becomes this many tries.
STARTUP_PERIOD_S = 10
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([bkmg]?)b?", re.IGNORECASE)
_BINARY_UNITS = (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10))


def kubernetes_literal(text: str) -> str:
    """`text` as Kubernetes passes it on in a command or args, which it expands: `$(NAME)` is
    a variable there and `$$` a `$`, so each `$` before `$` or `(` is doubled."""
    return re.sub(r"\$(?=[$(])", "$$", text)


def secret_pattern(names: Collection[str]) -> re.Pattern[str]:
    """`${NAME}`, `${NAME?message}`, `${NAME:-x}` or `$NAME` for one of `names` (not `$$NAME`)."""
    alternatives = "|".join(re.escape(name) for name in sorted(names)) or r"(?!)"
    return re.compile(
        rf"(?<!\$)\$\{{({alternatives})(?:[:?+-][^{{}}]*)?\}}|(?<!\$)\$({alternatives})\b"
    )


class Commands:
    """Turns compose's command and healthcheck strings into a container's, given how to
    interpolate and which variables are secrets. `needed` collects the secrets they read from
    the container's environment."""

    def __init__(self, expand: Callable[[str], str], secrets: Collection[str]) -> None:
        self._expand = expand
        self._pattern = secret_pattern(secrets)
        self.needed: set[str] = set()

    def _shell_word(self, text: str) -> str:
        """`text` as one shell word: literal parts interpolated and quoted, secrets as "$VAR"."""
        parts: list[str] = []
        position = 0
        for match in self._pattern.finditer(text):
            literal = text[position : match.start()]
            if literal:
                parts.append(shlex.quote(self._expand(literal)))
            name = match.group(1) or match.group(2)
            self.needed.add(name)
            parts.append(f'"${{{name}}}"')
            position = match.end()
        if text[position:] or not parts:
            parts.append(shlex.quote(self._expand(text[position:])))
        return "".join(parts)

    def _shell_text(self, script: str) -> str:
        """A shell script with the secrets it references left to the shell, the rest
        interpolated."""
        parts: list[str] = []
        position = 0
        for match in self._pattern.finditer(script):
            parts.append(self._expand(script[position : match.start()]))
            name = match.group(1) or match.group(2)
            self.needed.add(name)
            parts.append(f'"${{{name}}}"')
            position = match.end()
        parts.append(self._expand(script[position:]))
        return "".join(parts)

    def argv(self, words: tuple[str, ...], entrypoint: str | None = None) -> dict[str, list[str]]:
        """`{"args": [...]}` (the image's entrypoint runs them, as compose's `command` does), or
        `{"command": ["sh", "-c", ...]}` when a word reads a secret."""
        if not any(self._pattern.search(word) for word in words):
            return {"args": [kubernetes_literal(self._expand(word)) for word in words]}
        script = " ".join(self._shell_word(word) for word in words)
        prefix = f"exec {shlex.quote(entrypoint)} " if entrypoint else "exec "
        return {"command": ["sh", "-c", kubernetes_literal(prefix + script)]}

    def probe_command(self, test: Any) -> list[str] | None:
        """A healthcheck's `test` as an exec probe's command (None: no check)."""
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        if not isinstance(test, list) or not test or test[0] == "NONE":
            return None
        kind, words = str(test[0]), [str(word) for word in test[1:]]
        if kind == "CMD-SHELL":
            return ["sh", "-c", self._shell_text(" ".join(words))]
        if any(self._pattern.search(word) for word in words):
            return ["sh", "-c", " ".join(self._shell_word(word) for word in words)]
        return [self._expand(word) for word in words]


def probes(command: list[str] | None, healthcheck: Mapping[str, Any]) -> dict[str, Any]:
    """startupProbe (compose's start_period), livenessProbe and readinessProbe (its interval,
    timeout and retries) running the healthcheck's command."""
    if command is None or healthcheck.get("disable"):
        return {}
    period = _seconds(healthcheck.get("interval"), 30)
    timeout = _seconds(healthcheck.get("timeout"), 30)
    retries = int(healthcheck.get("retries") or 3)
    start = _seconds(healthcheck.get("start_period"), 0)
    check = {
        "exec": {"command": command},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": retries,
    }
    startup = {
        "exec": {"command": command},
        "periodSeconds": STARTUP_PERIOD_S,
        "timeoutSeconds": timeout,
        "failureThreshold": math.ceil(start / STARTUP_PERIOD_S) + retries,
    }
    return {"startupProbe": startup, "livenessProbe": check, "readinessProbe": dict(check)}


def _seconds(value: Any, default: int) -> int:
    if value is None:
        return default
    text = str(value)
    total = sum(float(n) * _SECONDS[unit] for n, unit in _DURATION.findall(text))
    return max(1, math.ceil(total)) if total else default


def memory_quantity(value: str) -> str:
    """compose's memory (`4G`, `512M`, `256mb`: binary units) as a Kubernetes quantity."""
    match = _MEMORY.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not an amount of memory")
    power = " kmg".index(match.group(2).lower() or " ")
    size = float(match.group(1)) * (1 << (10 * power))
    for suffix, unit in _BINARY_UNITS:
        if size >= unit and size % unit == 0:
            return f"{int(size // unit)}{suffix}"
    return str(int(size))


def resources(service: Service, gpus: int) -> dict[str, Any]:
    """deploy.resources: reservations -> requests, limits -> limits; GPUs as a limit."""
    result: dict[str, dict[str, Any]] = {}
    for section, amounts in (("requests", service.reservations), ("limits", service.limits)):
        if "cpus" in amounts:
            result.setdefault(section, {})["cpu"] = amounts["cpus"]
        if "memory" in amounts:
            result.setdefault(section, {})["memory"] = memory_quantity(amounts["memory"])
    if gpus:
        result.setdefault("limits", {})["nvidia.com/gpu"] = gpus
    return result


def security_context(service: Service) -> tuple[dict[str, Any], str | None]:
    """The container's securityContext as compose sets it, and a warning when its `user` is not
    numeric (Kubernetes takes only ids)."""
    context: dict[str, Any] = {}
    warning = None
    if service.user:
        user, _, group = service.user.partition(":")
        if user.isdigit() and (not group or group.isdigit()):
            context["runAsUser"] = int(user)
            if group:
                context["runAsGroup"] = int(group)
        else:
            warning = (
                f"{service.name}: user {service.user!r} is not numeric; Kubernetes takes ids, "
                "so the image's own user runs it"
            )
    if service.no_new_privileges:
        context["allowPrivilegeEscalation"] = False
    capabilities = {}
    if service.cap_add:
        capabilities["add"] = list(service.cap_add)
    if service.cap_drop:
        capabilities["drop"] = list(service.cap_drop)
    if capabilities:
        context["capabilities"] = capabilities
    return context, warning
