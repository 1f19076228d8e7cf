"""Recommend: the model × format configs that fit a memory budget, ranked by the evidence
for a task.

Pure computation over the catalogue (:mod:`advisor.profiles`), the memory model
(:mod:`advisor.memory`), the evidence (:mod:`advisor.evidence`) and the curves
(:mod:`advisor.curves`); rendering lives in :mod:`advisor.commands.recommend` and the TUI.
"""

from __future__ import annotations

from advisor.recommender.budget import RecommendError
from advisor.recommender.candidates import FORMAT_SETS, Candidate, candidates
from advisor.recommender.ranking import DEFAULT_SAFETY_MARGIN, Recommendation, recommend

__all__ = [
    "DEFAULT_SAFETY_MARGIN",
    "FORMAT_SETS",
    "Candidate",
    "RecommendError",
    "Recommendation",
    "candidates",
    "recommend",
]
