"""What the admin imports from CSV (django-import-export): accounts, people
and reps, matched on their external id (else domain, email or username) so
an import never creates a second copy of a row that exists, and outcomes
recorded in the status history. The admin shows a preview with each row's
errors before anything is written; writes happen only once confirmed."""

from django.contrib import messages
from django.contrib.auth import get_permission_codename, get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import fields, resources, widgets  # type: ignore[import-untyped]
from import_export.admin import ImportMixin  # type: ignore[import-untyped]

from scoring.jobs import request_full_rescore

from ...groups import SALES_REPS
from ...models import Account, Person, SalesRep, StatusChange, Tier, country_code
from .outcomes import (
    ALREADY,
    RECORD,
    AccountIndex,
    PastOutcome,
    RowRefused,
    decide,
    last_changes,
    parse_row,
    record_past_outcomes,
)


def blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class KeepWhatIsNotGiven:
    """An empty cell leaves an existing row's value as it is (a CSV from a
    CRM often has only some columns filled), instead of blanking it."""

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        if instance.pk is not None and blank(row.get(field.column_name)):
            return
        super().import_field(field, instance, row, is_m2m, **kwargs)


class AccountResource(KeepWhatIsNotGiven, resources.ModelResource):
    """Accounts by external id, else by domain. A domain shared by several
    accounts, or an external id that contradicts the account its domain
    names, is a row error rather than a guess."""

    class Meta:
        model = Account
        fields = ("external_id", "name", "domain", "industry", "country", "employee_count", "plan",
                  "signed_up_at", "trial_ends_at")
        import_id_fields = ("external_id",)
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True

    def before_import_row(self, row, **kwargs):
        for column in ("external_id", "domain", "country", "plan"):
            if isinstance(row.get(column), str):
                row[column] = row[column].strip()
        if row.get("domain"):
            row["domain"] = row["domain"].lower().removeprefix("www.")
        if row.get("country"):
            row["country"] = row["country"].upper()
        if row.get("plan"):
            row["plan"] = row["plan"].lower()

    def get_instance(self, instance_loader, row):
        external_id, domain = row.get("external_id") or "", row.get("domain") or ""
        if external_id:
            found = Account.objects.filter(external_id=external_id).first()
            if found is not None:
                return found
        if not domain:
            if not external_id:
                raise ValidationError("Give the account's external_id or domain.")
            return None
        matches = list(Account.objects.filter(domain__iexact=domain).order_by("pk")[:2])
        if len(matches) > 1:
            raise ValidationError({"domain": f"Several accounts have the domain {domain}: give the external_id."})
        if not matches:
            return None
        account = matches[0]
        if external_id and account.external_id and account.external_id != external_id:
            raise ValidationError({
                "external_id": f"The account with the domain {domain} has the external id {account.external_id}."
            })
        return account

    def after_init_instance(self, instance, new, row, **kwargs):
        if new and blank(row.get("name")):
            # A name is required; a CRM export may only have the domain.
            row["name"] = row.get("domain") or row.get("external_id") or ""

    def before_save_instance(self, instance, row, **kwargs):
        if instance.external_id == "":
            instance.external_id = None  # unique: "" for two accounts would collide

    def after_import(self, dataset, result, **kwargs):
        """Fit data changed: one full rescore once the import commits."""
        if not kwargs.get("dry_run") and not result.has_errors() and not result.has_validation_errors():
            request_full_rescore("accounts imported")


class AccountWidget(widgets.ForeignKeyWidget):
    """An account named by its external id, else its domain."""

    def __init__(self):
        super().__init__(Account, field="external_id")

    def clean(self, value, row=None, **kwargs):
        if blank(value):
            return None
        value = str(value).strip()
        found = Account.objects.filter(external_id=value).first()
        if found is not None:
            return found
        matches = list(Account.objects.filter(domain__iexact=value).order_by("pk")[:2])
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ValueError(f"Several accounts have the domain {value}: give the external id.")
        raise ValueError(f"No account has the external id or domain {value}.")


class PersonResource(KeepWhatIsNotGiven, resources.ModelResource):
    """People by user id (external id), else by email; `account` is the
    account's external id or domain."""

    account = fields.Field(attribute="account", column_name="account", widget=AccountWidget())

    class Meta:
        model = Person
        fields = ("external_id", "email", "name", "title", "account")
        import_id_fields = ("external_id",)
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True

    def get_instance(self, instance_loader, row):
        external_id = (row.get("external_id") or "").strip()
        email = (row.get("email") or "").strip()
        if external_id:
            found = Person.objects.filter(external_id=external_id).first()
            if found is not None:
                return found
        if email:
            matches = list(Person.objects.filter(email__iexact=email).order_by("pk")[:2])
            if len(matches) > 1:
                raise ValidationError({"email": f"Several people have the email {email}: give the external_id."})
            if matches and not (external_id and matches[0].external_id):
                return matches[0]
        return None

    def before_save_instance(self, instance, row, **kwargs):
        if instance.external_id == "":
            instance.external_id = None

    def after_import(self, dataset, result, **kwargs):
        """Titles and accounts changed: one full rescore once the import commits."""
        if not kwargs.get("dry_run") and not result.has_errors() and not result.has_validation_errors():
            request_full_rescore("people imported")


class ListWidget(widgets.Widget):
    """A list cell: values separated by commas or semicolons."""

    def __init__(self, *, check=None):
        super().__init__()
        self.check = check

    def clean(self, value, row=None, **kwargs):
        if blank(value):
            return []
        values = [part.strip() for part in str(value).replace(";", ",").split(",") if part.strip()]
        return [self.check(part) for part in values] if self.check else values

    def render(self, value, obj=None, **kwargs):
        return ", ".join(value or [])


def country(value: str) -> str:
    value = value.upper()
    try:
        country_code(value)
    except ValidationError:
        raise ValueError(f"{value} is not a two-letter country code, e.g. US.") from None
    return value


def tier(value: str) -> str:
    value = value.lower()
    if value not in Tier.values:
        raise ValueError(f"{value} is not a tier: small, mid or large.")
    return value


class SalesRepResource(resources.ModelResource):
    """Reps by username, else by email; a new one gets a user without a
    password (they set one through the password reset) in the reps' group."""

    username = fields.Field(attribute="user__username", column_name="username", readonly=True)
    email = fields.Field(attribute="user__email", column_name="email", readonly=True)
    first_name = fields.Field(attribute="user__first_name", column_name="first_name", readonly=True)
    last_name = fields.Field(attribute="user__last_name", column_name="last_name", readonly=True)
    countries = fields.Field(attribute="countries", column_name="countries", widget=ListWidget(check=country))
    tiers = fields.Field(attribute="tiers", column_name="tiers", widget=ListWidget(check=tier))
    industries = fields.Field(attribute="industries", column_name="industries", widget=ListWidget())

    class Meta:
        model = SalesRep
        fields = ("username", "email", "first_name", "last_name", "is_active", "capacity",
                  "countries", "tiers", "industries")
        import_id_fields = ()
        clean_model_instances = True

    def get_instance(self, instance_loader, row):
        username = (row.get("username") or "").strip()
        email = (row.get("email") or "").strip()
        if not username and not email:
            raise ValidationError({"username": "Give the rep's username or email."})
        reps = SalesRep.objects.select_related("user")
        if username:
            found = reps.filter(user__username=username).first()
            if found is not None:
                return found
        if email:
            matches = list(reps.filter(user__email__iexact=email).order_by("pk")[:2])
            if len(matches) > 1:
                raise ValidationError({"email": f"Several reps have the email {email}: give the username."})
            if matches:
                return matches[0]
        return None

    def init_instance(self, row=None):
        row = row or {}
        username = (row.get("username") or "").strip() or (row.get("email") or "").strip()
        User = get_user_model()
        user = User.objects.filter(username=username).first() or User(username=username)
        for column in ("email", "first_name", "last_name"):
            if not blank(row.get(column)):
                setattr(user, column, row[column].strip())
        return SalesRep(user=user)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        """The rep and its user, which a new rep saves first."""
        errors = dict(import_validation_errors or {})
        try:
            instance.user.full_clean(exclude=["password"], validate_unique=instance.user.pk is None)
        except ValidationError as error:
            errors.update({f"user {name}": problems for name, problems in error.message_dict.items()})
        try:
            instance.full_clean(exclude=["user", *errors], validate_unique=False)
        except ValidationError as error:
            errors.update(error.message_dict)
        if errors:
            raise ValidationError(errors)

    def do_instance_save(self, instance, is_create):
        user = instance.user
        if user.pk is None:
            user.set_unusable_password()
            user.save()
            user.groups.add(Group.objects.get_or_create(name=SALES_REPS)[0])
        instance.user = user
        instance.save()


class OutcomeResource(resources.ModelResource):
    """Outcomes (external_id or domain, outcome, date, reason): each row is
    checked in the preview; the whole file is recorded at the end through
    record_past_outcomes, so a later status recorded by pqlsite is never
    overwritten and a row seen before is not recorded twice."""

    external_id = fields.Field(column_name="external_id", readonly=True)
    domain = fields.Field(column_name="domain", readonly=True)
    outcome = fields.Field(attribute="to_status", column_name="outcome", readonly=True)
    date = fields.Field(attribute="changed_at", column_name="date", readonly=True)
    reason = fields.Field(attribute="reason", column_name="reason", readonly=True)

    class Meta:
        model = StatusChange
        fields = ("external_id", "domain", "outcome", "date", "reason")
        import_id_fields = ()
        clean_model_instances = False
        skip_diff = True

    def before_import(self, dataset, **kwargs):
        """The accounts the file names and their latest status changes, read once."""
        self.started = timezone.now()
        self.outcomes: list[PastOutcome] = []
        self.accounts = AccountIndex(
            {"external_id": str(row.get("external_id") or "").strip(), "domain": str(row.get("domain") or "").strip()}
            for row in dataset.dict
        )
        ids = {*self.accounts.by_external_id.values(), *(pk for pks in self.accounts.by_domain.values() for pk in pks)}
        self.last = last_changes(ids)
        self.statuses = dict(Account.objects.filter(pk__in=sorted(ids)).values_list("pk", "status"))

    def get_instance(self, instance_loader, row):
        return None

    def import_instance(self, instance, row, **kwargs):
        cells = {name: str(row.get(name) or "").strip() for name in ("external_id", "domain", "outcome", "date", "reason")}
        try:
            outcome = parse_row(kwargs.get("row_number", 0) + 1, cells, accounts=self.accounts,
                                now=self.started)
        except RowRefused as refused:
            raise ValidationError({refused.field: refused.message}) from None
        verdict = decide(outcome, last=self.last.get(outcome.account_id), status=self.statuses[outcome.account_id])
        if verdict not in (RECORD, ALREADY):
            raise ValidationError({"date": verdict})
        instance.account_id = outcome.account_id
        instance.to_status = outcome.outcome
        instance.changed_at = outcome.decided_at
        instance.reason = outcome.reason
        self.outcomes.append(outcome)

    def save_instance(self, instance, is_create, row, **kwargs):
        """Nothing per row: after_import records the file's outcomes at once."""

    def after_import(self, dataset, result, **kwargs):
        """Runs in the preview too, inside the transaction that is rolled back."""
        result.outcomes_recorded = record_past_outcomes(self.outcomes)



class HistoryImportMixin(ImportMixin):
    """The admin's CSV import (upload, preview with each row's errors,
    confirm), for managers: those who may add and change the model's rows,
    or, for outcomes, change accounts."""

    def has_import_permission(self, request):
        model = Account if self.model is StatusChange else self.model
        opts = model._meta
        return all(
            request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
            for action in (("change",) if self.model is StatusChange else ("add", "change"))
        )

    def process_result(self, result, request):
        response = super().process_result(result, request)
        recorded = getattr(result, "outcomes_recorded", None)
        if recorded is not None:
            messages.info(
                request,
                f"{recorded.recorded} outcomes recorded, {recorded.already} already recorded, "
                f"{len(recorded.kept)} not recorded because a later status stands.",
            )
        return response
