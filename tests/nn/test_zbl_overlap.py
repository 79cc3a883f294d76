"""scripts/zbl_overlap.py: the ZBL prior's reach into a data set, per pair-cutoff factor."""
import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.io import write


def test_reports_shortest_pair_ratio_and_zero_force_below_it(load_script, tmp_path, capsys):
    r_oh = covalent_radii[8] + covalent_radii[1]
    frames = []
    for scale in (0.9, 1.0):  # shortest O-H: 0.9 of the covalent-radius sum
        a = Atoms("OH2", positions=[[0, 0, 0], [scale * r_oh, 0, 0], [0, 1.1 * r_oh, 0]])
        a.info["energy"] = -1.0
        a.arrays["forces"] = np.zeros((3, 3))
        frames.append(a)
    path = tmp_path / "water.xyz"
    write(path, frames)
    load_script("zbl_overlap").main([str(path), "--factors", "0.85", "0.95"])
    out = capsys.readouterr().out
    assert "H-O: 0.900" in out
    rows = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in out.splitlines()
            if line.strip().startswith(("0.85", "0.95"))}
    assert rows["0.85"] == [0.0, 0.0]        # the prior ends before the shortest bond
    assert rows["0.95"][0] > 0.0 and rows["0.95"][1] > 0.0
