"""Render fsrl's kustomize overlays without a kustomize binary.

A small, dependency-light implementation (PyYAML only) of the subset of kustomize that
``k8s/`` uses, so that the manifests can be rendered, checked in and validated on a
machine that has no ``kustomize``/``kubectl``. Where ``kubectl`` is present the tests
compare this renderer's output with ``kubectl kustomize`` object by object.

Supported kustomization fields (anything else raises :class:`KustomizeError`):

* ``resources`` — YAML files (several documents each) and directories holding a
  ``kustomization.yaml`` (rendered first, recursively);
* ``configMapGenerator`` / ``secretGenerator`` — ``files`` (``key=path`` or ``path``),
  ``literals``, ``envs``; ``behavior`` create/merge/replace; ``options`` and the
  global ``generatorOptions`` (``disableNameSuffixHash``, ``labels``, ``annotations``);
  names get kustomize's content-hash suffix, and references to them from built-in
  workloads (volumes, env, envFrom) follow the new name;
* ``patches`` — strategic merge patches (merge keys of the built-in pod fields; plain
  JSON merge semantics for custom resources, as kustomize does without a schema) and
  JSON6902 operation lists, with ``path`` or inline ``patch`` and a ``target``
  (group, version, kind, name, namespace);
* ``namespace``, ``labels`` (``pairs``, ``includeSelectors``, ``includeTemplates``),
  ``commonLabels``, ``commonAnnotations``, ``images`` (``newName``, ``newTag``,
  ``digest``: every ``containers``/``initContainers`` list at any depth, custom
  resources included, as kustomize does).

Usage::

    python k8s/render.py            # writes k8s/rendered/{dev,gpu}.yaml
    python k8s/render.py --check    # exits 1 if a checked-in rendering is stale
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

K8S_DIR = Path(__file__).resolve().parent
OVERLAYS = ("dev", "gpu")
RENDERED_DIR = K8S_DIR / "rendered"

Obj = dict[str, Any]

_KNOWN_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "commonLabels",
    "commonAnnotations",
    "images",
    "patches",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
}

# kustomize's "legacy" output order (api/resid/gvk.go); other kinds sort between them.
_ORDER_FIRST = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
]
_ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]

_CLUSTER_SCOPED = {
    "Namespace",
    "StorageClass",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "PriorityClass",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
}

# Where a pod spec sits in the built-in workload kinds.
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_BUILTIN_GROUPS = {"", "apps", "batch", "policy", "networking.k8s.io", "rbac.authorization.k8s.io"}

# Strategic-merge keys of the list fields that fsrl's patches can reach (core/v1 pod spec).
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}


class KustomizeError(ValueError):
    """A kustomization this renderer cannot render; the message names the file and field."""


# --------------------------------------------------------------------------- helpers


def _group_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def _is_builtin(obj: Obj) -> bool:
    return _group_version(obj.get("apiVersion", ""))[0] in _BUILTIN_GROUPS


def _name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _dig(obj: Any, path: Iterable[str]) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _load_yaml_docs(path: Path) -> list[Obj]:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as exc:
        raise KustomizeError(f"{path}: not valid YAML: {exc}") from exc
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise KustomizeError(f"{path}: a document without apiVersion/kind")
    return docs


def kustomize_hash(obj: Obj) -> str:
    """kustomize's name suffix for a generated ConfigMap or Secret (api/hasher).

    sha256 of the JSON of kind, data (and binaryData / type), with an empty name —
    kustomize looks the name up under a literal ``metadata/name`` key and finds none —
    then the first 10 hex digits with 0,1,3,a,e mapped to g,h,k,m,t.
    """
    kind = obj["kind"]
    if kind == "ConfigMap":
        encoded: dict[str, Any] = {"kind": "ConfigMap", "name": "", "data": obj.get("data", "")}
        if obj.get("binaryData"):
            encoded["binaryData"] = obj["binaryData"]
    elif kind == "Secret":
        encoded = {
            "kind": "Secret",
            "type": obj.get("type", ""),
            "name": "",
            "data": obj.get("data", ""),
        }
        if obj.get("stringData"):
            encoded["stringData"] = obj["stringData"]
    else:
        raise KustomizeError(f"no name hash for kind {kind}")
    # Go's json.Marshal: sorted keys, no spaces, UTF-8 kept, <, >, & escaped.
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


# --------------------------------------------------------------------------- generators


@dataclass
class _Generated:
    obj: Obj
    base_name: str
    hash_suffix: bool


@dataclass
class _Build:
    objects: list[Obj] = field(default_factory=list)
    generated: dict[tuple[str, str], _Generated] = field(default_factory=dict)


def _generator_data(kdir: Path, spec: Obj, where: str) -> dict[str, str]:
    data: dict[str, str] = {}
    for entry in spec.get("files", []) or []:
        key, _, rel = entry.partition("=") if "=" in entry else (Path(entry).name, "", entry)
        path = kdir / rel
        if not path.is_file():
            raise KustomizeError(f"{where}: file {rel!r} not found in {kdir}")
        data[key] = path.read_text()
    for entry in spec.get("literals", []) or []:
        key, sep, value = entry.partition("=")
        if not sep:
            raise KustomizeError(f"{where}: literal {entry!r} is not KEY=VALUE")
        data[key] = value.strip("'\"") if len(value) >= 2 and value[0] == value[-1] else value
    for rel in spec.get("envs", []) or []:
        path = kdir / rel
        if not path.is_file():
            raise KustomizeError(f"{where}: env file {rel!r} not found in {kdir}")
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise KustomizeError(f"{where}: line {line!r} of {rel} is not KEY=VALUE")
            data[key] = value
    unknown = set(spec) - {
        "name",
        "namespace",
        "behavior",
        "files",
        "literals",
        "envs",
        "options",
        "type",
    }
    if unknown:
        raise KustomizeError(f"{where}: unsupported generator fields {sorted(unknown)}")
    return data


def _run_generators(kdir: Path, kust: Obj, build: _Build) -> None:
    global_opts = kust.get("generatorOptions", {}) or {}
    for field_name, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for spec in kust.get(field_name, []) or []:
            where = f"{kdir / 'kustomization.yaml'}: {field_name} {spec.get('name')!r}"
            if "name" not in spec:
                raise KustomizeError(f"{where}: no name")
            data = _generator_data(kdir, spec, where)
            if kind == "Secret":
                data = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
            opts = {**global_opts, **(spec.get("options", {}) or {})}
            behavior = spec.get("behavior", "create")
            key = (kind, spec["name"])
            if behavior == "create":
                if key in build.generated:
                    raise KustomizeError(f"{where}: already generated (use behavior: merge)")
                obj: Obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": spec["name"]}}
                if kind == "Secret":
                    obj["type"] = spec.get("type", "Opaque")
                if data:
                    obj["data"] = data
                for meta_field in ("labels", "annotations"):
                    if opts.get(meta_field):
                        obj["metadata"][meta_field] = dict(opts[meta_field])
                if spec.get("namespace"):
                    obj["metadata"]["namespace"] = spec["namespace"]
                build.objects.append(obj)
                build.generated[key] = _Generated(
                    obj, spec["name"], not opts.get("disableNameSuffixHash", False)
                )
            elif behavior in ("merge", "replace"):
                if key not in build.generated:
                    raise KustomizeError(f"{where}: behavior {behavior} but no base generator")
                gen = build.generated[key]
                if behavior == "replace":
                    gen.obj["data"] = data
                else:
                    gen.obj.setdefault("data", {}).update(data)
                if "disableNameSuffixHash" in (spec.get("options") or {}):
                    gen.hash_suffix = not spec["options"]["disableNameSuffixHash"]
            else:
                raise KustomizeError(f"{where}: unknown behavior {behavior!r}")


# --------------------------------------------------------------------------- patches


def _strategic_merge(target: Any, patch: Any, builtin: bool) -> Any:
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return copy.deepcopy(patch)
    out = dict(target)
    for key, value in patch.items():
        if key.startswith("$"):
            raise KustomizeError(f"unsupported strategic-merge directive {key!r}")
        if value is None:
            out.pop(key, None)
        elif (
            builtin
            and key in _MERGE_KEYS
            and isinstance(value, list)
            and isinstance(out.get(key), list)
            and all(isinstance(v, dict) for v in value)
        ):
            merge_key = _MERGE_KEYS[key]
            merged = list(out[key])
            for item in value:
                for i, existing in enumerate(merged):
                    if isinstance(existing, dict) and existing.get(merge_key) == item.get(
                        merge_key
                    ):
                        merged[i] = _strategic_merge(existing, item, builtin)
                        break
                else:
                    merged.append(copy.deepcopy(item))
            out[key] = merged
        elif key in out:
            out[key] = _strategic_merge(out[key], value, builtin)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer {path!r} must start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _json6902(obj: Obj, ops: list[Obj], where: str) -> Obj:
    doc: Any = copy.deepcopy(obj)
    for op in ops:
        kind, parts = op.get("op"), _pointer(op.get("path", ""))
        parent: Any = doc
        for part in parts[:-1]:
            try:
                parent = parent[int(part)] if isinstance(parent, list) else parent[part]
            except (KeyError, IndexError, ValueError) as exc:
                raise KustomizeError(f"{where}: path {op['path']!r} not found") from exc
        last = parts[-1]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, copy.deepcopy(op["value"]))
            elif kind == "replace" and index < len(parent):
                parent[index] = copy.deepcopy(op["value"])
            elif kind == "remove" and index < len(parent):
                del parent[index]
            else:
                raise KustomizeError(f"{where}: cannot {kind} {op['path']!r}")
        elif isinstance(parent, dict):
            if kind == "add" or (kind == "replace" and last in parent):
                parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove" and last in parent:
                del parent[last]
            else:
                raise KustomizeError(f"{where}: cannot {kind} {op['path']!r} (missing)")
        else:
            raise KustomizeError(f"{where}: path {op['path']!r} does not reach an object")
    return doc


def _matches(obj: Obj, target: Obj) -> bool:
    group, version = _group_version(obj.get("apiVersion", ""))
    checks = {
        "group": group,
        "version": version,
        "kind": obj.get("kind"),
        "name": _name(obj),
        "namespace": obj.get("metadata", {}).get("namespace", ""),
    }
    unknown = set(target) - set(checks)
    if unknown:
        raise KustomizeError(f"unsupported patch target fields {sorted(unknown)}")
    return all(checks[k] == v for k, v in target.items())


def _apply_patches(kdir: Path, kust: Obj, objects: list[Obj]) -> list[Obj]:
    for i, entry in enumerate(kust.get("patches", []) or []):
        where = f"{kdir / 'kustomization.yaml'}: patches[{i}]"
        if "path" in entry:
            text = (kdir / entry["path"]).read_text()
        elif "patch" in entry:
            text = entry["patch"]
        else:
            raise KustomizeError(f"{where}: needs path or patch")
        body = yaml.safe_load(text)
        target = entry.get("target")
        if isinstance(body, list):  # JSON6902
            if not target:
                raise KustomizeError(f"{where}: a JSON6902 patch needs a target")
            hits = [j for j, o in enumerate(objects) if _matches(o, target)]
            for j in hits:
                objects[j] = _json6902(objects[j], body, where)
        elif isinstance(body, dict):  # strategic merge
            if not target:
                target = {"kind": body.get("kind"), "name": _name(body)}
            hits = [j for j, o in enumerate(objects) if _matches(o, target)]
            for j in hits:
                patch = copy.deepcopy(body)
                patch.pop("apiVersion", None)
                patch.pop("kind", None)
                patch.get("metadata", {}).pop("name", None)
                objects[j] = _strategic_merge(objects[j], patch, _is_builtin(objects[j]))
        else:
            raise KustomizeError(f"{where}: neither a patch object nor a JSON6902 list")
        if not hits:
            raise KustomizeError(f"{where}: matched no resource ({target})")
    return objects


# --------------------------------------------------------------------------- transformers


def _set_namespace(objects: list[Obj], namespace: str) -> None:
    for obj in objects:
        if obj["kind"] not in _CLUSTER_SCOPED:
            obj.setdefault("metadata", {})["namespace"] = namespace


def _add_labels(
    objects: list[Obj], pairs: dict[str, str], selectors: bool, templates: bool
) -> None:
    for obj in objects:
        obj.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
        if not _is_builtin(obj):
            continue
        spec = obj.get("spec", {})
        if templates or selectors:
            for tmpl in (_dig(spec, ["template"]), _dig(spec, ["jobTemplate", "spec", "template"])):
                if isinstance(tmpl, dict):
                    tmpl.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
        if selectors:
            if obj["kind"] == "Service":
                spec.setdefault("selector", {}).update(pairs)
            elif isinstance(spec.get("selector"), dict):
                spec["selector"].setdefault("matchLabels", {}).update(pairs)
            for pvc in spec.get("volumeClaimTemplates", []) or []:
                pvc.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def _split_image(image: str) -> tuple[str, str]:
    """("name", "rest") where rest is ":tag", "@digest", ":tag@digest" or ""."""
    at = image.find("@")
    name_part = image if at < 0 else image[:at]
    digest = "" if at < 0 else image[at:]
    slash = name_part.rfind("/")
    colon = name_part.rfind(":")
    if colon > slash:
        return name_part[:colon], name_part[colon:] + digest
    return name_part, digest


def _set_images(node: Any, images: list[Obj]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    if isinstance(container, dict) and isinstance(container.get("image"), str):
                        container["image"] = _new_image(container["image"], images)
            _set_images(value, images)
    elif isinstance(node, list):
        for item in node:
            _set_images(item, images)


def _new_image(image: str, images: list[Obj]) -> str:
    name, rest = _split_image(image)
    for spec in images:
        if spec.get("name") != name:
            continue
        new_name = spec.get("newName", name)
        if "digest" in spec:
            return f"{new_name}@{spec['digest']}"
        if "newTag" in spec:
            return f"{new_name}:{spec['newTag']}"
        return new_name + rest
    return image


def _fix_generated_names(build: _Build) -> None:
    renames: dict[tuple[str, str], str] = {}
    for (kind, name), gen in build.generated.items():
        if gen.hash_suffix:
            new = f"{name}-{kustomize_hash(gen.obj)}"
            gen.obj["metadata"]["name"] = new
            renames[(kind, name)] = new
    if not renames:
        return
    for obj in build.objects:
        path = _POD_SPEC_PATHS.get(obj["kind"])
        if path is None or not _is_builtin(obj):
            continue
        pod = _dig(obj, path)
        if isinstance(pod, dict):
            _rename_pod_refs(pod, renames)


def _rename_pod_refs(pod: Obj, renames: dict[tuple[str, str], str]) -> None:
    def swap(ref: Any, kind: str, key: str = "name") -> None:
        if isinstance(ref, dict) and (kind, ref.get(key)) in renames:
            ref[key] = renames[(kind, ref[key])]

    for vol in pod.get("volumes", []) or []:
        swap(vol.get("configMap"), "ConfigMap")
        swap(vol.get("secret"), "Secret", "secretName")
        for src in _dig(vol, ["projected", "sources"]) or []:
            swap(src.get("configMap"), "ConfigMap")
            swap(src.get("secret"), "Secret")
    for group in ("containers", "initContainers"):
        for container in pod.get(group, []) or []:
            for env in container.get("env", []) or []:
                swap(_dig(env, ["valueFrom", "configMapKeyRef"]), "ConfigMap")
                swap(_dig(env, ["valueFrom", "secretKeyRef"]), "Secret")
            for env_from in container.get("envFrom", []) or []:
                swap(env_from.get("configMapRef"), "ConfigMap")
                swap(env_from.get("secretRef"), "Secret")
    for secret in pod.get("imagePullSecrets", []) or []:
        swap(secret, "Secret")


# --------------------------------------------------------------------------- build


def _build(kdir: Path) -> _Build:
    kfile = kdir / "kustomization.yaml"
    if not kfile.is_file():
        raise KustomizeError(f"{kdir}: no kustomization.yaml")
    kust = yaml.safe_load(kfile.read_text()) or {}
    unknown = set(kust) - _KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"{kfile}: unsupported fields {sorted(unknown)}")
    build = _Build()
    for res in kust.get("resources", []) or []:
        path = (kdir / res).resolve()
        if path.is_dir():
            sub = _build(path)
            build.objects.extend(sub.objects)
            for key, gen in sub.generated.items():
                if key in build.generated:
                    raise KustomizeError(f"{kfile}: {key} generated twice")
                build.generated[key] = gen
        elif path.is_file():
            build.objects.extend(_load_yaml_docs(path))
        else:
            raise KustomizeError(f"{kfile}: resource {res!r} not found")
    _run_generators(kdir, kust, build)
    patched = _apply_patches(kdir, kust, build.objects)
    # Patches build new dicts; keep the generator table pointing at the live objects.
    by_id = {(o["kind"], _name(o)): o for o in patched}
    for key, gen in build.generated.items():
        gen.obj = by_id.get(key, gen.obj)
    build.objects = patched
    if kust.get("namespace"):
        _set_namespace(build.objects, kust["namespace"])
    for spec in kust.get("labels", []) or []:
        _add_labels(
            build.objects,
            dict(spec.get("pairs", {})),
            bool(spec.get("includeSelectors", False)),
            bool(spec.get("includeTemplates", False)),
        )
    if kust.get("commonLabels"):
        _add_labels(build.objects, dict(kust["commonLabels"]), True, True)
    for obj in build.objects:
        if kust.get("commonAnnotations"):
            obj.setdefault("metadata", {}).setdefault("annotations", {}).update(
                kust["commonAnnotations"]
            )
    if kust.get("images"):
        _set_images(build.objects, kust["images"])
    return build


def _sort_key(obj: Obj) -> tuple[int, str, str, str]:
    kind = obj["kind"]
    if kind in _ORDER_FIRST:
        rank = _ORDER_FIRST.index(kind)
    elif kind in _ORDER_LAST:
        rank = len(_ORDER_FIRST) + 1 + _ORDER_LAST.index(kind)
    else:
        rank = len(_ORDER_FIRST)
    group, version = _group_version(obj["apiVersion"])
    gvk = f"{group}_{version}_{kind}"
    meta = obj.get("metadata", {})
    return rank, gvk, str(meta.get("namespace", "")), str(meta.get("name", ""))


def render(kdir: Path | str) -> list[Obj]:
    """The resources of the kustomization in ``kdir``, in kustomize's legacy order."""
    build = _build(Path(kdir))
    _fix_generated_names(build)
    return sorted((copy.deepcopy(o) for o in build.objects), key=_sort_key)


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # never emit &anchors / *aliases
        return True


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_presenter)


def to_yaml(objects: list[Obj]) -> str:
    """Documents separated by ``---``, keys sorted, multi-line strings as literal blocks."""
    return "---\n".join(
        yaml.dump(o, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=1000)
        for o in objects
    )


def render_overlay(name: str) -> str:
    header = (
        f"# GENERATED by `python k8s/render.py` from k8s/overlays/{name}: do not edit.\n"
        f"# Apply with `kubectl apply -k k8s/overlays/{name}` (or this file).\n"
    )
    return header + to_yaml(render(K8S_DIR / "overlays" / name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a rendering is stale")
    args = parser.parse_args(argv)
    stale = []
    for name in OVERLAYS:
        text = render_overlay(name)
        out = RENDERED_DIR / f"{name}.yaml"
        if args.check:
            if not out.is_file() or out.read_text() != text:
                stale.append(str(out))
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
            print(f"wrote {out}")
    if stale:
        print("stale renderings (run `python k8s/render.py`): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
