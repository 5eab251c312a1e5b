"""Metric history: one row per account, metric and UTC day, written after every evaluation (issue 22).

``tables`` holds the model, ``record`` writes and reads rows, ``backfill`` computes past days with the rules
engine, ``changes`` compares today's report with an earlier day, ``chart`` draws a metric's history. Nothing
here prints, syncs or notifies.
"""
