"""Where sales managers define what makes a PQL, and see every account's result."""

import json

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
from .admin_widgets import QuickMediaFormSet, QuickNumberInput, QuickSelect, quick_widgets
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
from .scorecards import scorecard_of
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
            fields,
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


class CriterionInline(admin.StackedInline):
    model = Criterion
    form = CriterionForm
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


class MilestoneFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [
            form
            for form in self.forms
            if form.has_changed() or form.instance.pk
            if not (self.can_delete and self._should_delete_form(form))
        ]
        if not kept and self.instance.activation_thresholds_set:
            raise ValidationError(
                "Activation thresholds are set but there are no milestones: add milestones "
                "or clear the small / mid-size / large activation thresholds."
            )


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
            MILESTONE_FIELDS,
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
    formset = MilestoneFormSet
    template = "admin/scoring/definition/milestone_inline.html"
    extra = 0
    classes = ["milestones-builder"]
    fields = tuple(MILESTONE_FIELDS)


def unsaved_scorecard(form, formsets) -> Scorecard:
    """The scorecard of a definition as its valid forms say, saved or not:
    what the preview evaluates."""
    definition = form.instance
    kept = {
        formset.model: [
            sub.instance
            for sub in formset.forms
            if sub.has_changed() or sub.instance.pk
            if not (formset.can_delete and formset._should_delete_form(sub))
        ]
        for formset in formsets
    }
    criteria = sorted(kept.get(Criterion, []), key=lambda c: c.position)
    milestones = sorted(kept.get(Milestone, []), key=lambda m: m.position)
    for index, item in enumerate(criteria + milestones):
        item.pk = item.pk or -(index + 1)
    return scorecard_of(definition, criteria=criteria, milestones=milestones)


@admin.register(Definition)
class DefinitionAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "score_threshold", "criteria_count", "updated_at", "updated_by"]
    list_select_related = ["updated_by"]
    search_fields = ["name"]
    readonly_fields = ["updated_at", "updated_by"]
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

    def get_queryset(self, request):
        return super().get_queryset(request).annotate_criteria_count()

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
        if errors:
            return JsonResponse({"errors": errors})
        card = unsaved_scorecard(form, formsets)
        answer = builder_words(card, seen_events=event_names_seen())
        if request.POST.get("counts") == "1":
            answer["preview"] = preview(card)
            if obj is not None:
                answer["lab_url"] = reverse("lab-definition", args=[obj.pk])
        return JsonResponse(answer)

    def save_model(self, request, obj, form, change):
        # The rules of saving a definition are scoring.definitions': the
        # inlines are saved in between, by save_related.
        definitions.before_saving(obj, changed_by=request.user)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        definition = form.instance
        was_active = change and "is_active" in form.changed_data and not definition.is_active
        if definitions.after_saving(definition, changed_by=request.user, was_active=was_active):
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
