"""The one place PQL definitions are written: created, updated, activated and
copied, by the admin, the API and the lab alike.

Every saved change follows the same rules: one definition is active at a
time, each change appends a history row (a snapshot), and a change to the
live definition (or one that takes it off) rescores every account after commit.
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


def before_saving(definition: Definition, *, changed_by=None) -> None:
    """Ready a definition for its save: who changed it, and no other active one."""
    definition.updated_by = changed_by
    if definition.is_active:
        deactivate_others(definition)


def after_saving(definition: Definition, *, changed_by=None, was_active: bool = False) -> bool:
    """What follows every saved change, its criteria and milestones saved too:
    the history row, and a full rescore when the live definition changed or
    stopped being live. Returns whether every account will be rescored."""
    record_change(definition, changed_by=changed_by)
    if definition.is_active or was_active:
        rescore_after_change(definition)
        return True
    return False


@transaction.atomic
def save_definition(
    definition: Definition,
    *,
    changed_by=None,
    criteria: Sequence[dict] | None = None,
    milestones: Sequence[dict] | None = None,
) -> Definition:
    """Create or update a definition; criteria and milestones, when given,
    replace the ones it had (in the order given). Each part is validated as
    the admin validates it: a ValidationError names the problem and nothing
    is saved. (The admin saves its inlines itself, between before_saving and
    after_saving.)"""
    was_active = bool(definition.pk) and Definition.objects.filter(pk=definition.pk, is_active=True).exists()
    # The one-active constraint is kept by before_saving, not refused here.
    definition.full_clean(exclude=["is_active"])
    before_saving(definition, changed_by=changed_by)
    definition.save()
    for model, rows in ((Criterion, criteria), (Milestone, milestones)):
        if rows is None:
            continue
        model.objects.filter(definition=definition).delete()
        for position, fields in enumerate(rows):
            item = model(definition=definition, **{"position": position, **fields})
            item.full_clean(exclude=["definition"])
            item.save()
    after_saving(definition, changed_by=changed_by, was_active=was_active)
    return definition


def create_definition(
    *, criteria: Sequence[dict] = (), milestones: Sequence[dict] = (), changed_by=None, **settings
) -> Definition:
    """A new definition with its criteria and milestones (see save_definition)."""
    return save_definition(
        Definition(**settings), changed_by=changed_by, criteria=list(criteria), milestones=list(milestones)
    )


@transaction.atomic
def activate(definition: Definition, *, changed_by=None) -> None:
    deactivate_others(definition)
    Definition.objects.filter(pk=definition.pk).update(is_active=True, updated_by=changed_by)
    definition.refresh_from_db()
    after_saving(definition, changed_by=changed_by)


@transaction.atomic
def duplicate(definition: Definition, *, changed_by=None) -> Definition:
    """A draft copy to edit without touching live scores."""
    criteria = list(definition.criteria.all())
    milestones = list(definition.milestones.all())
    name = f"{definition.name} (draft)"
    suffix = 2
    while Definition.objects.filter(name=name).exists():
        name = f"{definition.name} (draft {suffix})"
        suffix += 1
    copy = Definition.objects.get(pk=definition.pk)
    copy.pk, copy.name, copy.is_active = None, name, False
    before_saving(copy, changed_by=changed_by)
    copy.save()
    for item in criteria + milestones:
        item.pk, item.definition = None, copy
        item.save()
    after_saving(copy, changed_by=changed_by)
    return copy
