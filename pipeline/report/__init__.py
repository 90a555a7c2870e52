"""Stage report: the paper's Tables 1–8 and figures from the measured metrics files.

    python -m pipeline.report [--params params.yaml] [--metrics metrics] [--runs runs] [--out reports]
                              [--reference reports/reference/paper_numbers.csv]

Reads ``params.yaml`` (``profile`` and ``experiments``, checked by :func:`pipeline.params.load_params`),
``<metrics>/<experiment>/{quality,time,speed,space,space_recon,prediction,motion_d,curve}.json`` (each checked
against its schema in :mod:`pipeline.results`, which the evaluate stage writes with), ``media/``,
``<runs>/<experiment>/metrics.jsonl`` and the paper reference file. Writes
``<out>/tables/table{1..8}.{md,csv,tex}``, ``<out>/figures/`` and ``<out>/index.md``.

A table row's setting (σt, z_M, f_M, content vector, class conditioning, prediction method) is read from
the measured files, never from experiment names or labels. Every cell of a table CSV names its source:
``<file>#<JSON pointer>`` for ours (RFC 6901, so keys with dots or slashes stay unambiguous) or
``<reference file>#row N/<field>: <source text>`` for the paper's; :func:`trace_sources` checks them all.
A missing file or key gives "not measured"; a malformed file stops the report with its path.
"""
from __future__ import annotations

from pipeline.report.inputs import CHECK, CROSS, CSV_COLUMNS, NOT_MEASURED, NOT_RECOVERED, ReportError
from pipeline.report.provenance import trace_sources
from pipeline.report.stage import main
from pipeline.results import PREDICTION_METHODS

__all__ = ["CHECK", "CROSS", "CSV_COLUMNS", "NOT_MEASURED", "NOT_RECOVERED", "PREDICTION_METHODS", "ReportError",
           "main", "trace_sources"]
