"""Evaluations: datasets, experiments over routes, scorers and their results.

A Django app of its own (label ``evals``) so its tables and its one migration move
without touching the console's: ``models`` (datasets with versioned rows, experiments and
their cells), ``parsing`` (JSONL/CSV upload, all or nothing), ``fromlog`` (a dataset from
the request log through ``gateway.telemetry.logquery``), ``runner`` (the background runner that
claims experiments with a lease and runs their cells through ``gateway.core.service``),
``scorers``, ``summary`` (per-route aggregates and the Wilson interval), ``api``
(``/api/datasets``, ``/api/experiments``) and ``views`` (the pages under ``/evals``)."""
