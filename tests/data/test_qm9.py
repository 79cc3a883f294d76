"""QM9 from a small figshare-style archive and qm9pack-style tables built here; the cache."""
import io
import tarfile

import numpy as np
import pytest

from molsym.data import keys
from molsym.data.errors import DataError
from molsym.data.readers import qm9
from molsym.data.readers._qm9_parse import (QM9PACK_COLUMNS, qm9pack_dir, read_qm9_archive,
                                            read_qm9pack, read_uncharacterized)
from molsym.data.units import BOHR_TO_ANGSTROM, HARTREE_TO_EV, KCAL_PER_MOL_TO_EV

# (gdb id, SMILES, atoms [(symbol, x, y, z)], 15 properties as written in the file)
MOLECULES = [
    (1, "C", [("C", "-0.0126981359", "1.0858041578", "0.0080009958"),
              ("H", "0.002150416", "-0.0060313176", "0.0019761204"),
              ("H", "1.0117308433", "1.4637511618", "0.0002765748"),
              ("H", "-0.540815069", "1.4475266138", "-0.8766437152"),
              ("H", "-0.5238136345", "1.4379326443", "0.9063972942")],
     "157.7118 157.70997 157.70699 0. 13.21 -0.3877 0.1171 0.5048 35.3641 0.044749 "
     "-40.47893 -40.476062 -40.475117 -40.498597 6.469"),
    (2, "N", [("N", "-0.0404260543", "1.0241077531", "0.0625637998"),
              ("H", "0.0172574639", "0.0125452063", "-0.0273771593"),
              ("H", "0.9157893661", "1.3587451948", "-0.0287577581"),
              ("H", "-0.5202777357", "1.3435321258", "-0.7755426124")],
     "293.60975 293.54111 191.39397 1.6256 9.46 -0.257 0.0829 0.3399 26.1563 0.034358 "
     "-56.525887 -56.523026 -56.522082 -56.544961 6.316"),
    (3, "O", [("O", "-0.0343604951", "0.9775395708", "0.0076015923"),
              ("H", "0.0647664923", "0.0205721989", "0.0015346341"),
              ("H", "0.8717903737", "1.3007924048", "6.931336*^-4")],
     "799.58812 437.90386 282.94545 1.8511 6.31 -0.2928 0.0687 0.3615 19.0002 2.1375*^-2 "
     "-76.404702 -76.401867 -76.400922 -76.422349 6.002"),
]


def _xyz_text(gdb, smiles, atoms, props):
    lines = [str(len(atoms)), f"gdb {gdb}\t" + "\t".join(props.split()) + "\t"]
    lines += [f"{s}\t{x}\t{y}\t{z}\t0.1*^-1" for s, x, y, z in atoms]
    lines += ["1341.307\t1341.3284", f"{smiles}\t{smiles}", "InChI=1S/x\tInChI=1S/x"]
    return "\n".join(lines) + "\n"


def _archive(tmp_path, molecules=MOLECULES, name="dsgdb9nsd.xyz.tar.bz2"):
    path = tmp_path / name
    with tarfile.open(path, "w:bz2") as tar:
        for mol in reversed(molecules):  # out of order on purpose
            data = _xyz_text(*mol).encode()
            info = tarfile.TarInfo(f"dsgdb9nsd_{mol[0]:06d}.xyz")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _uncharacterized(tmp_path, ids):
    header = ["Uncharacterized molecules", "", "Index GDB17-SMILES ..."] + ["-" * 40] * 6
    rows = [f"  {i:6d}  CC  C  1.0  2.0" for i in ids]
    path = tmp_path / "uncharacterized.txt"
    path.write_text("\n".join(header + rows + ["=" * 40, ""]) + "\n")
    return path


def _expected(mol):
    gdb, smiles, atoms, props = mol
    values = np.array([float(v.replace("*^", "e")) for v in props.split()])
    factors = np.array([p.factor for p in qm9.PROPERTIES])
    pos = np.array([[float(v.replace("*^", "e")) for v in a[1:]] for a in atoms])
    return values * factors, pos


def test_factors_are_the_named_ones():
    f = {p.key: p.factor for p in qm9.PROPERTIES}
    for key in ("homo", "lumo", "gap", "zpve", "U0", "U", "H", "G"):
        assert f[key] == HARTREE_TO_EV
    assert f["mu"] == pytest.approx(0.2081943, rel=1e-6)  # 1 D in e·Å
    assert f["alpha"] == pytest.approx(BOHR_TO_ANGSTROM ** 3) == pytest.approx(0.1481847, rel=1e-6)
    assert f["r2"] == pytest.approx(0.2800285, rel=1e-6)
    assert f["Cv"] == KCAL_PER_MOL_TO_EV / 1000
    assert HARTREE_TO_EV == pytest.approx(27.211386, rel=1e-7)
    for key in qm9.QM9_KEYS:
        assert keys.level(key) == "graph" and keys.FIELDS[key].unit == qm9.PROPERTIES[
            qm9.QM9_KEYS.index(key)].unit


def test_archive_excludes_uncharacterised_and_converts(tmp_path):
    archive = _archive(tmp_path)
    _uncharacterized(tmp_path, [2])  # found beside the archive
    data = qm9.load_qm9(archive, cache_dir=tmp_path / "cache", progress=False)
    assert len(data) == 2 and data.smiles == ["C", "O"] and data.gdb_index.tolist() == [1, 3]
    for frame, mol in zip(data.frames, (MOLECULES[0], MOLECULES[2])):
        values, pos = _expected(mol)
        np.testing.assert_allclose(frame["pos"], pos, rtol=1e-15)
        np.testing.assert_allclose([frame[k] for k in qm9.QM9_KEYS], values, rtol=1e-15)
        assert frame["homo"].shape == () and "energy" not in frame
    assert data.frames[1]["pos"][2, 2] == pytest.approx(6.931336e-4)  # the *^ exponent
    assert data.frames[1]["zpve"] == pytest.approx(2.1375e-2 * HARTREE_TO_EV)
    assert data.frames[0]["U0"] == pytest.approx(-40.47893 * 27.211386, rel=1e-7)


def test_cache_is_used_and_atomic(tmp_path, monkeypatch):
    archive = _archive(tmp_path)
    cache = tmp_path / "cache"
    first = qm9.load_qm9(archive, cache_dir=cache, uncharacterized=_uncharacterized(tmp_path, [99]),
                         progress=False)
    assert len(first) == 3
    files = sorted(p.name for p in cache.iterdir())
    assert files == ["qm9_dsgdb9nsd.npz"]  # no temporary file left behind

    def fail(*args, **kwargs):
        raise AssertionError("the archive was parsed again although a cache exists")

    monkeypatch.setattr(qm9, "read_qm9_archive", fail)
    again = qm9.load_qm9(archive, cache_dir=cache, uncharacterized=tmp_path / "uncharacterized.txt",
                         energy_property="U0", progress=False)
    assert again.smiles == first.smiles
    for a, b in zip(first.frames, again.frames):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
        assert b["energy"] == b["U0"]
    with pytest.raises(AssertionError, match="parsed again"):
        qm9.load_qm9(archive, cache_dir=cache, rebuild=True, progress=False)


def test_truncated_or_stale_cache_is_rebuilt(tmp_path):
    archive = _archive(tmp_path)
    _uncharacterized(tmp_path, [99])  # beside the archive
    cache = tmp_path / "cache"
    qm9.load_qm9(archive, cache_dir=cache, progress=False)
    target = cache / "qm9_dsgdb9nsd.npz"
    target.write_bytes(target.read_bytes()[:100])  # a crash mid-write would look like this
    assert len(qm9.load_qm9(archive, cache_dir=cache, progress=False)) == 3
    with np.load(target) as cached:  # replaced by a whole one
        assert cached["ptr"].tolist() == [0, 5, 9, 12]
    _archive(tmp_path, MOLECULES[:2])  # the source changed
    assert len(qm9.load_qm9(archive, cache_dir=cache, progress=False)) == 2


def test_archive_without_uncharacterised_list_warns(tmp_path):
    with pytest.warns(UserWarning, match="uncharacterised molecules are kept"):
        data = qm9.load_qm9(_archive(tmp_path), cache_dir=tmp_path / "cache", progress=False)
    assert len(data) == 3


def test_bad_archive_member_names_file(tmp_path):
    bad = list(MOLECULES)
    bad[1] = (2, "N", MOLECULES[1][2], MOLECULES[1][3].replace("0.0829", "0.08x9"))
    archive = _archive(tmp_path, bad)
    with pytest.raises(DataError, match=r"dsgdb9nsd_000002\.xyz, frame \d+: property 6: not a number"):
        qm9.load_qm9(archive, cache_dir=tmp_path / "cache", progress=False,
                     uncharacterized=_uncharacterized(tmp_path, [99]))
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_uncharacterized_parser(tmp_path):
    assert read_uncharacterized(_uncharacterized(tmp_path, [21725, 87037, 5])) == {21725, 87037, 5}


def _qm9pack_tables(tmp_path, molecules=MOLECULES):
    header = ("XYZ_file,Index,SMILES,InChi,N_atoms,Stoichiometry,Elements,XYZ_Ang,Mulliken_pop,"
              "Harmonic_Freq_cmi," + ",".join(QM9PACK_COLUMNS))
    rows = [header]
    for gdb, smiles, atoms, props in molecules:
        elements = "[" + ",".join(f"'{a[0]}'" for a in atoms) + "]"
        xyz = "[" + ",".join("[" + ",".join(_literal(v) for v in a[1:]) + "]" for a in atoms) + "]"
        values = ",".join(_literal(v) for v in props.split())
        rows.append(f'"dsgdb9nsd_{gdb:06d}.xyz",{gdb},"{smiles}","InChI=1S/x",{len(atoms)},'
                    f'"[0,0,0,0,0]","{elements}","{xyz}","[0.1]","[1.0]",{values}')
    folder = tmp_path / "qm9pack_data"
    folder.mkdir(exist_ok=True)
    (folder / "qm9_part1.csv").write_text("\n".join(rows) + "\n")
    return folder


def _literal(text):
    """As qm9pack writes numbers: Python float literals such as ``0.`` and ``13.21``."""
    value = repr(float(text.replace("*^", "e")))
    return value[:-1] if value.endswith(".0") else value


def test_qm9pack_tables_match_the_archive(tmp_path):
    raw_csv = read_qm9pack(_qm9pack_tables(tmp_path), progress=False)
    assert "0.," in (tmp_path / "qm9pack_data" / "qm9_part1.csv").read_text()
    raw_tar = read_qm9_archive(_archive(tmp_path), progress=False)
    for name in ("z", "pos", "ptr", "properties", "gdb_index"):
        np.testing.assert_array_equal(getattr(raw_csv, name), getattr(raw_tar, name), err_msg=name)
    assert raw_csv.smiles == raw_tar.smiles == ["C", "N", "O"]


def test_qm9pack_bad_cell_names_file_and_row(tmp_path):
    folder = _qm9pack_tables(tmp_path)
    table = folder / "qm9_part1.csv"
    table.write_text(table.read_text().replace("[-0.0404260543,", "[-0.0404260543x,"))
    with pytest.raises(DataError, match=r"qm9_part1\.csv, frame 1: XYZ_Ang is not a list of numbers"):
        read_qm9pack(folder, progress=False)


def test_installed_qm9pack_first_molecules():
    """The real offline tables (first rows only; the full load is timed by scripts/bench_readers.py)."""
    try:
        folder = qm9pack_dir()
    except ModuleNotFoundError:
        pytest.skip("qm9pack is not installed (pip install 'molsym[qm9]')")
    raw = read_qm9pack(folder, limit=25, progress=False)
    assert raw.gdb_index[:3].tolist() == [1, 2, 3] and raw.smiles[:3] == ["C", "N", "O"]
    values, pos = _expected(MOLECULES[0])
    np.testing.assert_allclose(raw.pos[:5], pos, rtol=1e-12)
    factors = np.array([p.factor for p in qm9.PROPERTIES])
    np.testing.assert_allclose(raw.properties[0] * factors, values, rtol=1e-12)


def test_download_writes_atomically(tmp_path):
    """download_qm9 through a file:// URL: no network, same code path."""
    archive = _archive(tmp_path)
    listing = _uncharacterized(tmp_path, [2])
    got, excluded = qm9.download_qm9(tmp_path / "dl", url=archive.as_uri(),
                                     uncharacterized_url=listing.as_uri())
    assert got.read_bytes() == archive.read_bytes() and excluded.read_text() == listing.read_text()
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["dsgdb9nsd.xyz.tar.bz2",
                                                                    "uncharacterized.txt"]
    with pytest.raises(OSError):  # urllib's URLError
        qm9.download_qm9(tmp_path / "dl2", url=(tmp_path / "missing").as_uri())
    assert not any((tmp_path / "dl2").iterdir())


@pytest.mark.slow
def test_full_qm9pack_conversion(tmp_path):
    """All of QM9 from qm9pack into a fresh cache (about 30 s of CPU), then from the cache."""
    try:
        qm9pack_dir()
    except ModuleNotFoundError:
        pytest.skip("qm9pack is not installed (pip install 'molsym[qm9]')")
    first = qm9.load_qm9(cache_dir=tmp_path, progress=False)
    again = qm9.load_qm9(cache_dir=tmp_path, progress=False)
    assert len(first) == len(again) == qm9.QM9_NUM_CHARACTERIZED == 130_831
    assert len(set(first.gdb_index.tolist())) == 130_831 and first.gdb_index.max() == 133_885
    homo = np.array([f["homo"] for f in again.frames])
    lumo = np.array([f["lumo"] for f in again.frames])
    gap = np.array([f["gap"] for f in again.frames])
    np.testing.assert_allclose(gap, lumo - homo, atol=2e-4 * HARTREE_TO_EV)  # 4-decimal Hartree values
    assert set(np.concatenate([f["atomic_numbers"] for f in again.frames]).tolist()) == {1, 6, 7, 8, 9}
    assert again.smiles[:3] == ["C", "N", "O"]


def test_read_frames_reads_a_qm9_xyz_file_as_load_qm9_does(tmp_path):
    """A single QM9 .xyz file (or several concatenated) goes to read_qm9_xyz, with load_qm9's factors."""
    from molsym.data.readers import read_frames

    _uncharacterized(tmp_path, [99])  # none of the three is left out
    archive = qm9.load_qm9(_archive(tmp_path), cache_dir=tmp_path / "cache", progress=False,
                           energy_property="U0")
    one = tmp_path / "dsgdb9nsd_000001.xyz"
    one.write_text(_xyz_text(*MOLECULES[0]))
    frames = read_frames(one)
    assert len(frames) == 1 and "energy" not in frames[0] and "forces" not in frames[0]
    for key in ("atomic_numbers", "pos", "cell", "pbc", *qm9.QM9_KEYS):
        np.testing.assert_array_equal(frames[0][key], archive.frames[0][key])

    three = tmp_path / "three.xyz"
    three.write_text("".join(_xyz_text(*m) for m in MOLECULES))
    frames = read_frames(three, energy_key="U0")
    assert [float(f["energy"]) for f in frames] == [float(f["U0"]) for f in archive.frames]
    assert float(frames[2]["zpve"]) == pytest.approx(2.1375e-2 * HARTREE_TO_EV)  # the *^ exponent
    second = read_frames(three, energy_key="U0", index=1)
    assert len(second) == 1 and float(second[0]["energy"]) == float(archive.frames[1]["energy"])
    assert read_frames(three, energy_key="H", info_keys=["gap"])[0]["energy"] == archive.frames[0]["H"]


@pytest.mark.parametrize("kwargs,pattern", [
    ({"energy_key": "REF_energy"}, r"no energy label 'REF_energy'; name one of its energies, U0, U, H, G"),
    ({"require_labels": True}, r"has no forces"),
    ({"stress_key": "stress"}, r"has no stress"),
    ({"info_keys": ["charge"]}, r"no property 'charge'"),
    ({"energy_unit": "Hartree"}, r"fixed units"),
])
def test_qm9_xyz_refuses_what_it_does_not_hold(tmp_path, kwargs, pattern):
    from molsym.data.readers import read_frames

    path = tmp_path / "m.xyz"
    path.write_text(_xyz_text(*MOLECULES[1]))
    with pytest.raises(DataError, match=pattern) as info:
        read_frames(path, **kwargs)
    assert str(info.value).startswith(str(path)) and "QM9 .xyz (GDB format)" in str(info.value)


def test_broken_qm9_xyz_names_format_and_frame(tmp_path):
    from molsym.data.readers import read_frames

    text = _xyz_text(*MOLECULES[0]) + _xyz_text(*MOLECULES[1]).replace("\t-56.525887", "", 1)
    path = tmp_path / "b.xyz"
    path.write_text(text)
    with pytest.raises(DataError, match=r"b\.xyz, frame 1: QM9 \.xyz \(GDB format\): line 2 has 16 fields"):
        read_frames(path)
