"""What a change region probably is, from its size, shape and edges (transparent rules).

The rules are deliberately simple and stated in metres so an analyst can check them:
vehicle-sized blobs are left to object-level change; long thin regions are cranes (or
their shadows); compact rectilinear regions are structures, new when their inside became
smoother (a roof is smoother than the ground it covers) and removed when it became
rougher; large irregular regions are ground scarring or excavation.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Kinds a change region can be given, most specific first.
KINDS: tuple[str, ...] = (
    "crane",
    "new_structure",
    "removed_structure",
    "ground_scarring",
    "vehicle_size",
    "other",
)

STRUCTURE_KINDS: frozenset[str] = frozenset({"crane", "new_structure", "removed_structure", "ground_scarring"})


@dataclass(frozen=True)
class ShapeRules:
    """Size and shape thresholds of :func:`classify` (metres, square metres, ratios)."""

    vehicle_max_m2: float = 60.0
    #: A region this small that touches a detected vehicle is that vehicle and its shadow.
    vehicle_with_shadow_max_m2: float = 120.0
    #: Longer than a rail car or locomotive (up to ~22 m), as thin as a boom or its shadow.
    crane_min_length_m: float = 25.0
    crane_max_width_m: float = 4.0
    crane_min_elongation: float = 6.0
    structure_min_m2: float = 60.0
    structure_min_rectangularity: float = 0.75
    scarring_min_m2: float = 200.0
    #: Relative change of texture inside a region that makes a structure new (or removed).
    texture_change: float = 0.15


def classify(
    area_m2: float,
    length_m: float,
    width_m: float,
    rectangularity: float,
    texture_change: float,
    rules: ShapeRules = ShapeRules(),
) -> str:
    """The kind of a change region.

    ``length_m``/``width_m`` are the sides of its minimum rotated rectangle,
    ``rectangularity`` its area over that rectangle's, and ``texture_change`` the relative
    change of mean gradient strength inside it, (after - before) / before.
    """
    elongation = length_m / max(width_m, 1e-9)
    if (
        length_m >= rules.crane_min_length_m
        and width_m <= rules.crane_max_width_m
        and elongation >= rules.crane_min_elongation
    ):
        return "crane"
    if area_m2 < rules.vehicle_max_m2:
        return "vehicle_size"
    if area_m2 >= rules.structure_min_m2 and rectangularity >= rules.structure_min_rectangularity:
        if texture_change <= -rules.texture_change:
            return "new_structure"
        if texture_change >= rules.texture_change:
            return "removed_structure"
    if area_m2 >= rules.scarring_min_m2 and rectangularity < rules.structure_min_rectangularity:
        return "ground_scarring"
    return "other"
