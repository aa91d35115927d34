"""Where sales managers define what makes a PQL, and see every account's result."""

import json
from collections.abc import Sequence

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from leads.selectors import event_names_seen, property_keys_seen
from pqlsite.admin import EstimatedCountPaginator, ReadOnlyAdmin

from . import definitions
from .admin_widgets import (
    QuickCheckboxInput,
    QuickHiddenInput,
    QuickMediaFormSet,
    QuickNumberInput,
    QuickSelect,
    quick_widgets,
)
from .definitions import Problem
from .engine import Scorecard
from .lab.preview import preview
from .models import (
    AccountScore,
    Criterion,
    Definition,
    DefinitionChange,
    LabRun,
    Milestone,
    PendingRescore,
    ScoringRun,
)
from .scorecards import scorecard_for, scorecard_of
from .selectors import explained_score
from .sentences import most_points, sentence, warnings
from .terms import COUNT_OPERATORS, Kind, Operator, WindowUnit


class WindowUnitOptional:
    """A window's unit may be left out (older forms, scripts): days."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["window_unit"].required = False

    def clean_window_unit(self):
        return self.cleaned_data.get("window_unit") or WindowUnit.DAYS


class CriterionForm(WindowUnitOptional, forms.ModelForm):
    """A criterion with its count asked for apart from an attribute's value,
    so that each kind shows only the fields it needs (builder.js)."""

    count_operator = forms.ChoiceField(
        label="count is",
        choices=[(op.value, op.label) for op in Operator if op in COUNT_OPERATORS],
        initial=Operator.GTE,
        required=False,
        widget=QuickSelect,
    )
    count = forms.IntegerField(label="times", min_value=0, required=False, widget=QuickNumberInput)

    class Meta:
        model = Criterion
        fields = [
            "label", "position", "role", "points", "hand_raise", "gates_apply", "kind", "family",
            "subject", "field", "operator", "value", "event_name", "property_key",
            "property_value", "window", "window_days", "window_unit",
        ]
        widgets = quick_widgets(
            Criterion,
            ["id", *fields],
            event_name={"list": "seen-events", "autocomplete": "off"},
            property_key={"list": "seen-property-keys", "autocomplete": "off"},
            label={"size": 50},
            value={"size": 40},
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.pk and instance.kind != Kind.ATTRIBUTE:
            self.initial.setdefault("count_operator", instance.operator)
            self.initial.setdefault("count", int(instance.value) if instance.value.isdigit() else None)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind", Kind.EVENT_COUNT) == Kind.ATTRIBUTE:
            return cleaned
        if self.add_prefix("count") in self.data:
            if cleaned.get("count") is None and "count" not in self.errors:
                self.add_error("count", "Give the count to compare with, a whole number of 0 or more.")
            else:
                cleaned["value"] = str(cleaned.get("count"))
                cleaned["operator"] = cleaned.get("count_operator") or Operator.GTE
        return cleaned


def kept_forms(formset) -> list:
    """The inline's forms the definition keeps, in order: saved or filled in,
    and not marked for deletion."""
    return [
        form
        for form in formset.forms
        if form.instance.pk or form.has_changed()
        if not (formset.can_delete and form.cleaned_data.get("DELETE"))
    ]


def place_errors(form, problems: Sequence[Problem]) -> None:
    for problem in problems:
        form.add_error(problem.field if problem.field in form.fields else None, problem.messages)


class DefinitionForm(forms.ModelForm):
    """A definition's own fields. When saving was refused (problems), each
    problem shows on the field it names, and the form does not validate."""

    problems: Sequence[Problem] = ()

    def clean(self):
        cleaned = super().clean()
        mine = [problem for problem in self.problems if problem.part == "definition"]
        place_errors(self, mine)
        if self.problems and not mine:
            self.add_error(None, "Nothing was saved: correct the problems below.")
        return cleaned


class DefinitionPartFormSet(BaseInlineFormSet):
    """Criteria or milestones, saved with their definition by
    scoring.definitions. When it refused them, each problem shows on the form
    it names (by its place among the kept forms), or above the inline."""

    deletion_widget = QuickCheckboxInput

    def __init__(self, *args, problems: Sequence[Problem] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.problems = problems

    def add_fields(self, form, index):
        super().add_fields(form, index)
        form.fields[self.fk.name].widget = QuickHiddenInput()

    def clean(self):
        super().clean()
        kept = kept_forms(self)
        whole = []
        for problem in self.problems:
            if problem.index is None or problem.index >= len(kept):
                whole.extend(problem.messages)
            else:
                place_errors(kept[problem.index], [problem])
        if whole:
            raise ValidationError(whole)


class CriterionInline(admin.StackedInline):
    model = Criterion
    form = CriterionForm
    formset = DefinitionPartFormSet
    template = "admin/scoring/definition/criterion_inline.html"
    extra = 0
    classes = ["criteria-builder"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("label", "position"),
                    ("role", "points", "hand_raise", "gates_apply"),
                    ("kind", "family"),
                ]
            },
        ),
        (
            "Attribute test",
            {"fields": [("subject", "field"), ("operator", "value")], "classes": ["kind-attribute"]},
        ),
        (
            "Event count",
            {
                "fields": [
                    ("event_name", "count_operator", "count"),
                    ("property_key", "property_value"),
                    ("window", "window_days", "window_unit"),
                ],
                "classes": ["kind-events"],
            },
        ),
    ]


MILESTONE_FIELDS = [
    "position", "label", "event_name", "property_key", "property_value", "window", "window_days",
    "window_unit", "min_count",
]


class MilestoneForm(WindowUnitOptional, forms.ModelForm):
    class Meta:
        model = Milestone
        fields = MILESTONE_FIELDS
        widgets = quick_widgets(
            Milestone,
            ["id", *MILESTONE_FIELDS],
            event_name={"list": "seen-events", "autocomplete": "off", "size": 18},
            property_key={"list": "seen-property-keys", "autocomplete": "off", "size": 10},
            property_value={"size": 10},
            label={"size": 24},
            position={"style": "width: 4em"},
            window_days={"style": "width: 5em"},
            min_count={"style": "width: 5em"},
        )


class MilestoneInline(admin.TabularInline):
    model = Milestone
    form = MilestoneForm
    formset = DefinitionPartFormSet
    template = "admin/scoring/definition/milestone_inline.html"
    extra = 0
    classes = ["milestones-builder"]
    fields = tuple(MILESTONE_FIELDS)


def unsaved_scorecard(form, formsets) -> Scorecard:
    """The scorecard of a definition as its valid forms say, saved or not:
    what the preview evaluates."""
    definition = form.instance
    kept = {formset.model: [sub.instance for sub in kept_forms(formset)] for formset in formsets}
    criteria = sorted(kept.get(Criterion, []), key=lambda c: c.position)
    milestones = sorted(kept.get(Milestone, []), key=lambda m: m.position)
    for index, item in enumerate(criteria + milestones):
        item.pk = item.pk or -(index + 1)
    return scorecard_of(definition, criteria=criteria, milestones=milestones)


# The parts of a definition as scoring.definitions names them.
PARTS = {Criterion: "criteria", Milestone: "milestones"}
# Where a refused save leaves its problems for the form shown again.
REFUSED = "definition_refused"


def rows_of(formsets) -> dict[str, list[dict]]:
    """Each inline's kept forms as rows for definitions.save_definition."""
    return {
        PARTS[formset.model]: [definitions.row_of(sub.instance) for sub in kept_forms(formset)]
        for formset in formsets
    }


@admin.register(Definition)
class DefinitionAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "score_threshold", "criteria_count", "updated_at", "updated_by"]
    list_select_related = ["updated_by"]
    search_fields = ["name"]
    readonly_fields = ["updated_at", "updated_by"]
    form = DefinitionForm
    change_form_template = "admin/scoring/definition/change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": ["name", "description", "is_active", "score_threshold"],
                "description": "Gates must all hold. Then the account qualifies when its score reaches the "
                "threshold (when it has scoring criteria) or its activation reaches its tier's "
                "threshold (when it has milestones); a definition of gates alone qualifies as soon "
                "as they hold. A trigger qualifies at once on its own.",
            },
        ),
        (
            "Opportunity tiers and activation",
            {
                "fields": [
                    ("mid_tier_min_employees", "large_tier_min_employees"),
                    ("small_activation", "mid_activation", "large_activation"),
                ],
                "description": "Small below the mid-size bound. An account whose gates hold "
                "qualifies when its activation (share of milestones reached) reaches its "
                "tier's threshold.",
            },
        ),
    ]
    inlines = [CriterionInline, MilestoneInline]
    actions = ["activate", "duplicate_as_draft"]

    class Media:
        js = ["scoring/builder.js"]
        css = {"all": ["scoring/builder.css"]}

    def get_fieldsets(self, request, obj=None):
        # Who changed it last comes after the criteria (change_form.html), not before.
        return self.fieldsets

    def get_actions(self, request):
        # One at a time, from its page: the live definition cannot be deleted.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj and obj.is_active)

    def get_deleted_objects(self, objs, request):
        # A definition's history and lab runs go with it; they need no rights of their own.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        own = {DefinitionChange._meta.verbose_name, LabRun._meta.verbose_name}
        return deleted, counts, perms_needed - own, protected

    def delete_model(self, request, obj):
        definitions.delete_definition(obj)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("updated_by").annotate_criteria_count()

    def get_inline_formsets(self, request, formsets, inline_instances, obj=None):
        found = super().get_inline_formsets(request, formsets, inline_instances, obj)
        for inline in found:
            inline.__class__ = QuickMediaFormSet
        return found

    def get_urls(self):
        return [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name="scoring_definition_preview",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="criteria", ordering="criteria_count")
    def criteria_count(self, definition):
        return definition.criteria_count

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        seen = event_names_seen()
        context["seen_events"] = list(seen.items())[:200]
        context["seen_property_keys"] = property_keys_seen()[:200]
        context["preview_url"] = reverse("admin:scoring_definition_preview")
        if obj is not None and obj.pk:
            if request.method == "POST":
                # The form is shown again with its errors: its instances hold
                # what was posted, not yet valid; read back what is saved.
                card = scorecard_for(Definition.objects.get(pk=obj.pk))
            else:
                # The saved criteria and milestones, as the inlines already read them.
                saved = {
                    inline.formset.model: [form.instance for form in inline.formset.initial_forms]
                    for inline in context.get("inline_admin_formsets", [])
                }
                card = scorecard_of(
                    obj, criteria=saved.get(Criterion, []), milestones=saved.get(Milestone, [])
                )
            context["builder"] = builder_words(card, seen_events=seen)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def preview_view(self, request):
        """The sentence, warnings and (with counts=1) what the definition as
        posted would qualify now: JSON for builder.js."""
        if request.method != "POST":
            return JsonResponse({"error": "POST the definition's form."}, status=405)
        object_id = request.POST.get("_definition_id") or None
        obj = self.get_object(request, object_id) if object_id else None
        if object_id and obj is None:
            return JsonResponse({"error": "No such definition."}, status=404)
        if not (self.has_change_permission(request, obj) if obj else self.has_add_permission(request)):
            return JsonResponse({"error": "You may not change definitions."}, status=403)
        form_class = self.get_form(request, obj, change=obj is not None)
        form = form_class(request.POST, request.FILES, instance=obj)
        form_valid = form.is_valid()
        formsets, _inlines = self._create_formsets(request, form.instance, change=obj is not None)
        errors = [] if form_valid else [f"{name}: {' '.join(e)}" for name, e in form.errors.items()]
        for formset in formsets:
            if not formset.is_valid():
                errors += [str(error) for error in formset.non_form_errors()]
                for index, sub in enumerate(formset.forms):
                    errors += [
                        f"{formset.prefix} #{index + 1} {name}: {' '.join(e)}" for name, e in sub.errors.items()
                    ]
        if not errors:
            # What saving would refuse beyond each form's own checks.
            try:
                definitions.check(form.instance, **rows_of(formsets))
            except definitions.DefinitionRefused as refused:
                errors = [f"{problem.key}: {' '.join(problem.messages)}" for problem in refused.problems]
        if errors:
            return JsonResponse({"errors": errors})
        card = unsaved_scorecard(form, formsets)
        answer = builder_words(card, seen_events=event_names_seen())
        if request.POST.get("counts") == "1":
            answer["preview"] = preview(card)
            if obj is not None:
                answer["lab_url"] = reverse("lab-definition", args=[obj.pk])
        return JsonResponse(answer)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        refused = getattr(request, REFUSED, None)
        if refused is not None:
            form = type(form.__name__, (form,), {"problems": refused.problems})
        return form

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        refused = getattr(request, REFUSED, None)
        if refused is not None:
            kwargs["problems"] = [problem for problem in refused.problems if problem.part == PARTS[inline.model]]
        return kwargs

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except definitions.DefinitionRefused as refused:
            # Nothing was written (the service checks the whole definition
            # before it writes). The form is shown again, bound to what was
            # posted, with each problem on the field it names.
            setattr(request, REFUSED, refused)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        """Nothing here: the definition is saved with its criteria and
        milestones, in one call, by save_related."""

    def save_related(self, request, form, formsets, change):
        rescored = definitions.save_definition(form.instance, changed_by=request.user, **rows_of(formsets))
        for formset in formsets:
            # What the change message (the admin's log) lists.
            kept = kept_forms(formset)
            formset.new_objects = [sub.instance for sub in kept if not sub.instance.pk]
            formset.changed_objects = [
                (sub.instance, sub.changed_data) for sub in kept if sub.instance.pk and sub.has_changed()
            ]
            formset.deleted_objects = [sub.instance for sub in formset.deleted_forms if sub.instance.pk]
        if rescored:
            self.message_user(request, "Every account will be rescored under the new definition.")

    @admin.action(description="Activate the selected definition (rescores every account)")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one definition to activate.", messages.ERROR)
            return
        definitions.activate(queryset.get(), changed_by=request.user)
        self.message_user(request, "Activated; every account will be rescored.")

    @admin.action(description="Duplicate as a draft")
    def duplicate_as_draft(self, request, queryset):
        for definition in queryset:
            copy = definitions.duplicate(definition, changed_by=request.user)
            self.message_user(request, f"Created draft “{copy.name}”.")


def builder_words(card: Scorecard, *, seen_events) -> dict:
    return {
        "sentence": sentence(card),
        "most_points": most_points(card),
        "counts_score": card.counts_score,
        "threshold": card.score_threshold,
        "warnings": warnings(card, seen_events=seen_events),
    }


@admin.register(AccountScore)
class AccountScoreAdmin(admin.ModelAdmin):
    list_display = ["account", "score", "activation", "tier", "qualifies", "triggered", "computed_at"]
    list_select_related = ["account"]
    list_filter = ["qualifies", "triggered", "tier"]
    search_fields = ["account__name", "=account__external_id"]
    ordering = ["-score"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = [
        "account",
        "score",
        "activation",
        "tier",
        "qualifies",
        "triggered",
        "why",
        "computed_at",
        "raw_explanation",
    ]
    fields = tuple(readonly_fields)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="why")
    def why(self, score):
        explanation = explained_score(score) or {}
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    "✔" if entry["held"] else "✘",
                    entry["label"],
                    entry["role"],
                    entry["observed"],
                    entry["points"],
                )
                for entry in explanation.get("criteria", [])
            ),
        )
        qualified_by = "; ".join(explanation.get("qualified_by", [])) or "does not qualify"
        return format_html(
            "<p>{}</p><table><thead><tr><th></th><th>Criterion</th><th>Role</th>"
            "<th>Observed</th><th>Points</th></tr></thead><tbody>{}</tbody></table>",
            qualified_by,
            rows,
        )

    @admin.display(description="explanation (JSON)")
    def raw_explanation(self, score):
        return format_html("<pre>{}</pre>", json.dumps(score.explanation, indent=2))


@admin.register(ScoringRun)
class ScoringRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "reason",
        "definition",
        "accounts_scored",
        "results_changed",
        "statuses_changed",
        "seconds",
    ]
    list_select_related = ["definition"]


@admin.register(PendingRescore)
class PendingRescoreAdmin(ReadOnlyAdmin):
    """What the catch-up pass still has to rescore: empty in normal running."""

    list_display = ["account", "requested_at", "reason"]
    list_select_related = ["account"]
    list_filter = ["reason"]


@admin.register(DefinitionChange)
class DefinitionChangeAdmin(ReadOnlyAdmin):
    list_display = ["definition", "changed_at", "changed_by"]
    list_select_related = ["definition", "changed_by"]
    list_filter = ["definition"]
    readonly_fields = ["definition", "changed_at", "changed_by", "snapshot"]


@admin.register(LabRun)
class LabRunAdmin(ReadOnlyAdmin):
    list_display = ["definition", "status", "progress", "requested_at", "finished_at", "requested_by"]
    list_select_related = ["definition", "requested_by"]
    list_filter = ["status"]
    exclude = ["result"]
