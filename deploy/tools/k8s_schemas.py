#!/usr/bin/env python3
"""Turn Kubernetes' OpenAPI v2 document (api/openapi-spec/swagger.json, shipped in the
k8s.io/kubernetes Go module) into the per-kind JSON Schema files kubeconform reads.

One file per group/version/kind, named the way kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}`
template expects: `deployment-apps-v1.json`, `service-v1.json`, `networkpolicy-networking-v1.json`.
Each file is standalone (carries the definitions it reaches) and strict: objects with declared
properties reject unknown fields, apiVersion and kind must match the file.

usage: k8s_schemas.py SWAGGER_JSON OUT_DIR
"""
import json
import os
import sys

DEF_PREFIX = "#/definitions/"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def strictify(node):
    """Copy a schema node, closing objects to unknown properties and fixing swagger-isms."""
    if isinstance(node, list):
        return [strictify(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strictify(value) for key, value in node.items()}
    if out.get("format") == "int-or-string":
        return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def refs_of(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(DEF_PREFIX):
            found.add(ref[len(DEF_PREFIX):])
        for value in node.values():
            refs_of(value, found)
    elif isinstance(node, list):
        for item in node:
            refs_of(item, found)


def reachable(definitions, root):
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name in seen or name not in definitions:
            continue
        seen.add(name)
        found = set()
        refs_of(definitions[name], found)
        todo.extend(found - seen)
    return seen


def file_name(group, version, kind):
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


def main(swagger_path, out_dir):
    with open(swagger_path, encoding="utf-8") as handle:
        definitions = json.load(handle)["definitions"]
    fixed = {name: strictify(schema) for name, schema in definitions.items()}
    fixed[INT_OR_STRING] = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    fixed[QUANTITY] = {"oneOf": [{"type": "string"}, {"type": "number"}]}

    os.makedirs(out_dir, exist_ok=True)
    written = 0
    for name, schema in definitions.items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk["group"], gvk["version"], gvk["kind"]
            api_version = f"{group}/{version}" if group else version
            root = dict(fixed[name])
            props = dict(root.get("properties", {}))
            props["apiVersion"] = {"type": "string", "enum": [api_version]}
            props["kind"] = {"type": "string", "enum": [kind]}
            root["properties"] = props
            root["required"] = sorted(set(root.get("required", [])) | {"apiVersion", "kind"})
            root["$schema"] = "http://json-schema.org/draft-07/schema#"
            root["definitions"] = {dep: fixed[dep] for dep in sorted(reachable(definitions, name))}
            path = os.path.join(out_dir, file_name(group, version, kind))
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(root, handle, separators=(",", ":"), sort_keys=True)
            written += 1
    if written == 0:
        sys.exit(f"{swagger_path}: no definition carries x-kubernetes-group-version-kind")
    print(f"wrote {written} schemas to {out_dir}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
