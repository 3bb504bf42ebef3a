"""URLs of the evaluations pages (included under /evals/ by console/urls.py)."""

from django.urls import path

from console.evals import views

urlpatterns = [
    path("", views.index, name="evals"),
    path("datasets/upload/", views.upload, name="evals-upload"),
    path("datasets/from-log/", views.from_log, name="evals-from-log"),
    path("datasets/<int:pk>/", views.dataset_detail, name="evals-dataset"),
    path("datasets/<int:pk>/rows/<int:index>/", views.row_edit, name="evals-row-edit"),
    path("experiments/new/", views.experiment_new, name="evals-experiment-new"),
    path("experiments/<int:pk>/", views.experiment_detail, name="evals-experiment"),
    path("experiments/<int:pk>/progress/", views.experiment_progress, name="evals-progress"),
    path("experiments/<int:pk>/cancel/", views.experiment_cancel, name="evals-cancel"),
    path("experiments/<int:pk>/resume/", views.experiment_resume, name="evals-resume"),
    path("experiments/<int:pk>/rows/<int:index>/", views.experiment_row, name="evals-row"),
    path("experiments/<int:pk>/export.<str:fmt>", views.experiment_export, name="evals-export"),
    path("experiments/<int:pk>/review/", views.review, name="evals-review"),
    path("compare/", views.compare, name="evals-compare"),
]
