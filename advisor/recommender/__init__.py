"""Recommend: the model × format configs that fit a memory budget, ranked by the evidence
for a task.

Pure computation over the catalogue (:mod:`advisor.profiles`), the memory model
(:mod:`advisor.memory`), the evidence (:mod:`advisor.evidence`) and the curves
(:mod:`advisor.curves`); rendering lives in :mod:`advisor.commands.recommend` and the TUI.
"""

from __future__ import annotations

from advisor.recommender.budget import Budget, RecommendError
from advisor.recommender.candidates import FORMAT_SETS, VARIANTS, Candidate, candidates
from advisor.recommender.ranking import DEFAULT_SAFETY_MARGIN, RISKS, Recommendation, recommend

__all__ = [
    "DEFAULT_SAFETY_MARGIN",
    "FORMAT_SETS",
    "RISKS",
    "VARIANTS",
    "Budget",
    "Candidate",
    "RecommendError",
    "Recommendation",
    "candidates",
    "recommend",
]
