"""The admin as sales ops use it: what they work on first (definitions,
accounts, reps and routing), the technical apps (jobs, tokens, users) last."""

from django.contrib import admin

# (app label, model names in order); apps and models not named come after, by name.
ORDER = [
    ("scoring", ["definition", "accountscore", "labrun", "definitionchange"]),
    ("leads", ["account", "salesrep", "team", "routingrule", "person", "event", "note", "statuschange"]),
]
LAST = ["auth", "authtoken", "django_rq", "axes"]


class SalesOpsAdminSite(admin.AdminSite):
    site_header = "pqlsite"
    site_title = "pqlsite admin"
    index_title = "PQL definitions, accounts, reps and routing"

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
