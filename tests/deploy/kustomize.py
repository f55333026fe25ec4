"""Rendering deploy/k8s as `kubectl kustomize` does, for the few kustomization keys it uses.

kustomize itself is a Go program, not on PyPI or in Debian's packages, so the tests render the directory here and
compare with `kubectl kustomize` where kubectl is installed. A key this renderer does not know fails the render
rather than being ignored: the kustomization can only grow what the tests understand.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_KEYS = frozenset({"apiVersion", "kind", "namespace", "labels", "resources", "images"})
# Kinds that live outside namespaces (the ones a Fenix deployment could plausibly contain).
CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
                            "PriorityClass", "CustomResourceDefinition"})


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {}).get(
        "template", {}).get("spec") or (spec if obj.get("kind") == "Pod" else {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _image_name(image: str) -> str:
    """`registry:5000/fenix:1.0` -> `registry:5000/fenix` (a colon after the last slash starts the tag)."""
    image = image.split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    return image[:colon] if colon > slash else image


def render(folder: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize folder` prints, in file order."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED_KEYS
    assert not unknown, f"kustomization keys tests/deploy/kustomize.py does not render: {sorted(unknown)}"
    objects = [copy.deepcopy(obj) for name in kustomization["resources"]
               for obj in yaml.safe_load_all((folder / name).read_text()) if obj is not None]
    for obj in objects:
        metadata = obj.setdefault("metadata", {})
        if "namespace" in kustomization and obj["kind"] not in CLUSTER_SCOPED:
            metadata["namespace"] = kustomization["namespace"]
        for entry in kustomization.get("labels", []):
            # Without includeSelectors/includeTemplates, `labels` touches only each object's own metadata.
            assert not entry.get("includeSelectors") and not entry.get("includeTemplates"), entry
            metadata.setdefault("labels", {}).update(entry["pairs"])
        for image in kustomization.get("images", []):
            assert set(image) <= {"name", "newName", "newTag"}, image
            for container in _containers(obj):
                old = container["image"]
                if _image_name(old) == image["name"]:
                    tag = f":{image['newTag']}" if "newTag" in image else old[len(_image_name(old)):]
                    container["image"] = image.get("newName", image["name"]) + tag
    return objects
