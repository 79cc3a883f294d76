"""The public API: every exported name imports, and the ``molsym`` command
lists every subcommand and explains every flag."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import subprocess
import sys
import textwrap

import pytest

#: Subpackages whose ``__all__`` is the public API. Those without ``__all__``
#: yet are skipped with a reason.
SUBPACKAGES = ["molsym.data", "molsym.symmetry", "molsym.nn", "molsym.train",
               "molsym.calculator", "molsym.md", "molsym.diffusion"]


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_every_exported_name_imports(package):
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    if names is None:
        pytest.skip(f"{package} defines no __all__ yet")
    assert len(names) == len(set(names)), f"{package}.__all__ lists a name twice"
    missing = []
    for name in names:
        try:
            getattr(module, name)
        except Exception as err:  # an import error inside a lazy import counts too
            missing.append(f"{name}: {type(err).__name__}: {err}")
    assert not missing, f"names in {package}.__all__ that do not import:\n" + "\n".join(missing)


def test_data_star_import_matches_all():
    namespace: dict = {}
    exec("from molsym.data import *", namespace)
    import molsym.data

    assert set(molsym.data.__all__) <= set(namespace)


def test_data_reexports_are_the_defining_objects():
    """``molsym.data.X`` is the object its module defines, not a copy."""
    import molsym.data
    from molsym.data import frame, graph, keys, statistics

    assert molsym.data.keys is keys
    assert molsym.data.FIELDS is keys.FIELDS
    assert molsym.data.make_frame is frame.make_frame
    assert molsym.data.frame_to_graph is graph.frame_to_graph
    assert molsym.data.partition_isolated is statistics.partition_isolated
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        molsym.data.no_such_name  # noqa: B018


def test_data_docstring_names_every_export():
    import molsym.data

    undocumented = [n for n in molsym.data.__all__ if f"``{n}``" not in molsym.data.__doc__]
    assert not undocumented, f"molsym.data's docstring does not mention {undocumented}"


def test_collate_is_the_function_not_the_submodule():
    """``collate`` names a submodule and a function; the package exports the
    function, whatever was imported first."""
    import molsym.data
    import molsym.data.collate  # noqa: F401  (the submodule, loaded again)
    from molsym.data import collate

    module = sys.modules["molsym.data.collate"]
    assert callable(collate) and collate is module.collate
    assert molsym.data.collate is module.collate


def test_importing_the_batch_contract_stays_light():
    """``import molsym.data.keys`` (and ``import molsym.data``) must not pull in
    Lightning, h5py, ASE, vesin or the data modules that need them."""
    heavy = ["lightning", "h5py", "ase", "vesin", "molsym.data.datamodule", "molsym.data.store",
             "molsym.data.readers", "molsym.data.graph"]
    code = textwrap.dedent(f"""
        import sys
        import molsym.data.keys, molsym.data
        print(",".join(m for m in {heavy!r} if m in sys.modules))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    loaded = [m for m in proc.stdout.strip().split(",") if m]
    assert not loaded, f"import molsym.data.keys also imported {loaded}"


# ---------------------------------------------------------------------- CLI
def subcommand_modules():
    """``{module name: [command names it registers]}`` for every module under
    molsym/cli/ that defines ``add_parser`` (helpers without it are skipped)."""
    import molsym.cli

    found = {}
    for info in pkgutil.iter_modules(molsym.cli.__path__):
        if info.name in ("main", "__main__"):
            continue
        module = importlib.import_module(f"molsym.cli.{info.name}")
        if not hasattr(module, "add_parser"):
            continue
        scratch = argparse.ArgumentParser(prog="scratch").add_subparsers()
        module.add_parser(scratch)
        found[info.name] = list(scratch.choices)
    return found


def top_level_subparsers():
    from molsym.cli.main import build_parser

    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1, "molsym should have exactly one set of subcommands"
    return parser, actions[0]


def walk_parsers(parser, path):
    """Yield ``(path, parser)`` for ``parser`` and every nested subcommand parser."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk_parsers(sub, path + [name])


def test_help_lists_every_subcommand_module(capsys):
    from molsym.cli.main import main

    modules = subcommand_modules()
    assert modules, "no subcommand modules found under molsym/cli/"
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    _, sub = top_level_subparsers()
    missing = []
    for module, commands in modules.items():
        assert commands, f"molsym/cli/{module}.py's add_parser registers no subcommand"
        for command in commands:
            shown = any(line.split()[:1] == [command] for line in text.splitlines())
            if command not in sub.choices or not shown:
                missing.append(f"{command} (molsym/cli/{module}.py)")
    assert not missing, ("subcommands that `molsym --help` does not list (wire them in "
                         f"molsym/cli/main.py SUBCOMMANDS): {missing}\n{text}")


def test_every_subcommand_has_a_help_line():
    problems = []
    parser, _ = top_level_subparsers()
    for path, p in walk_parsers(parser, ["molsym"]):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {a.dest: a.help for a in action._choices_actions}
                for name in action.choices:
                    if not (helped.get(name) or "").strip():
                        problems.append(" ".join(path + [name]) + ": no one-line help")
    assert not problems, "\n".join(problems)


def test_every_flag_has_help():
    """Each argument of each (sub)command, except -h itself, carries a help text."""
    problems = []
    parser, _ = top_level_subparsers()
    for path, p in walk_parsers(parser, ["molsym"]):
        for action in p._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            text = action.help
            if text is None or text == argparse.SUPPRESS or not str(text).strip():
                name = "/".join(action.option_strings) or action.dest
                problems.append(f"{' '.join(path)}: {name} has no help")
    assert not problems, "flags without help:\n" + "\n".join(problems)


def test_every_subcommand_help_runs(capsys):
    """``molsym <command> [<action>] --help`` exits 0 and shows every flag."""
    from molsym.cli.main import main

    parser, _ = top_level_subparsers()
    failures = []
    for path, p in walk_parsers(parser, ["molsym"]):
        if len(path) == 1:
            continue
        try:
            main(path[1:] + ["--help"])
            failures.append(f"{' '.join(path)} --help did not exit")
            continue
        except SystemExit as err:
            if err.code not in (0, None):
                failures.append(f"{' '.join(path)} --help exited with {err.code}")
        out = capsys.readouterr().out
        for action in p._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag not in out:
                    failures.append(f"{' '.join(path)} --help does not show {flag}")
    assert not failures, "\n".join(failures)


def test_top_level_calculator_is_the_calculator_class_and_lazy():
    """``molsym.MolSymCalculator`` (the name issue 4 documents) is the calculator
    class itself, and ``import molsym`` alone does not import torch."""
    code = ("import sys, molsym; assert 'torch' not in sys.modules; "
            "from molsym.calculator import MolSymCalculator as C; assert molsym.MolSymCalculator is C\n"
            "try:\n    molsym.NoSuchThing\nexcept AttributeError:\n    pass\nelse:\n    raise SystemExit(1)")
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", code], check=True)
