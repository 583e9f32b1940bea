"""Render a chart with Helm's own engine and check the result, for tests/helm_chart.rs.

    python render.py CHART_DIR VALUES_JSON RELEASE NAMESPACE

VALUES_JSON is a JSON object of value overrides ("{}" for the defaults). Runs what
`helm lint --strict` and `helm template` run (helm-python-sdk: Helm v4 as a library),
then validates every manifest, CRDs included, against the newest Kubernetes schemas
kubernetes-validate ships, in strict mode (an unknown field is an error).

Prints one JSON object on stdout:
    {"helm": "<Helm SDK version>",
     "kubernetes": "<schema version>", "kubernetes_validate": "<package version>",
     "lint": {"messages": [...], "errors": [...]},
     "error": null | "<what Helm said when rendering failed>",
     "manifests": [{"source": "<template path>", "object": {...}}, ...],
     "crds": [{"source": "crds/<file>", "object": {...}}, ...],
     "notes": "<rendered NOTES.txt>",
     "validation": [{"source", "kind", "name", "result": "valid" | "invalid" | "no schema",
                     "message"}, ...]}
A rendering failure is data ("error"), as in `helm install`; exit status 0. Anything
else (bad arguments, a missing package) exits non-zero with the reason on stderr.
"""

from __future__ import annotations

import json
import sys

try:
    import helm_python
    import kubernetes_validate
    import yaml
    from helm_python import chart as helm_chart
    from kubernetes_validate import utils as kv_utils
    from kubernetes_validate.version import __version__ as kv_version
except ImportError as e:  # pragma: no cover - the message is the point
    sys.exit(f"render.py: {e}; run `make deps-helm`")


def documents(source: str, text: str) -> list[dict]:
    """The non-empty YAML documents of one file."""
    return [
        {"source": source, "object": doc}
        for doc in yaml.safe_load_all(text)
        if doc is not None
    ]


def validate(entry: dict, version: str) -> dict:
    obj = entry["object"]
    result = {
        "source": entry["source"],
        "kind": obj.get("kind"),
        "name": (obj.get("metadata") or {}).get("name"),
        "result": "valid",
        "message": "",
    }
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError as e:
        result.update(result="no schema", message=e.message)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.absolute_path) or "<root>"
        result.update(result="invalid", message=f"{path}: {e.message}")
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        sys.exit("usage: render.py CHART_DIR VALUES_JSON RELEASE NAMESPACE")
    chart_dir, values_json, release, namespace = argv[1:]
    try:
        values = json.loads(values_json)
    except json.JSONDecodeError as e:
        sys.exit(f"render.py: VALUES_JSON is not JSON: {e}")
    if not isinstance(values, dict):
        sys.exit("render.py: VALUES_JSON must be a JSON object")

    version = kv_utils.latest_version()
    out: dict = {
        "helm": helm_python.helm_sdk_version(),
        "kubernetes": version,
        "kubernetes_validate": kv_version,
        "lint": None,
        "error": None,
        "manifests": [],
        "crds": [],
        "notes": "",
        "validation": [],
    }
    report = helm_chart.lint(chart_dir, values, strict=True, namespace=namespace)
    out["lint"] = {"messages": report["messages"], "errors": report["errors"]}

    with helm_chart.Chart.load(chart_dir) as chart:
        for crd in chart.crds:
            out["crds"] += documents(crd["name"], crd["data"])
        try:
            rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
        except helm_python.HelmError as e:
            out["error"] = str(e)
            rendered = {}
    for source, text in sorted(rendered.items()):
        if source.endswith("NOTES.txt"):
            out["notes"] = text
        else:
            out["manifests"] += documents(source, text)
    out["validation"] = [validate(m, version) for m in out["crds"] + out["manifests"]]
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
