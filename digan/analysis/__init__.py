"""Analyses behind the paper's tables and figures beyond the main metrics (DIGAN §4, Appendix I)."""
