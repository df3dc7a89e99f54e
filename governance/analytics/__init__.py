"""Analytics: drift, bias and explainability reduced to aggregates, safe artifact loading, and evidence rows.

Modules: ``io`` (files into DuckDB), ``drift``, ``bias``, ``explain``, ``artifacts``, ``evidence`` (the evidence
table and :func:`~governance.evidence.review_version`), ``charts`` (altair specs, no streamlit).
"""
