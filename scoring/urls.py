"""Routes of the managers' metrics and criteria lab pages."""

urlpatterns = []
