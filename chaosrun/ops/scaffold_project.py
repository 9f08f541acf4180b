"""`chaosrun init`: scaffold a team's ops repository as a chaosrun project.

Writes a commented chaosrun.yml (inventory pointer, Prometheus and its access settings,
caps, windows, lease), one example experiment that uses only generic node_exporter
probes, one example runbook and a .gitignore for the runs directory, from the files in
`scaffold_templates/project/`, and the AWX job template's playbook as this chaosrun ships
it (AWX runs it from the project). It never overwrites: when any file it would write
exists, it writes none.
"""

from __future__ import annotations

from pathlib import Path

from chaosrun.base import paths
from chaosrun.base.errors import InvalidInput

TEMPLATES = Path(__file__).resolve().parent / "scaffold_templates" / "project"
# Template names that differ from the file they become (a dot file is not package data).
RENAMES = {"gitignore": ".gitignore"}


def plan_files(directory: Path) -> list[tuple[Path, Path]]:
    """(template, destination) pairs, destinations without the `.tmpl` suffix."""
    pairs = []
    for template in sorted(TEMPLATES.rglob("*.tmpl")):
        rel = template.relative_to(TEMPLATES).with_suffix("")
        rel = rel.with_name(RENAMES.get(rel.name, rel.name))
        pairs.append((template, directory / rel))
    pairs.append((paths.experiment_playbook(), directory / paths.EXPERIMENT_PLAYBOOK))
    return sorted(pairs, key=lambda pair: pair[1])


def init(directory: Path) -> list[Path]:
    """Scaffold `directory` (created when missing); the files written."""
    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"{directory}: not a directory")
    pairs = plan_files(directory)
    taken = [str(dest) for _, dest in pairs if dest.exists()]
    if taken:
        raise InvalidInput(
            f"{', '.join(taken)}: already exists; chaosrun init never overwrites (nothing written)"
        )
    for template, dest in pairs:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with dest.open("x", encoding="utf-8") as fh:  # "x": a file that appeared meanwhile stays
            fh.write(template.read_text(encoding="utf-8"))
    return [dest for _, dest in pairs]
