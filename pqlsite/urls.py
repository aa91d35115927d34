"""URL routes of pqlsite."""

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "pqlsite"
admin.site.site_title = "pqlsite admin"
admin.site.index_title = "Leads and scoring"

urlpatterns = [
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]
