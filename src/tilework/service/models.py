"""Models as the hosted-model APIs name them: ``owner/name`` for an operation (its owner is
``tilework`` or, for an installed operation, its package), or a configured deployment."""

from __future__ import annotations

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.settings import Deployment, Settings
from tilework.ops.registry import BUILT_IN_OWNER, Registry


def operation_of(registry: Registry, reference: str) -> str:
    """``upscale``, ``tilework/upscale`` or ``tilework/upscale:<anything>`` → ``upscale``; an
    installed operation's owner is ``tilework`` or its package (``tilework-texture-op``)."""
    found = find_operation(registry, reference)
    if found is None:
        raise TileworkError(
            ErrorCode.NOT_FOUND,
            f"no model {reference}; models are {', '.join(model_names(registry))}",
            {"model": reference},
        )
    return found


def find_operation(registry: Registry, reference: str) -> str | None:
    owner, _, name = reference.split(":", 1)[0].rpartition("/")
    if name not in registry.names() or owner not in ("", BUILT_IN_OWNER, registry.package(name)):
        return None
    return name


def model_name(registry: Registry, operation: str) -> str:
    return f"{registry.package(operation)}/{operation}"


def model_names(registry: Registry) -> list[str]:
    return [model_name(registry, name) for name in registry.names()]


def deployment_of(settings: Settings, name: str) -> Deployment:
    found = settings.deployments.get(name)
    if found is None:
        raise TileworkError(
            ErrorCode.NOT_FOUND,
            f"no deployment {name}; deployments are "
            f"{', '.join(sorted(settings.deployments)) or 'not configured'}",
            {"deployment": name},
        )
    return found
