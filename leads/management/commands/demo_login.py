"""Create or reset the demo logins and print them (local demo only)."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from leads.groups import SALES_MANAGERS
from leads.models import SalesRep


class Command(BaseCommand):
    help = "Create or reset the demo logins (admin, a manager, the busiest rep) and print them."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="Use this password instead of a random one.")
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (resets passwords)."
        )

    def handle(self, *args, password=None, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("demo_login resets passwords; it runs with DEBUG on or --force.")
        password = password or secrets.token_urlsafe(9)
        User = get_user_model()

        admin, _ = User.objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
        admin.is_staff = admin.is_superuser = True
        admin.set_password(password)
        admin.save()

        manager, _ = User.objects.get_or_create(
            username="manager",
            defaults={"first_name": "Morgan", "last_name": "Lee", "email": "manager@example.com"},
        )
        manager.is_staff = True
        manager.set_password(password)
        manager.save()
        manager.groups.add(Group.objects.get(name=SALES_MANAGERS))

        logins = [f"admin / {password} (superuser, /admin/)", f"manager / {password} (sales manager, /team/)"]
        rep = busiest_rep()
        if rep is not None:
            rep.user.set_password(password)
            rep.user.save()
            logins.append(f"{rep.user.username} / {password} (sales rep, /queue/)")
        self.stdout.write("Demo logins at http://127.0.0.1:8000/ : " + "; ".join(logins))


def busiest_rep():
    """The active rep with the most open leads: the fullest queue to look at."""
    return (
        SalesRep.objects.filter(is_active=True)
        .select_related("user")
        .with_open_leads()
        .order_by("-open_lead_count", "pk")
        .first()
    )
