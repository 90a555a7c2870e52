"""Video metrics.

The metric names live here, free of torch, so that the params schema can check them without loading
the metrics themselves.
"""

METRICS = ("fvd", "kvd", "is")
DISTANCES = ("fvd", "kvd")  # scored on backbone features against real clips; IS on the fake side alone
