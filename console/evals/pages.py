"""The evaluations' pages (under /evals/): datasets come from the log and experiments run
over them, so they read request bodies of every key (``evals.use``: admins and owners)."""

from __future__ import annotations

from console.evals import evaluator_views, prompt_views, queue_views, views
from gateway.web.pages import Nav, Page, register

USE = "evals.use"
# Annotation queues: leads (evals.use) define them and send requests to them; reviewers
# (annotations.review: editors, within the requests they may see, and above) work them.
REVIEW = "annotations.review"
EVALS = Nav("Build", "Evals", ("evals",), order=30)
QUEUES = Nav("Build", "Review queues", ("evals-queue",), order=31)

register(
    Page("evals/", views.index, "evals", read=USE, nav=EVALS),
    Page("evals/datasets/upload/", views.upload, "evals-upload", read=USE),
    Page("evals/datasets/from-log/", views.from_log, "evals-from-log", read=USE),
    Page("evals/datasets/<int:pk>/", views.dataset_detail, "evals-dataset", read=USE),
    Page("evals/datasets/<int:pk>/rows/<int:index>/", views.row_edit, "evals-row-edit", read=USE),
    Page("evals/experiments/new/", views.experiment_new, "evals-experiment-new", read=USE),
    Page("evals/experiments/<int:pk>/", views.experiment_detail, "evals-experiment", read=USE),
    Page("evals/experiments/<int:pk>/progress/", views.experiment_progress, "evals-progress", read=USE),
    Page("evals/experiments/<int:pk>/cancel/", views.experiment_cancel, "evals-cancel", read=USE),
    Page("evals/experiments/<int:pk>/resume/", views.experiment_resume, "evals-resume", read=USE),
    Page("evals/experiments/<int:pk>/rows/<int:index>/", views.experiment_row, "evals-row", read=USE),
    Page("evals/experiments/<int:pk>/export.<str:fmt>", views.experiment_export, "evals-export", read=USE),
    Page("evals/experiments/<int:pk>/review/", views.review, "evals-review", read=USE),
    Page("evals/compare/", views.compare, "evals-compare", read=USE),
    Page("evals/prompts/<str:name>/compare/", prompt_views.prompt_compare, "evals-prompt-compare", read=USE),
    Page("evals/prompts/<str:name>/compare/<str:run>/", prompt_views.prompt_comparison, "evals-prompt-comparison", read=USE),
    Page("evals/evaluators/", evaluator_views.evaluators, "evals-evaluators", read=USE),
    Page("evals/evaluators/<int:pk>/", evaluator_views.evaluator_detail, "evals-evaluator", read=USE),
    Page("evals/evaluators/<int:pk>/pause/", evaluator_views.evaluator_pause, "evals-evaluator-pause", read=USE),
    Page("evals/score-configs/", queue_views.score_configs, "evals-scoring", read=USE),
    Page("evals/score-configs/<int:pk>/", queue_views.score_config_edit, "evals-scoring-edit", read=USE),
    Page("evals/queues/", queue_views.queue_list, "evals-queues", read=REVIEW, write=USE, nav=QUEUES),
    Page("evals/queues/add/", queue_views.queue_add, "evals-queue-add", read=USE),
    Page("evals/queues/<int:pk>/", queue_views.queue_detail, "evals-queue", read=REVIEW, write=USE),
    Page("evals/queues/<int:pk>/dataset/", queue_views.queue_dataset, "evals-queue-dataset", read=USE),
    Page("evals/queues/<int:pk>/review/", queue_views.queue_review, "evals-queue-review", read=REVIEW),
    Page("evals/queues/<int:pk>/items/<int:item>/", queue_views.queue_item, "evals-queue-item", read=REVIEW),
)  # fmt: skip
