"""URLs of the playground (included under /playground/ by console/urls.py)."""

from django.urls import path

from console.playground import prompts, views

urlpatterns = [
    path("", views.playground, name="playground"),
    path("history/", views.history, name="playground-history"),
    path("votes/", views.votes, name="playground-votes"),
    path("prompts/", prompts.save, name="playground-prompt-save"),
    path("<int:pk>/panel/", views.panel, name="playground-panel"),
    path("<int:pk>/diff/", views.diff, name="playground-diff"),
    path("<int:pk>/vote/", views.vote, name="playground-vote"),
    path("<int:pk>/raw/<int:turn>/<int:column>/", views.raw, name="playground-raw"),
]
