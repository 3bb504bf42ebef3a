"""Sign in and sign out (Django's auth views with the console's templates). Sign-in is
throttled per account and per client address (``gateway.login_throttle``): a refused
attempt says how long to wait and answers 429 with ``Retry-After``."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

from gateway.login_throttle import ThrottledAuthenticationForm, throttled_sign_in

login_view = throttled_sign_in(
    auth_views.LoginView.as_view(
        template_name="console/login.html",
        redirect_authenticated_user=True,
        authentication_form=ThrottledAuthenticationForm,
    )
)
logout_view = auth_views.LogoutView.as_view()
