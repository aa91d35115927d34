"""Routes of the managers' metrics and criteria lab pages, and the health check."""

from django.urls import path

from . import views

urlpatterns = [
    path("health/", views.health, name="health"),
    path("metrics/", views.metrics, name="metrics"),
    path("metrics.json", views.metrics_json, name="metrics-json"),
    path("metrics/<slug:table>.csv", views.metrics_csv, name="metrics-csv"),
    path("lab/", views.lab, name="lab"),
    path("lab/new-draft/", views.lab_new_draft, name="lab-new-draft"),
    path("lab/<int:pk>/", views.lab_definition, name="lab-definition"),
    path("lab/<int:pk>/run/", views.lab_run, name="lab-run"),
    path("lab/<int:pk>/<slug:table>.csv", views.lab_csv, name="lab-csv"),
]
