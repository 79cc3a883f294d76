"""The selection rule: watchdog frames first, then the largest spreads above the threshold, spread out in time."""
from molsym.learn.select import Candidate, converged, sane_watchdog_frames, select_frames


def _run(run, spreads, fired_at=None, every=10):
    return [Candidate(run=run, step=every * (k + 1), spread=s, fired=every * (k + 1) == fired_at)
            for k, s in enumerate(spreads)]


def test_largest_spreads_first_and_neighbours_skipped():
    cands = _run(0, [0.1, 0.9, 0.8, 0.2, 0.7]) + _run(1, [0.85, 0.05])
    chosen = select_frames(cands, n=3, min_gap=20)
    # run 0 step 20 (0.9), run 1 step 10 (0.85); run 0 step 30 (0.8) is 10 steps from step 20: skipped;
    # run 0 step 50 (0.7) is 30 steps away: taken
    assert [(c.run, c.step) for c in chosen] == [(0, 20), (1, 10), (0, 50)]


def test_gap_zero_takes_consecutive_frames():
    cands = _run(0, [0.9, 0.8, 0.1])
    assert [c.step for c in select_frames(cands, n=2, min_gap=0)] == [10, 20]


def test_watchdog_frames_come_first_whatever_their_spread():
    cands = _run(0, [0.9, 0.8]) + _run(1, [0.3, 0.01], fired_at=20)
    chosen = select_frames(cands, n=2, min_gap=0)
    assert (chosen[0].run, chosen[0].step, chosen[0].fired) == (1, 20, True)
    assert (chosen[1].run, chosen[1].step) == (0, 10)
    assert select_frames(cands, n=1, min_gap=0)[0].fired


def test_threshold_and_budget():
    cands = _run(0, [0.05, 0.2, 0.01, 0.3], every=100)
    assert [c.spread for c in select_frames(cands, n=10, min_gap=0, threshold=0.1)] == [0.3, 0.2]
    assert select_frames(cands, n=0, min_gap=0) == []


def test_converged_needs_every_spread_below_the_threshold_and_no_watchdog():
    assert converged(_run(0, [0.01, 0.02]), threshold=0.05)
    assert not converged(_run(0, [0.01, 0.06]), threshold=0.05)
    assert not converged(_run(0, [0.01, 0.02], fired_at=20), threshold=0.05)
    assert not converged([], threshold=0.05)


def test_a_spread_quantile_lets_rare_outliers_exceed_the_threshold():
    spreads = [0.01] * 99 + [0.5]                           # one outlier frame in a hundred
    assert not converged(_run(0, spreads), threshold=0.05)
    assert converged(_run(0, spreads), threshold=0.05, quantile=0.98)
    assert not converged(_run(0, [0.01] * 90 + [0.5] * 10), threshold=0.05, quantile=0.98)
    assert not converged(_run(0, spreads, fired_at=20), threshold=0.05, quantile=0.5)


def test_a_broken_watchdog_frame_hands_its_place_to_the_frame_before_it():
    import numpy as np
    from ase import Atoms

    def water(h_distance):
        return Atoms("OH2", positions=[[0, 0, 0], [h_distance, 0, 0], [-0.24, 0.93, 0]])

    cands = _run(0, [0.1, 0.2, 0.3], fired_at=30)
    for c, d in zip(cands, [0.96, 0.9, 0.004]):
        c.atoms = water(d)
    moved = sane_watchdog_frames(cands)
    assert [c.fired for c in moved] == [False, True, False]
    assert [c.fired for c in cands] == [False, False, True]          # the input is left as it was
    chosen = select_frames(moved, n=1, min_gap=0)
    assert chosen[0].step == 20 and chosen[0].fired
    cands[2].atoms = water(0.96)                                      # a sane watchdog frame stays
    assert [c.fired for c in sane_watchdog_frames(cands)] == [False, False, True]
    cands[2].atoms.positions[0, 0] = np.nan
    assert [c.fired for c in sane_watchdog_frames(cands)] == [False, True, False]
