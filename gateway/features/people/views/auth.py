"""Sign in and sign out (Django's auth views with the console's templates). Sign-in is
throttled per account and per client address (``gateway.access.login_throttle``): a refused
attempt says how long to wait and answers 429 with ``Retry-After``. With single sign-on
configured the page offers it first (``gateway.features.people.views.sso``); with
``SWITCHYARD_SSO_ONLY`` passwords are for the break-glass accounts only."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError

from gateway.access import sso
from gateway.access.login_throttle import ThrottledAuthenticationForm, throttled_sign_in

SSO_ONLY_MESSAGE = "Password sign-in is off on this gateway: sign in with single sign-on."


class SignInForm(ThrottledAuthenticationForm):
    def clean(self) -> dict[str, Any]:
        if not sso.password_sign_in_allowed(self.data.get("username")):
            raise ValidationError(SSO_ONLY_MESSAGE, code="sso_only")
        cleaned: dict[str, Any] = super().clean()
        return cleaned


class SignInView(auth_views.LoginView):
    template_name = "people/login.html"
    redirect_authenticated_user = True
    authentication_form = SignInForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        context["sso"], context["sso_error"] = sso.config_or_error()
        context["sso_only"] = sso.sso_only()
        return context


login_view = throttled_sign_in(SignInView.as_view())
logout_view = auth_views.LogoutView.as_view()
