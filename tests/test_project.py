"""The project files a deployment and a fresh machine rely on."""

from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_readme_opens_with_the_two_commands_and_ci_runs_the_same_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = readme.split("```")
    first = [line for line in blocks[1].splitlines() if line.strip() and not line.startswith(("#", "bash"))]
    assert len(first) == 2, first
    assert first[0].endswith("whaledr demo")
    ci = (ROOT / ".ci" / "run").read_text()
    for step in first[1].split(" && "):  # CI runs the same steps, with the lint and type checks between them
        assert step in ci, step
    assert ci.rstrip().endswith(first[1].split(" && ")[-1])
    assert "-c constraints.txt" in first[0] and "-c constraints.txt" in first[1]  # the lock that passed CI


def test_core_does_not_import_prefect():
    for path in (ROOT / "whaledr_core").glob("*.py"):
        text = path.read_text()
        assert "import prefect" not in text and "from prefect" not in text, path.name
