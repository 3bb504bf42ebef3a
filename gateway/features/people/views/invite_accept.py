"""The invitation link: ``/invite/<token>/`` is public (the token is the credential), shows
who the invite is for, their role and teams, and takes a password (Django's password
validators); accepting creates the account and signs it in. An unknown, used, revoked
or expired link is one plain page, 404, and nothing is created
(``gateway.features.people.invites``). A link whose inviter may no longer grant it (removed,
deactivated, demoted) is the same page with the reason, 410, and nothing is created."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.views.decorators.cache import never_cache

from gateway.features.people import invites
from gateway.web.saving import show_errors

BACKEND = "gateway.access.login_throttle.ThrottledModelBackend"
TEMPLATE = "people/invite_accept.html"


class AcceptForm(forms.Form):
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), strip=False
    )
    password_again = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
        label="Password, again",
    )

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean()
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data


def _gone(request: HttpRequest, why: str = "") -> HttpResponse:
    return render(request, TEMPLATE, {"gone": True, "why": why}, status=410 if why else 404)


@never_cache
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    invite = invites.usable(token)
    if invite is None:
        return _gone(request)
    refused = invites.inviter_refusal(invite)
    if refused:
        return _gone(request, refused)
    form = AcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invites.accept(token, form.cleaned_data["password"])
        except invites.InviterLostRight as exc:
            return _gone(request, str(exc))
        except invites.InviteUnusable:
            return _gone(request)
        except ValidationError as exc:
            show_errors(form, exc)
        else:
            login(request, user, backend=BACKEND)
            return HttpResponseRedirect(resolve_url("console:dashboard"))
    context = {"invite": invite, "teams": list(invite.teams.all()), "form": form}
    return render(request, TEMPLATE, context, status=422 if form.errors else 200)
