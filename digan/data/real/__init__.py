"""The paper's four real datasets (Appendix A.2), one module each: ``ucf101``, ``taichi``, ``sky`` and
``kinetics_food`` hold their source, raw layout, layout check, clip listing and preprocessing rules.

``SPECS`` is the one registry the rest of the code reads (download and preprocess stages, params
validation); ``DATASETS`` its names, in the paper's order.
"""
from __future__ import annotations

from digan.data.real import kinetics_food, sky, taichi, ucf101
from digan.data.real.spec import RealDataset

SPECS: dict[str, RealDataset] = {d.name: d for d in (ucf101.DATASET, taichi.DATASET, sky.DATASET,
                                                      kinetics_food.DATASET)}
DATASETS: tuple[str, ...] = tuple(SPECS)
