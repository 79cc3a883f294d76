"""The documentation stays true to the code.

- docs/batch-contract.md renders :data:`molsym.data.keys.FIELDS`: every key,
  with the same level, shape, dtype and unit (and the table in the docstring
  of ``keys.py`` names the same keys with the same units);
- ``mkdocs build --strict`` succeeds (every nav page exists, no broken link);
- every page under docs/ is reachable from the nav;
- the Python examples of docs/api.md run.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
KEYS_FILE = ROOT / "molsym" / "data" / "keys.py"


def fresh_fields():
    """``FIELDS`` as ``keys.py`` declares it, without fields registered at run time.

    Other modules (the QM9 reader) add per-graph fields to ``FIELDS`` when
    imported; a private copy of the module shows the declared contract only.
    """
    name = "_molsym_keys_pristine"
    spec = importlib.util.spec_from_file_location(name, KEYS_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module.FIELDS


def normalise_unit(text: str) -> str:
    text = text.strip()
    return "" if text in ("", "-", "–", "—") else text


def normalise_shape(text: str) -> str:
    return re.sub(r"\s+", "", text)


def markdown_table(text: str, heading: str):
    """Rows (dicts keyed by the header cells) of the first table after ``heading``."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == heading)
    except StopIteration:
        raise AssertionError(f"no heading {heading!r}") from None
    rows, header = [], None
    for line in lines[start + 1:]:
        s = line.strip()
        if not s.startswith("|"):
            if header is not None:
                break
            if s.startswith("#"):
                break
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        if header is None:
            header = cells
        elif set("".join(cells)) <= set("-: "):
            continue
        else:
            assert len(cells) == len(header), f"malformed table row: {line!r}"
            rows.append(dict(zip(header, cells)))
    assert header is not None, f"no table after {heading!r}"
    return rows


def contract_rows():
    rows = markdown_table((DOCS / "batch-contract.md").read_text(encoding="utf-8"), "## Fields")
    out = {}
    for row in rows:
        key = row["key"].strip("`")
        assert key not in out, f"{key!r} documented twice in docs/batch-contract.md"
        out[key] = row
    return out


def test_contract_page_documents_every_field():
    fields, rows = fresh_fields(), contract_rows()
    assert set(fields) - set(rows) == set(), "keys.FIELDS entries missing from docs/batch-contract.md"
    assert set(rows) - set(fields) == set(), "docs/batch-contract.md documents keys that keys.FIELDS lacks"


def test_contract_page_agrees_with_fields():
    fields, rows = fresh_fields(), contract_rows()
    wrong = []
    for key, field in fields.items():
        row = rows.get(key)
        if row is None:
            continue  # reported by the test above
        documented = (row["level"], normalise_shape(row["shape"]), row["dtype"], normalise_unit(row["unit"]))
        declared = (field.level, normalise_shape(field.shape), field.dtype, normalise_unit(field.unit))
        if documented != declared:
            wrong.append(f"{key}: page says (level, shape, dtype, unit) = {documented}, keys.py says {declared}")
    assert not wrong, "docs/batch-contract.md disagrees with keys.FIELDS:\n" + "\n".join(wrong)


def test_keys_docstring_table_agrees_with_fields():
    """The table in the module docstring of keys.py is a third copy; keep it honest too."""
    fields = fresh_fields()
    text = KEYS_FILE.read_text(encoding="utf-8")
    docstring = text.split('"""')[1]
    rows = {}
    for line in docstring.splitlines():
        m = re.match(r"^``(\w+)``\s+(\[[^\]]*\])\s+(\S+)\s+(\S+)\s+", line)
        if m:
            rows[m.group(1)] = (normalise_shape(m.group(2)), m.group(3), normalise_unit(m.group(4)))
    assert rows, "no field table found in the docstring of molsym/data/keys.py"
    assert set(rows) == set(fields), (f"docstring of keys.py and FIELDS differ: only in docstring "
                                      f"{sorted(set(rows) - set(fields))}, only in FIELDS {sorted(set(fields) - set(rows))}")
    wrong = [f"{k}: docstring {rows[k]}, FIELDS {(normalise_shape(f.shape), f.dtype, normalise_unit(f.unit))}"
             for k, f in fields.items()
             if rows[k] != (normalise_shape(f.shape), f.dtype, normalise_unit(f.unit))]
    assert not wrong, "docstring table of keys.py disagrees with FIELDS:\n" + "\n".join(wrong)


def test_contract_vector_and_tensor_keys_match_page():
    """The page names the Cartesian vector and tensor keys the symmetry tests use."""
    from molsym.data import keys

    text = (DOCS / "batch-contract.md").read_text(encoding="utf-8")
    m = re.search(r"`pos` and `forces` are Cartesian vectors \(`keys.VECTOR_KEYS`\)", text)
    assert m and set(keys.VECTOR_KEYS) == {"pos", "forces"}
    m = re.search(r"`stress` is a rank-2 tensor\s*\(`keys.TENSOR_KEYS`\)", text)
    assert m and set(keys.TENSOR_KEYS) == {"stress"}


# ---------------------------------------------------------------------- mkdocs
def nav_pages(nav):
    """Markdown files named anywhere in a mkdocs nav."""
    if isinstance(nav, str):
        return [nav] if nav.endswith(".md") else []
    if isinstance(nav, list):
        return [p for item in nav for p in nav_pages(item)]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in nav_pages(value)]
    return []


def load_mkdocs_config():
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def test_every_docs_page_is_in_the_nav():
    listed = set(nav_pages(load_mkdocs_config().get("nav", [])))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    orphans = sorted(pages - listed)
    assert not orphans, f"pages under docs/ that mkdocs.yml's nav does not list: {orphans}"


def test_mkdocs_build_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install mkdocs-material)")
    if importlib.util.find_spec("material") is None:
        pytest.skip("the mkdocs-material theme is not installed (pip install mkdocs-material)")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    problems = [line for line in proc.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert proc.returncode == 0 and not problems, ("mkdocs build --strict failed:\n"
                                                   + "\n".join(problems or [proc.stdout, proc.stderr]))
    assert (tmp_path / "site" / "index.html").exists()


# ---------------------------------------------------------------------- api.md
def python_blocks(path: Path):
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_api_page_examples_run(tmp_path, monkeypatch):
    """Every ```python block of docs/api.md runs, in order, in one namespace."""
    import torch

    blocks = python_blocks(DOCS / "api.md")
    assert len(blocks) >= 3, "docs/api.md should hold runnable examples"
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    namespace = {"__name__": "__docs_api__"}
    try:
        for i, code in enumerate(blocks):
            try:
                exec(compile(code, f"docs/api.md[python block {i}]", "exec"), namespace)
            except Exception as err:  # report which block, then fail
                raise AssertionError(f"python block {i} of docs/api.md failed: {err!r}\n{code}") from err
    finally:
        torch.set_num_threads(threads)
