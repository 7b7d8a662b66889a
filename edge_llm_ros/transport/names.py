"""ROS 2 name resolution: namespaces, private names (~) and remapping rules."""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class InvalidNameError(ValueError):
    """A topic, service, node or namespace name that ROS 2 would reject."""


InvalidName = InvalidNameError


def validate_namespace(namespace: str) -> str:
    """Return the namespace normalised to start with '/' and have no trailing '/'."""
    ns = "/" + namespace.strip("/") if namespace not in ("", "/") else "/"
    if ns != "/":
        for token in ns[1:].split("/"):
            if not _TOKEN.match(token):
                raise InvalidName(f"invalid namespace {namespace!r}: token {token!r}")
    return ns


def validate_node_name(name: str) -> str:
    """A node name is one token."""
    if not _TOKEN.match(name):
        raise InvalidName(f"invalid node name {name!r}: letters, digits and '_', not starting with a digit")
    return name


def expand(name: str, namespace: str, node_name: str) -> str:
    """Expand a possibly relative or private name to a fully-qualified one."""
    if not name:
        raise InvalidName("empty name")
    ns = validate_namespace(namespace)
    if name.startswith("~"):
        base = f"{ns.rstrip('/')}/{node_name}"
        rest = name[1:].lstrip("/")
        full = f"{base}/{rest}" if rest else base
    elif name.startswith("/"):
        full = name
    else:
        full = f"{ns.rstrip('/')}/{name}"
    for token in full[1:].split("/"):
        if not _TOKEN.match(token):
            raise InvalidName(f"invalid name {name!r}: token {token!r} in {full!r}")
    return full


def resolve(name: str, namespace: str, node_name: str, remaps: Mapping[str, str] | None = None) -> str:
    """Expand `name`, then apply the first remap whose expanded source matches (ROS 2 rule order)."""
    full = expand(name, namespace, node_name)
    for source, target in (remaps or {}).items():
        if expand(source, namespace, node_name) == full:
            return expand(target, namespace, node_name)
    return full
