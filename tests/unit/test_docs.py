"""The docs render on GitHub and stay true: relative links resolve, every command and repo path they show exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])

_LINK_RE = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_MAKE_RE = re.compile(r"(?<![\w-])make ([a-z][a-z0-9-]*)")
_SCRIPT_RE = re.compile(r"(?<![\w/.-])(?:\./)?(scripts/[A-Za-z0-9_./-]+\.(?:sh|py))")
# Backticked repo paths such as `terraform/iam.tf` or `scripts/localcloud/moto_shims.py`.
_PATH_RE = re.compile(r"`((?:terraform|sam|scripts|tests|docs|\.github)/[A-Za-z0-9_./-]+)`")


def _doc_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces to dashes."""
    out = set()
    for heading in re.findall(r"^#+\s+(.*)$", markdown, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_relative_links_resolve(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in _LINK_RE.findall(text):
        if re.match(r"^[a-z]+:", target):  # http(s), mailto: not checked offline
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (doc.parent / path_part).resolve() if path_part else doc
        anchor_missing = (
            resolved.is_file() and bool(anchor) and resolved.suffix == ".md"
            and anchor not in _anchors(resolved.read_text(encoding="utf-8"))
        )  # fmt: skip
        if not resolved.exists() or anchor_missing:
            broken.append(target)
    assert not broken, f"{_doc_id(doc)}: broken links {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_commands_shown_exist(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    targets = _make_targets()
    missing = [f"make {t}" for t in _MAKE_RE.findall(text) if t not in targets]
    missing += [s for s in _SCRIPT_RE.findall(text) if not (ROOT / s).is_file()]
    assert not missing, f"{_doc_id(doc)} shows commands that do not exist: {sorted(set(missing))}"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_repo_paths_shown_exist(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = []
    for path in _PATH_RE.findall(text):
        if any(part in path for part in ("/.terraform", "/.aws-sam")):
            continue  # generated, git-ignored working directories
        if any(ch in path for ch in "*<>") or path.endswith("/"):
            if path.endswith("/") and not (ROOT / path).is_dir():
                missing.append(path)
            continue
        if not (ROOT / path).exists():
            missing.append(path)
    assert not missing, f"{_doc_id(doc)} names files that do not exist: {sorted(set(missing))}"


def test_extraction_finds_what_it_should() -> None:
    """Guard the regexes themselves: a silent no-match would make the checks above pass vacuously."""
    sample = "run `make cost` or ./scripts/deploy.sh dev; see [x](docs/a.md#b) and `terraform/iam.tf`"
    assert _MAKE_RE.findall(sample) == ["cost"]
    assert _SCRIPT_RE.findall(sample) == ["scripts/deploy.sh"]
    assert _LINK_RE.findall(sample) == ["docs/a.md#b"]
    assert _PATH_RE.findall(sample) == ["terraform/iam.tf"]
