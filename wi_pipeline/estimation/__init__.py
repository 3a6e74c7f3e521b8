"""Estimators for what works for whom, usable on any DataFrame (no pipeline needed)."""

from .discontinuity import binned_means, estimate_discontinuity, rd_robustness, rd_window
from .event_study import estimate_event_study
from .honest import breakdown_mbar, original_ci, relative_magnitudes, smoothness_flci
from .multivalued import (
    BLPResult,
    MultivaluedTreatmentResult,
    estimate_multivalued_treatment,
    estimate_multivalued_treatments,
)
from .policy import AssignmentPolicy, learn_assignment_policy, policy_tree
from .ranks import best_set, rank_confidence_sets
from .results import (
    DiscontinuityResult,
    EffectResult,
    EventStudyResult,
    TreatmentEffectResult,
    WaldTest,
)
from .staggered import AggregatedEffect, StaggeredDiDResult, estimate_staggered_did
from .treatment import estimate_treatment_effect, estimate_treatment_effects, naive_difference

__all__ = [
    "estimate_treatment_effect",
    "estimate_treatment_effects",
    "naive_difference",
    "estimate_multivalued_treatment",
    "estimate_multivalued_treatments",
    "estimate_discontinuity",
    "binned_means",
    "rd_robustness",
    "rd_window",
    "estimate_event_study",
    "estimate_staggered_did",
    "StaggeredDiDResult",
    "AggregatedEffect",
    "relative_magnitudes",
    "original_ci",
    "breakdown_mbar",
    "smoothness_flci",
    "learn_assignment_policy",
    "policy_tree",
    "AssignmentPolicy",
    "rank_confidence_sets",
    "best_set",
    "EffectResult",
    "TreatmentEffectResult",
    "DiscontinuityResult",
    "EventStudyResult",
    "WaldTest",
    "MultivaluedTreatmentResult",
    "BLPResult",
]
