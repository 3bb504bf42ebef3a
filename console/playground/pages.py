"""The playground's pages (under /playground/): whoever may use the playground."""

from __future__ import annotations

from console.playground import prompts, views
from gateway.web.pages import Nav, Page, register

USE = "playground.use"
PLAYGROUND = Nav("Build", "Playground", ("playground",), order=10)

register(
    Page("playground/", views.playground, "playground", read=USE, nav=PLAYGROUND),
    Page("playground/history/", views.history, "playground-history", read=USE),
    Page("playground/votes/", views.votes, "playground-votes", read=USE),
    Page("playground/prompts/", prompts.save, "playground-prompt-save", read=USE),
    Page("playground/<int:pk>/panel/", views.panel, "playground-panel", read=USE),
    Page("playground/<int:pk>/diff/", views.diff, "playground-diff", read=USE),
    Page("playground/<int:pk>/vote/", views.vote, "playground-vote", read=USE),
    Page("playground/<int:pk>/raw/<int:turn>/<int:column>/", views.raw, "playground-raw", read=USE),
)
