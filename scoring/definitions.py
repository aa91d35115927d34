"""Services for PQL definitions: activate, duplicate, and record each change.

A change to the active definition rescores every account after commit.
"""

from collections.abc import Sequence

from django.db import transaction

from .jobs import request_full_rescore
from .models import Criterion, Definition, DefinitionChange, Milestone
from .scorecards import snapshot


def deactivate_others(definition: Definition) -> None:
    """Only one definition is active; clear the flag elsewhere before setting it."""
    Definition.objects.active().exclude(pk=definition.pk).update(is_active=False)


def record_change(definition: Definition, *, changed_by=None) -> DefinitionChange:
    return DefinitionChange.objects.create(
        definition=definition, changed_by=changed_by, snapshot=snapshot(definition)
    )


def rescore_after_change(definition: Definition) -> None:
    request_full_rescore(f"definition “{definition.name}” changed")


@transaction.atomic
def activate(definition: Definition, *, by=None) -> None:
    deactivate_others(definition)
    Definition.objects.filter(pk=definition.pk).update(is_active=True, updated_by=by)
    definition.refresh_from_db()
    record_change(definition, changed_by=by)
    rescore_after_change(definition)


@transaction.atomic
def duplicate(definition: Definition, *, by=None) -> Definition:
    """A draft copy to edit without touching live scores."""
    criteria = list(definition.criteria.all())
    milestones = list(definition.milestones.all())
    name = f"{definition.name} (draft)"
    suffix = 2
    while Definition.objects.filter(name=name).exists():
        name = f"{definition.name} (draft {suffix})"
        suffix += 1
    copy = Definition.objects.get(pk=definition.pk)
    copy.pk, copy.name, copy.is_active, copy.updated_by = None, name, False, by
    copy.save()
    for item in criteria + milestones:
        item.pk, item.definition = None, copy
        item.save()
    record_change(copy, changed_by=by)
    return copy


@transaction.atomic
def create_definition(
    *, criteria: Sequence[dict] = (), milestones: Sequence[dict] = (), changed_by=None, **settings
) -> Definition:
    """A definition with its criteria and milestones, each validated as the
    admin validates it (ValidationError names the problem; nothing is saved)."""
    definition = Definition(updated_by=changed_by, **settings)
    definition.full_clean()
    if definition.is_active:
        deactivate_others(definition)
    definition.save()
    for model, rows in ((Criterion, criteria), (Milestone, milestones)):
        for position, fields in enumerate(rows):
            item = model(definition=definition, position=position, **fields)
            item.full_clean(exclude=["definition"])
            item.save()
    record_change(definition, changed_by=changed_by)
    return definition
