"""URL routes of pqlsite."""

from django.contrib import admin
from django.urls import path

admin.site.site_header = "pqlsite"
admin.site.site_title = "pqlsite admin"
admin.site.index_title = "Leads and scoring"

urlpatterns = [
    path("admin/", admin.site.urls),
]
