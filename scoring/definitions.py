"""The one place PQL definitions are written: created, updated, activated and
copied, by the admin, the API and the lab alike.

Every saved change follows the same rules: the whole definition is checked
before anything is written, one definition is active at a time, each change
appends a history row (a snapshot), and a change to the live definition (or
one that takes it off) rescores every account after commit.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from .jobs import request_full_rescore
from .models import Criterion, Definition, DefinitionChange, Milestone
from .scorecards import snapshot

THRESHOLDS_WITHOUT_MILESTONES = (
    "Activation thresholds are set but there are no milestones: add milestones "
    "or clear the small / mid-size / large activation thresholds."
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition, and where: its own fields
    (part "definition"), or a criterion or milestone by its index in the rows
    given (index None: the part as a whole). field None: not one field."""

    part: str
    index: int | None
    field: str | None
    messages: list[str]

    @property
    def key(self) -> str:
        """Where, as the API names it: `name`, `criteria[2].value`,
        `criteria[2]`, `milestones` (`__all__`: the definition as a whole)."""
        if self.part == "definition":
            return self.field or NON_FIELD_ERRORS
        where = self.part if self.index is None else f"{self.part}[{self.index}]"
        return f"{where}.{self.field}" if self.field else where


class DefinitionRefused(ValidationError):
    """A definition the rules refuse; nothing was written."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        found: dict[str, list[str]] = {}
        for problem in self.problems:
            found.setdefault(problem.key, []).extend(problem.messages)
        super().__init__(found)


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


class Rows(NamedTuple):
    """What saving one part (criteria or milestones) will do."""

    model: type[Criterion] | type[Milestone]
    kept: list  # every item the definition will have, in order
    new: list
    changed: list
    editable: list[str]


def editable_fields(model) -> list[str]:
    return [
        field.name for field in model._meta.concrete_fields
        if field.editable and field.name not in ("id", "definition")
    ]


def values_of(item, names) -> tuple:
    return tuple(getattr(item, name) for name in names)


def checked_rows(
    definition: Definition, part: str, model, rows: Sequence[Mapping[str, Any]], problems: list[Problem]
) -> Rows:
    """The criteria or milestones the rows describe, each checked as the
    admin checks it. A row with an `id` updates that item of this definition
    (kept as it is when nothing changed, so its id, and every stored
    explanation naming it, stays); a row without one adds an item."""
    names = editable_fields(model)
    existing = {}
    if definition.pk:
        existing = {item.pk: item for item in model.objects.filter(definition=definition)}
    kept, new, changed = [], [], []
    for index, row in enumerate(rows):
        fields = {"position": index, **row}
        item_id = fields.pop("id", None)
        if item_id is not None:
            item = existing.get(item_id)
            if item is None:
                missing = f"No {model._meta.verbose_name} {item_id} in this definition."
                problems.append(Problem(part, index, "id", [missing]))
                continue
            before = values_of(item, names)
        else:
            item, before = model(), None
        unknown = set(fields) - set(names)
        if unknown:
            problems.append(Problem(part, index, None, [f"Unknown fields: {', '.join(sorted(unknown))}."]))
            continue
        for name, value in fields.items():
            setattr(item, name, value)
        try:
            item.full_clean(exclude=["definition"], validate_unique=False)
        except ValidationError as refused:
            problems.extend(
                Problem(part, index, None if name == NON_FIELD_ERRORS else name, list(messages))
                for name, messages in refused.message_dict.items()
            )
            continue
        kept.append(item)
        if before is None:
            new.append(item)
        elif values_of(item, names) != before:
            changed.append(item)
    return Rows(model, kept, new, changed, names)


def check(
    definition: Definition,
    *,
    criteria: Sequence[Mapping[str, Any]] | None = None,
    milestones: Sequence[Mapping[str, Any]] | None = None,
) -> list[Rows]:
    """Check a definition as it would be saved, writing nothing: raises
    DefinitionRefused naming every problem, else returns what saving it
    will write. criteria / milestones None: the ones it has stay."""
    problems: list[Problem] = []
    try:
        # The one-active constraint is kept by before_saving, not refused here.
        definition.full_clean(exclude=["is_active", "updated_by"])
    except ValidationError as refused:
        problems.extend(
            Problem("definition", None, None if name == NON_FIELD_ERRORS else name, list(messages))
            for name, messages in refused.message_dict.items()
        )
    parts = [
        checked_rows(definition, part, model, rows, problems)
        for part, model, rows in (("criteria", Criterion, criteria), ("milestones", Milestone, milestones))
        if rows is not None
    ]
    if milestones is not None:
        has_milestones = bool(milestones)
    else:
        has_milestones = bool(definition.pk) and Milestone.objects.filter(definition=definition).exists()
    if definition.activation_thresholds_set and not has_milestones:
        problems.append(Problem("milestones", None, None, [THRESHOLDS_WITHOUT_MILESTONES]))
    if problems:
        raise DefinitionRefused(problems)
    return parts


@transaction.atomic
def save_definition(
    definition: Definition,
    *,
    changed_by=None,
    criteria: Sequence[Mapping[str, Any]] | None = None,
    milestones: Sequence[Mapping[str, Any]] | None = None,
) -> bool:
    """Create or update a definition with its criteria and milestones, in one
    transaction. criteria / milestones, when given, are the whole list in
    order (see checked_rows: rows with an id update, rows without add, and
    items not named are removed); None leaves them as they are. Raises
    DefinitionRefused, nothing written, when the rules refuse any part.
    Returns whether every account will be rescored."""
    parts = check(definition, criteria=criteria, milestones=milestones)
    was_active = bool(definition.pk) and Definition.objects.filter(pk=definition.pk, is_active=True).exists()
    before_saving(definition, changed_by=changed_by)
    definition.save()
    for rows in parts:
        rows.model.objects.filter(definition=definition).exclude(
            pk__in=[item.pk for item in rows.kept if item.pk]
        ).delete()
        if rows.changed:
            rows.model.objects.bulk_update(rows.changed, rows.editable)
        for item in rows.new:
            item.definition = definition
        rows.model.objects.bulk_create(rows.new)
    return after_saving(definition, changed_by=changed_by, was_active=was_active)


def create_definition(
    *, criteria: Sequence[Mapping[str, Any]] = (), milestones: Sequence[Mapping[str, Any]] = (),
    changed_by=None, **settings
) -> Definition:
    """A new definition with its criteria and milestones (see save_definition)."""
    definition = Definition(**settings)
    save_definition(definition, changed_by=changed_by, criteria=list(criteria), milestones=list(milestones))
    return definition


@transaction.atomic
def activate(definition: Definition, *, changed_by=None) -> None:
    deactivate_others(definition)
    Definition.objects.filter(pk=definition.pk).update(is_active=True, updated_by=changed_by)
    definition.refresh_from_db()
    after_saving(definition, changed_by=changed_by)


ACTIVE_NOT_DELETED = "Activate another definition before deleting the active one."


@transaction.atomic
def delete_definition(definition: Definition) -> None:
    """Delete a definition that is not live, with its criteria, milestones,
    history and lab runs. The live one is refused: every score names it."""
    if Definition.objects.filter(pk=definition.pk, is_active=True).exists():
        raise DefinitionRefused([Problem("definition", None, "is_active", [ACTIVE_NOT_DELETED])])
    definition.delete()


def row_of(item: Criterion | Milestone) -> dict[str, Any]:
    """A criterion or milestone as a row for save_definition, naming it by its
    id when it is saved."""
    row = {name: getattr(item, name) for name in editable_fields(type(item))}
    return {"id": item.pk, **row} if item.pk else row


@transaction.atomic
def duplicate(definition: Definition, *, changed_by=None) -> Definition:
    """A draft copy to edit without touching live scores."""
    name = f"{definition.name} (draft)"
    suffix = 2
    while Definition.objects.filter(name=name).exists():
        name = f"{definition.name} (draft {suffix})"
        suffix += 1
    copy = Definition.objects.get(pk=definition.pk)
    copy.pk, copy.name, copy.is_active = None, name, False
    copy._state.adding = True
    save_definition(
        copy,
        changed_by=changed_by,
        criteria=[{**row_of(item), "id": None} for item in definition.criteria.all()],
        milestones=[{**row_of(item), "id": None} for item in definition.milestones.all()],
    )
    return copy
