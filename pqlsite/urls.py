"""URL routes of pqlsite."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from leads import views

urlpatterns = [
    path("", views.home, name="home"),
    path("queue/", views.queue, name="queue"),
    path("accounts/<int:pk>/", views.account_detail, name="account"),
    path("accounts/<int:pk>/outcome/", views.account_outcome, name="account-outcome"),
    path("accounts/<int:pk>/notes/", views.account_note, name="account-note"),
    path("settings/", views.rep_settings, name="settings"),
    path("team/", views.team, name="team"),
    path("team/assign/<int:pk>/", views.team_assign, name="team-assign"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("scoring.urls")),
    path("api/", include("leads.api.urls")),
    path("v1/", include("leads.ingest.urls")),
    path("admin/", admin.site.urls),
]
