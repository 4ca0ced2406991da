"""The project files a deployment and a fresh machine rely on."""

import importlib
import inspect
from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent


def test_prefect_yaml_entrypoints_resolve_and_parameters_exist():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert spec["deployments"]
    for d in spec["deployments"]:
        path, name = d["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        params = inspect.signature(flow.fn).parameters
        assert set(d.get("parameters", {})) <= set(params), d["name"]


def test_readme_opens_with_the_two_commands_and_ci_runs_the_same_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = readme.split("```")
    first = [line for line in blocks[1].splitlines() if line.strip() and not line.startswith("#") and not line.startswith("bash")]
    assert len(first) == 2, first
    assert first[0].endswith("whaledr demo")
    test_command = first[1]
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_core_does_not_import_prefect():
    for path in (ROOT / "whaledr_core").glob("*.py"):
        text = path.read_text()
        assert "import prefect" not in text and "from prefect" not in text, path.name
