"""The command line starts light: `--help` and `validate` load no more than they use.

Each case runs the real entry point in a fresh interpreter and reads back which modules
it loaded: no timing, so a loaded machine cannot make it pass or fail.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
from pathlib import Path

from engine_fixtures import GOOD, INVENTORY, run_fresh

from chaosrun.commands import options
from chaosrun.commands import report as report_commands
from chaosrun.commands import schedule as schedule_commands
from chaosrun.modes import schedule_install, schedules
from chaosrun.report import writer

# Runs chaosrun's main() with the given argv, then prints its exit code and the modules
# loaded, as JSON on the last line of stdout.
PROBE = """
import json, sys
from chaosrun.cli import main
sys.argv = ["chaosrun", *sys.argv[1:]]
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code or 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

NEVER_FOR_HELP = ("ansible", "ansible_runner", "jinja2", "yaml", "requests")
NEVER_FOR_VALIDATE = (
    "ansible_runner",
    "chaosrun.run.engine",
    "chaosrun.hosts.runner",
    "chaosrun.report.html",
    "chaosrun.report.writer",
    "chaosrun.report.notify",
    "chaosrun.modes.schedules",
)


def run_cli(tmp_path: Path, *args: str) -> tuple[int, str, set[str]]:
    proc = run_fresh(tmp_path, PROBE, *args)
    *shown, last = proc.stdout.rstrip("\n").split("\n")
    result = json.loads(last)
    return int(result["code"]), "\n".join(shown) + proc.stderr, set(result["modules"])


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules or any(m.startswith(n + ".") for m in modules))


def folder_only(module: str) -> bool:
    """A package whose __init__ holds only its docstring: loading it costs nothing."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.submodule_search_locations is None or spec.origin is None:
        return False
    body = ast.parse(Path(spec.origin).read_text(encoding="utf-8")).body
    return len(body) == 1 and isinstance(body[0], ast.Expr)


def test_help_lists_every_command_without_loading_ansible_or_the_engine(tmp_path):
    code, out, modules = run_cli(tmp_path, "--help")
    assert code == 0
    for command in ("validate", "plan", "run", "status", "recover", "report", "schedule", "lab"):
        assert command in out
    assert loaded(modules, NEVER_FOR_HELP) == []
    chaosrun_modules = {m for m in modules if m.startswith("chaosrun.") and not folder_only(m)}
    heavy = {m for m in chaosrun_modules if not m.startswith(("chaosrun.commands", "chaosrun.lab"))}
    light = {
        "chaosrun.cli",
        "chaosrun.base.errors",
        "chaosrun.base.output",
        "chaosrun.base.project",
        "chaosrun.base.pywarnings",  # the standard library's warnings and re only
    }
    leaves = {
        "chaosrun.base.exitcodes",
        "chaosrun.base.phases",
    }  # tables with no imports of their own
    assert heavy <= light | leaves


def test_validate_loads_neither_ansible_runner_nor_reports(tmp_path):
    code, out, modules = run_cli(tmp_path, "validate", str(GOOD), "-i", str(INVENTORY))
    assert code == 0, out
    assert f"ok {GOOD}" in out.replace("\n", "")
    assert loaded(modules, NEVER_FOR_VALIDATE) == []


def test_subcommand_help_loads_no_more_than_the_root_help(tmp_path):
    _, _, root = run_cli(tmp_path, "--help")
    for command in (["status", "--help"], ["schedule", "install", "--help"], ["report", "--help"]):
        code, out, modules = run_cli(tmp_path, *command)
        assert code == 0, out
        assert "--help" in out
        assert {m for m in modules - root if m.startswith("chaosrun")} == set(), command


def test_the_command_lines_copies_of_names_agree_with_their_modules():
    # Kept as literals so that `--help` need not import these modules.
    assert options.SCHEDULES_ENV == schedules.ENV_VAR
    assert report_commands.REPORT_FORMATS == writer.FORMATS
    assert schedules.FILE_NAME in options.ScheduleFileOpt.__metadata__[0].help
    install = inspect.signature(schedule_commands.install, eval_str=True)
    cron_help = install.parameters["cron_file"].annotation.__metadata__[0].help
    assert str(schedule_install.DEFAULT_CRON_FILE) in cron_help
