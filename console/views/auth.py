"""Sign in and sign out (Django's auth views with the console's templates)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

login_view = auth_views.LoginView.as_view(
    template_name="console/login.html", redirect_authenticated_user=True
)
logout_view = auth_views.LogoutView.as_view()
