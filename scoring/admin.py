"""Where sales managers define what makes a PQL, and see every account's result."""

import json

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html, format_html_join

from leads.admin import EstimatedCountPaginator, ReadOnlyAdmin

from . import definitions
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
from .selectors import explained_score


class CriterionInline(admin.StackedInline):
    model = Criterion
    extra = 0
    fieldsets = [
        (None, {"fields": [("position", "label"), ("role", "family", "points", "gates_apply"), "kind"]}),
        ("Attribute test", {"fields": [("subject", "field"), ("operator", "value")]}),
        (
            "Event test (and the count, in 'value')",
            {"fields": [("event_name", "property_key", "property_value"), ("window", "window_days")]},
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


class MilestoneInline(admin.TabularInline):
    model = Milestone
    formset = MilestoneFormSet
    extra = 0
    fields = [
        "position",
        "label",
        "event_name",
        "property_key",
        "property_value",
        "window",
        "window_days",
        "min_count",
    ]


@admin.register(Definition)
class DefinitionAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "score_threshold", "criteria_count", "updated_at", "updated_by"]
    list_select_related = ["updated_by"]
    search_fields = ["name"]
    readonly_fields = ["updated_at", "updated_by"]
    fieldsets = [
        (None, {"fields": ["name", "description", "is_active", "score_threshold"]}),
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
        ("Changed", {"fields": ["updated_at", "updated_by"]}),
    ]
    inlines = [CriterionInline, MilestoneInline]
    actions = ["activate", "duplicate_as_draft"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate_criteria_count()

    @admin.display(description="criteria", ordering="criteria_count")
    def criteria_count(self, definition):
        return definition.criteria_count

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


@admin.register(AccountScore)
class AccountScoreAdmin(admin.ModelAdmin):
    list_display = ["account", "score", "activation", "tier", "qualifies", "triggered", "computed_at"]
    list_select_related = ["account"]
    list_filter = ["qualifies", "triggered", "tier"]
    search_fields = ["account__name", "=account__external_id"]
    ordering = ["-score"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = [
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
    readonly_fields = fields

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
