"""Estimators for what works for whom, usable on any DataFrame (no pipeline needed)."""

from .discontinuity import binned_means, estimate_discontinuity
from .event_study import estimate_event_study
from .results import DiscontinuityResult, EffectResult, EventStudyResult, TreatmentEffectResult, WaldTest
from .treatment import estimate_treatment_effect, estimate_treatment_effects, naive_difference

__all__ = [
    "estimate_treatment_effect",
    "estimate_treatment_effects",
    "naive_difference",
    "estimate_discontinuity",
    "binned_means",
    "estimate_event_study",
    "EffectResult",
    "TreatmentEffectResult",
    "DiscontinuityResult",
    "EventStudyResult",
    "WaldTest",
]
