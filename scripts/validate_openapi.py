#!/usr/bin/env python3
"""Validates openapi.yaml as an OpenAPI 3.1 document and checks that its examples fit their schemas.

Usage: scripts/validate_openapi.py [PATH]   (default: openapi.yaml at the repository root)
Needs: pip install openapi-spec-validator   (brings PyYAML, jsonschema and referencing)
Exit status: 0 valid, 1 invalid, 2 missing dependency or unreadable file.
"""
import sys
from pathlib import Path

try:
    import yaml
    from jsonschema import Draft202012Validator
    from openapi_spec_validator import OpenAPIV31SpecValidator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
except ImportError as error:  # pragma: no cover - environment problem, not a spec problem
    print(f"validate_openapi: {error}; run: python3 -m pip install openapi-spec-validator", file=sys.stderr)
    sys.exit(2)

SPEC_URI = "urn:schema-registry:openapi"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def pointer(parts):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def resolve(spec, node):
    """Follows a local $ref (Example/Response/Parameter objects)."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"non-local $ref {ref}")
        node = spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def ref_problems(spec):
    """Every $ref must be local and point at something that exists."""
    problems = []

    def walk(node, path):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    resolve(spec, {"$ref": ref})
                except (ValueError, KeyError, IndexError, TypeError):
                    problems.append(f"{pointer(path)}: unresolvable $ref {ref}")
            for key, value in node.items():
                walk(value, path + [key])
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, path + [index])

    walk(spec, [])
    return problems


def example_problems(spec):
    """Every media-type and parameter example must validate against the schema beside it."""
    registry = Registry().with_resource(SPEC_URI, Resource(contents=spec, specification=DRAFT202012))
    problems = []

    def check(schema_path, value, where):
        validator = Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer(schema_path)}"}, registry=registry)
        for error in validator.iter_errors(value):
            problems.append(f"{where}: {error.message}")

    def walk(node, path):
        if isinstance(node, dict):
            if "schema" in node and isinstance(node["schema"], dict):
                if "example" in node:
                    check(path + ["schema"], node["example"], pointer(path + ["example"]))
                for name, example in (node.get("examples") or {}).items():
                    example = resolve(spec, example)
                    if "value" in example:
                        check(path + ["schema"], example["value"], pointer(path + ["examples", name]))
            for key, value in node.items():
                walk(value, path + [key])
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, path + [index])

    walk(spec, [])
    return problems


def lint_problems(spec):
    """House rules: operation ids unique, every operation documents its error responses."""
    problems, seen = [], set()
    for route, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            where = f"{method.upper()} {route}"
            op_id = operation.get("operationId")
            if not op_id or op_id in seen:
                problems.append(f"{where}: missing or duplicate operationId {op_id!r}")
            seen.add(op_id)
            statuses = set(operation.get("responses", {}))
            if not any(s.startswith("2") for s in statuses):
                problems.append(f"{where}: no success response")
            if route != "/metrics" and "406" not in statuses:
                problems.append(f"{where}: no 406 response")
            if method in {"post", "put"} and not {"400", "413", "415"} <= statuses:
                problems.append(f"{where}: body operation lacks 400/413/415")
    return problems


def main(argv):
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "openapi.yaml"
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        print(f"{path.name}: cannot read: {error}", file=sys.stderr)
        return 2
    if not isinstance(spec, dict) or spec.get("openapi") != "3.1.0":
        print(f"{path.name}: not an OpenAPI 3.1.0 document (openapi: {spec.get('openapi') if isinstance(spec, dict) else None!r})", file=sys.stderr)
        return 1

    problems = ref_problems(spec)
    if not problems:  # the validators below need resolvable references
        problems = [f"{pointer(list(e.absolute_path))}: {e.message}" for e in OpenAPIV31SpecValidator(spec).iter_errors()]
    if not problems:
        problems = example_problems(spec) + lint_problems(spec)
    if problems:
        for problem in problems:
            print(f"{path.name}: {problem}", file=sys.stderr)
        print(f"{path.name}: INVALID ({len(problems)} problem(s))", file=sys.stderr)
        return 1
    print(f"{path.name}: valid OpenAPI 3.1")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
