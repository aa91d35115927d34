"""The admin site: for sales managers and superusers only.

Staff status alone is not enough: a rep made staff by mistake would see every
account through the model permissions their group holds. The admin is kept
to the role that may see the whole book, whatever flags a user carries.
"""

from django.contrib import admin

from .access import roles_for

# (app label, model names in order); apps and models not named come after, by name.
ORDER = [
    ("scoring", ["definition", "accountscore", "labrun", "definitionchange"]),
    ("leads", ["account", "salesrep", "team", "routingrule", "person", "event", "note", "statuschange"]),
]
LAST = ["auth", "authtoken", "django_rq", "axes"]


class SalesAdminSite(admin.AdminSite):
    """Also ordered as sales ops use it: definitions, accounts, reps and
    routing first; the technical apps (jobs, tokens, users) last."""

    site_header = "pqlsite"
    site_title = "pqlsite admin"
    index_title = "PQL definitions, accounts, reps and routing"

    def has_permission(self, request):
        return super().has_permission(request) and roles_for(request).is_manager

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        first = [label for label, _models in ORDER]
        models = dict(ORDER)

        def app_rank(app):
            label = app["app_label"]
            if label in first:
                return (0, first.index(label), "")
            if label in LAST:
                return (2, LAST.index(label), "")
            return (1, 0, app["name"])

        for app in apps:
            wanted = models.get(app["app_label"], [])
            app["models"].sort(
                key=lambda model: (
                    wanted.index(model["object_name"].lower())
                    if model["object_name"].lower() in wanted
                    else len(wanted),
                    model["name"],
                )
            )
        return sorted(apps, key=app_rank)
