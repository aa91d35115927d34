"""Test data with factory-boy: one factory per model the suite builds often.

Each gives a valid row with unique names; tests override only what they test.
"""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from leads.groups import SALES_MANAGERS, SALES_REPS
from leads.models import Account, Event, Person, SalesRep
from scoring.models import Criterion, Definition


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = "pw-user-123"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # create_user hashes the password given as plain text, as sign-in checks it.
        return model_class._default_manager.create_user(*args, **kwargs)

    # `groups=[SALES_MANAGERS]` puts the user in those groups.
    groups = factory.PostGeneration(lambda user, create, names, **kwargs: join(user, create, names))


def join(user, create, names) -> None:
    if create and names:
        # get_or_create: a transactional test before this one may have flushed the migrated groups.
        user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in names))


class ManagerFactory(UserFactory):
    """A sales manager (staff, in the Sales managers group)."""

    is_staff = True
    groups = factory.PostGeneration(
        lambda user, create, names, **kwargs: join(user, create, names or (SALES_MANAGERS,))
    )


class RepFactory(factory.django.DjangoModelFactory):
    """A sales rep (its user in the Sales reps group)."""

    class Meta:
        model = SalesRep

    user = factory.SubFactory(UserFactory, groups=(SALES_REPS,))
    capacity = 40


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    domain = factory.Sequence(lambda n: f"account{n}.example.com")
    industry = "software"
    country = "US"
    employee_count = 20
    external_id = factory.Sequence(lambda n: f"acct_{n}")


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person

    account = factory.SubFactory(AccountFactory)
    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Sequence(lambda n: f"Person {n}")


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    account = factory.SubFactory(AccountFactory)
    name = "login"
    occurred_at = factory.LazyFunction(timezone.now)
    properties = factory.Dict({})


class DefinitionFactory(factory.django.DjangoModelFactory):
    """A definition with no criteria; add them with CriterionFactory."""

    class Meta:
        model = Definition

    name = factory.Sequence(lambda n: f"Definition {n}")
    is_active = True
    score_threshold = 100


class CriterionFactory(factory.django.DjangoModelFactory):
    """An event-count trigger: ten logins qualify at once unless overridden."""

    class Meta:
        model = Criterion

    definition = factory.SubFactory(DefinitionFactory)
    label = factory.Sequence(lambda n: f"Criterion {n}")
    role = "trigger"
    event_name = "login"
    value = "10"
