"""DVC stages: one module per stage, each with a ``main(argv)`` that reads its params section and calls ``digan``."""
