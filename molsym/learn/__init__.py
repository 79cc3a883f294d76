"""Active learning (``molsym learn``): from a SMILES string to a force field, labels asked for where a
committee disagrees. Stages: :mod:`~molsym.learn.label` (reference calculations),
:mod:`~molsym.learn.explore` (committee MD), :mod:`~molsym.learn.select` (which frames),
:mod:`~molsym.learn.loop` (the loop, its files and resume)."""
from molsym.learn.label import LabellerError, label_frames, labeller
from molsym.learn.loop import learn, read_state
from molsym.learn.settings import DEFAULT_CONFIG, LearnError, LearnSettings
from molsym.learn.select import Candidate, converged, select_frames

__all__ = ["learn", "LearnSettings", "LearnError", "read_state", "DEFAULT_CONFIG", "labeller", "label_frames",
           "LabellerError", "Candidate", "select_frames", "converged"]
