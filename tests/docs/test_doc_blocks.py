"""Every fenced code block of docs/*.md and README.md is true for the package as it is.

A block is treated by its language:

``python``
    executed. The blocks of one page run in order, in one namespace, in a
    temporary folder made by the ``doc_workdir`` fixture (tests/docs/conftest.py
    says which files each page gets). Tracebacks name the page and its line.
``yaml``
    parsed with :func:`molsym.train.config.load_yaml`; a full training config
    (a mapping with ``data`` and ``model``) is also loaded, with its checks,
    by :func:`~molsym.train.config.load_config`, and a mapping with a
    ``representation`` is built with :func:`molsym.nn.build_model`.
``bash``, ``console`` (commands after ``$ ``)
    every command is checked: ``molsym ...`` by the parser of
    :func:`molsym.cli.main.build_parser` (every flag must exist; ``molsym
    train`` overrides are also applied to the config file they name),
    ``python scripts/NAME.py ...`` by that script's ``parse_args``, ``make
    NAME`` against the Makefile's targets. Then the ``molsym`` commands run
    in process and must exit with 0; other commands are never run, so a block
    holding one needs a skip marker.
``text``
    output, diagrams and formulas: never run.

An HTML comment on the last non-blank line before a fence changes that:

``<!-- doc-test: skip (reason) -->``
    the block is checked as above but not run;
``<!-- doc-test: slow (reason) -->``
    the block runs only with ``-m slow`` (``make test-slow``), where the whole
    page runs; a block that needs what a slow block made is marked slow too.

A fence without a language, an unknown language or marker, a skip without a
reason or a marker with no fence after it fails :func:`test_fences_and_markers`.
:data:`NOT_RUN` fixes how many blocks of each page are skipped or text, so a
block that stops running is a visible change of this file.
"""
from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")) + ["README.md"]

LANGUAGES = {"python", "yaml", "bash", "console", "text"}
MARKERS = {"skip", "slow"}

#: page: (blocks marked skip, text blocks); pages without either are left out. Change it with the page.
NOT_RUN = {
    "README.md": (3, 0),                # make demo / make test; generating 1000 molecules, QM9; learn
    "docs/api.md": (0, 1),              # the package diagram
    "docs/batch-contract.md": (0, 1),   # the edge-vector formula
    "docs/data.md": (0, 1),             # the data-flow diagram
    "docs/flagship.md": (1, 0),         # the latency benchmark
    "docs/flow.md": (2, 1),             # benchmark-sized generation and training; the diagram
    "docs/generator.md": (2, 1),        # EDM training; generators the reader trained; the diagram
    "docs/getting-started.md": (2, 1),  # make demo, make test; the output of molsym data inspect
    "docs/index.md": (0, 1),            # the package diagram
    "docs/learn.md": (1, 1),            # ethanol with xTB (15 minutes); the loop diagram
    "docs/models.md": (0, 1),           # the model diagram
    "docs/symmetry.md": (4, 0),         # the sample-efficiency studies (hours)
    "docs/training.md": (4, 0),         # training on acac (30 minutes), evaluating and fine-tuning that
                                        # model, a committee of four
}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MARKER = re.compile(r"^\s*<!--\s*doc-test:\s*(?P<kind>[\w-]+)\s*(?:\((?P<reason>.*)\))?\s*-->\s*$")


@dataclass
class Block:
    page: str
    line: int                 # 1-based line of the opening fence
    lang: str
    code: str
    marker: Optional[str] = None
    reason: str = ""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def parse_page(page: str) -> Tuple[List[Block], List[str]]:
    """The fenced blocks of ``page`` and the problems found in its fences and markers."""
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    blocks, problems = [], []
    pending = None            # (line, kind, reason) of a marker waiting for its fence
    i = 0
    while i < len(lines):
        line = lines[i]
        if "doc-test:" in line:
            m = _MARKER.match(line)
            if not m or m.group("kind") not in MARKERS:
                problems.append(f"{page}:{i + 1}: unknown doc-test marker {line.strip()!r}")
            elif m.group("kind") == "skip" and not (m.group("reason") or "").strip():
                problems.append(f"{page}:{i + 1}: a skip marker needs a reason: <!-- doc-test: skip (why) -->")
            if pending:
                problems.append(f"{page}:{pending[0]}: marker not followed by a fenced block")
            pending = (i + 1, m.group("kind"), (m.group("reason") or "").strip()) if m else None
            i += 1
            continue
        fence = _FENCE.match(line)
        if not fence:
            if line.strip() and pending:
                problems.append(f"{page}:{pending[0]}: marker not followed by a fenced block")
                pending = None
            i += 1
            continue
        indent, mark = fence.group("indent"), fence.group("fence")
        lang = fence.group("info").strip().split(" ")[0].lower()
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(mark[0] * len(mark))
                                      and set(lines[i].strip()) == {mark[0]}):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        if i == len(lines):
            problems.append(f"{page}:{start}: fence never closed")
        if lang not in LANGUAGES:
            problems.append(f"{page}:{start}: fenced block with language {lang or 'none'!r}; use one of "
                            f"{sorted(LANGUAGES)} (text for output and diagrams)")
        block = Block(page, start, lang, "\n".join(body) + "\n")
        if pending:
            block.marker, block.reason = pending[1], pending[2]
            pending = None
        blocks.append(block)
        i += 1
    if pending:
        problems.append(f"{page}:{pending[0]}: marker not followed by a fenced block")
    return blocks, problems


PARSED = {page: parse_page(page) for page in PAGES}


def runnable(block: Block) -> bool:
    return block.lang in ("python", "bash", "console") and block.marker != "skip"


# ------------------------------------------------------------------ commands
def shell_commands(block: Block) -> List[Tuple[int, List[str]]]:
    """``(line, argv)`` of each command of a bash or console block (``\\`` continues a line)."""
    commands, text, first = [], "", None
    for offset, raw in enumerate(block.code.splitlines()):
        line = raw.rstrip()
        if block.lang == "console" and not text:
            if not line.startswith("$ "):
                continue                      # output
            line = line[2:]
        first = first or block.line + 1 + offset
        if line.endswith("\\"):
            text += line[:-1] + " "
            continue
        argv = shlex.split(text + line, comments=True)
        if argv:
            commands.append((first, argv))
        text, first = "", None
    return commands


def _parse_error(parse, argv) -> Optional[str]:
    """argparse's complaint about ``argv`` (its last stderr line), or None."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parse(argv)
    except SystemExit as exit_:
        if exit_.code:
            return (err.getvalue().strip().splitlines() or [f"exit {exit_.code}"])[-1]
    return None


def check_molsym(argv: List[str], where: str) -> None:
    """The flags of ``molsym ARGV`` exist; ``molsym train`` overrides apply to their config."""
    from molsym.cli.main import build_parser
    from molsym.train.config import load_config

    parser = build_parser()
    parsed = {}

    def parse(args):
        # as molsym.cli.main.main: key=value overrides may also follow the options
        namespace, extra = parser.parse_known_args(args)
        if extra and not (hasattr(namespace, "overrides") and all("=" in e and not e.startswith("-") for e in extra)):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        parsed["args"] = namespace

    problem = _parse_error(parse, argv)
    assert problem is None, f"{where}: `molsym {shlex.join(argv)}`: {problem}"
    if "args" not in parsed:
        return                                # --help or --version: argparse printed and exited with 0
    args = parsed["args"]
    assert getattr(args, "func", None), f"{where}: `molsym {shlex.join(argv)}` names no subcommand"
    config = getattr(args, "config", None)
    if args.command == "train" and config and (ROOT / config).is_file():
        try:
            load_config(ROOT / config, list(args.overrides or []))
        except Exception as err:
            raise AssertionError(f"{where}: `molsym {shlex.join(argv)}`: {err}") from err


_SCRIPTS: Dict[Path, object] = {}


def check_script(argv: List[str], where: str) -> None:
    """``python scripts/NAME.py ARGS``: the script exists and its ``parse_args`` accepts ARGS."""
    path = ROOT / argv[1]
    assert argv[1].startswith("scripts/") and path.is_file(), f"{where}: no script {argv[1]}"
    if path not in _SCRIPTS:
        spec = importlib.util.spec_from_file_location(f"_doc_script_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _SCRIPTS[path] = module
    parse = getattr(_SCRIPTS[path], "parse_args", None)
    if parse is not None:
        problem = _parse_error(parse, argv[2:])
        assert problem is None, f"{where}: `{shlex.join(argv)}`: {problem}"


def check_make(argv: List[str], where: str) -> None:
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:", (ROOT / "Makefile").read_text(), flags=re.M))
    missing = [t for t in argv[1:] if not t.startswith("-") and t not in targets]
    assert not missing, f"{where}: the Makefile has no target {missing}"


def check_command(argv: List[str], where: str) -> None:
    if argv[0] == "molsym":
        check_molsym(argv[1:], where)
    elif argv[0] == "python" and len(argv) > 1 and argv[1].endswith(".py"):
        check_script(argv, where)
    elif argv[0] == "make":
        check_make(argv, where)
    else:
        raise AssertionError(f"{where}: the doc test knows no command {argv[0]!r} "
                             f"(it checks molsym, python scripts/..., make)")


def run_command(argv: List[str], where: str) -> None:
    """Run a ``molsym`` command in process (exit code 0); refuse other commands."""
    if argv[0] == "python" and len(argv) > 1 and argv[1].startswith("scripts/"):
        proc = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{where}: `{shlex.join(argv)}` exited with {proc.returncode}:\n{proc.stderr}"
        return
    assert argv[0] == "molsym", (f"{where}: `{shlex.join(argv)}` is not run by the doc test; mark the block "
                                 f"<!-- doc-test: skip (reason) -->")
    from molsym.cli.main import main

    threads = torch.get_num_threads()
    print(f"$ {shlex.join(argv)}", flush=True)
    try:
        code = main(argv[1:])
    except SystemExit as exit_:
        code = exit_.code
    finally:
        torch.set_num_threads(threads)
    assert code == 0, f"{where}: `{shlex.join(argv)}` exited with {code} (its output is in the captured stdout/stderr)"


# ------------------------------------------------------------------ blocks
def compiled(block: Block):
    """The block compiled so that tracebacks give the page and the page's line numbers."""
    return compile("\n" * block.line + block.code, str(ROOT / block.page), "exec")


def check_python(block: Block) -> None:
    """The block compiles and its top-level imports resolve."""
    try:
        tree = ast.parse(block.code)
        compiled(block)
    except SyntaxError as err:
        raise AssertionError(f"{block.where}: python block does not compile: {err}") from None
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    try:
        exec(compile(ast.Module(body=imports, type_ignores=[]), block.where, "exec"), {})
    except ImportError as err:
        raise AssertionError(f"{block.where}: {err}") from None


def check_yaml(block: Block, folder: Path) -> None:
    """The block is YAML; a full config loads with load_config, a representation builds."""
    import yaml

    from molsym.nn import build_model
    from molsym.train.config import load_config, load_yaml

    try:
        data = load_yaml(block.code)
    except yaml.YAMLError as err:
        raise AssertionError(f"{block.where}: not valid YAML: {err}") from None
    if isinstance(data, dict) and {"data", "model"} <= set(data):
        path = folder / f"{Path(block.page).stem}-{block.line}.yaml"
        path.write_text(block.code, encoding="utf-8")
        load_config(path)
    elif isinstance(data, dict) and "representation" in data:
        build_model({"species": [1, 6, 8], **data})


def check_block(block: Block, folder: Path) -> None:
    if block.lang == "python":
        check_python(block)
    elif block.lang == "yaml":
        check_yaml(block, folder)
    elif block.lang in ("bash", "console"):
        for line, argv in shell_commands(block):
            check_command(argv, f"{block.page}:{line}")


def run_block(block: Block, namespace: dict) -> None:
    if block.lang == "python":
        exec(compiled(block), namespace)
    elif block.lang in ("bash", "console"):
        for line, argv in shell_commands(block):
            run_command(argv, f"{block.page}:{line}")


def run_page(page: str, folder: Path, full: bool) -> None:
    """Run the runnable blocks of ``page`` in order; without ``full``, leave out the slow ones."""
    namespace = {"__name__": f"__doc_{Path(page).stem.replace('-', '_')}__"}
    for block in PARSED[page][0]:
        if block.marker == "slow" and not full:
            print(f"--- {block.where}: slow, runs with -m slow")
        elif runnable(block):
            print(f"--- {block.where} [{block.lang}]", flush=True)
            run_block(block, namespace)


# ------------------------------------------------------------------ tests
def test_fences_and_markers():
    problems = [p for page in PAGES for p in PARSED[page][1]]
    assert not problems, "\n".join(problems)


def test_unrun_blocks_are_counted():
    """Skipped and text blocks per page are the ones NOT_RUN lists: none can appear unnoticed."""
    found, listing = {}, []
    for page in PAGES:
        blocks = PARSED[page][0]
        skipped = [b for b in blocks if b.marker == "skip"]
        text = [b for b in blocks if b.lang == "text"]
        if skipped or text:
            found[page] = (len(skipped), len(text))
        listing += [f"  {b.where} [{b.lang}] skip: {b.reason}" for b in skipped]
    print("blocks not run:\n" + "\n".join(listing))
    assert found == NOT_RUN, ("skipped/text blocks per page changed; if that is meant, update NOT_RUN in "
                              f"tests/docs/test_doc_blocks.py to\n{found}\n" + "\n".join(listing))


@pytest.mark.parametrize("page", PAGES)
def test_blocks_are_valid(page, tmp_path):
    """Every block, run or not: python compiles and imports, YAML loads, every command's flags exist."""
    for block in PARSED[page][0]:
        check_block(block, tmp_path)


@pytest.mark.parametrize("page", [p for p in PAGES if any(runnable(b) and b.marker != "slow"
                                                           for b in PARSED[p][0])])
def test_page_runs(page, doc_workdir):
    """The page's blocks run as written, all but the slow ones."""
    run_page(page, doc_workdir(page), full=False)


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if any(b.marker == "slow" for b in PARSED[p][0])])
def test_page_runs_in_full(page, doc_workdir):
    """Pages with slow blocks: every runnable block, in order."""
    run_page(page, doc_workdir(page), full=True)
