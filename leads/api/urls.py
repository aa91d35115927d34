"""Routes of the REST API."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from scoring.api import DefinitionViewSet, MetricsView

from . import views

app_name = "api"

router = DefaultRouter()
router.register("accounts", views.AccountViewSet, basename="account")
router.register("people", views.PersonViewSet, basename="person")
router.register("events", views.EventViewSet, basename="event")
router.register("status-changes", views.StatusChangeViewSet, basename="statuschange")
router.register("definitions", DefinitionViewSet, basename="definition")

urlpatterns = [
    path("", include(router.urls)),
    path("queue/", views.QueueView.as_view(), name="queue"),
    path("metrics/", MetricsView.as_view(), name="metrics"),
    path("token/", views.TokenView.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # An HTML page only: no OPTIONS metadata, which its template renderer cannot show.
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", metadata_class=None),
        name="docs",
    ),
]
