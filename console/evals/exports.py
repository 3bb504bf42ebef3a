"""CSV and JSON exports of an experiment's results (one line per row × column)."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from django.http import HttpResponse

from console.evals.experiments import cell_dict, result_rows
from console.evals.models import Experiment

CSV_FIELDS = (
    "row", "prompt", "reference", "column", "route", "output", "error", "score", "scores",
    "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost_usd", "request_id",
)  # fmt: skip


def lines(experiment: Experiment) -> list[dict[str, Any]]:
    out = []
    for item in result_rows(experiment):
        row = item["row"]
        for column, cell in enumerate(item["cells"]):
            data = cell_dict(cell) or {}
            out.append(
                {
                    "row": row.index,
                    "prompt": row.prompt(),
                    "reference": row.reference,
                    "column": column,
                    "route": experiment.columns[column]["route"],
                    **data,
                }
            )
    return out


def json_document(experiment: Experiment) -> bytes:
    return orjson.dumps(
        {
            "id": experiment.pk,
            "name": experiment.name,
            "status": experiment.status,
            "dataset": experiment.dataset_id,
            "dataset_version": experiment.dataset_version,
            "columns": experiment.columns,
            "scorers": experiment.scorers,
            "summary": experiment.summary,
            "results": lines(experiment),
        }
    )


def csv_response(experiment: Experiment) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for line in lines(experiment):
        line["scores"] = orjson.dumps(line.get("scores") or {}).decode()
        writer.writerow(line)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="experiment-{experiment.pk}.csv"'
    return response
