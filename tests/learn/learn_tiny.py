"""Settings of seconds-long learn runs: EMT labels (ASE), a tiny committee, a few MD steps."""

#: any ASE calculator is a labeller; EMT has (rough) parameters for H, C, N, O and runs in microseconds
EMT = "ase.calculators.emt:EMT"


def tiny_settings(out, config, **changes):
    """LearnSettings of a run of seconds on water."""
    from molsym.learn import LearnSettings

    values = dict(smiles="O", out=str(out), labeller=EMT, config=str(config), committee=2, seed_frames=8,
                  seed_stride=5, seed_equilibration=10, frames_per_iteration=4, max_iterations=2, md_runs=2,
                  md_steps=60, sample_every=10, min_gap=20, threshold=1e-4, train_minutes=1.0)
    values.update(changes)
    return LearnSettings(**values)
