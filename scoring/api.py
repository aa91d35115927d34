"""PQL definitions in the REST API: managers only, with the admin's validation."""

import django_filters as filters
from django.core.exceptions import ValidationError as ModelValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.api.filters import BooleanFilter
from leads.api.permissions import Managers, SalesPeople
from leads.api.schema import ERRORS, documented

from . import definitions
from .forms import PeriodForm
from .metrics import Period
from .metrics.report import summary
from .models import Criterion, Definition, Milestone

CRITERION_FIELDS = [
    "id", "position", "label", "family", "role", "points", "gates_apply", "hand_raise", "kind",
    "subject", "field", "operator", "value", "event_name", "property_key", "property_value",
    "window", "window_days", "window_unit",
]
MILESTONE_FIELDS = [
    "id", "position", "label", "event_name", "property_key", "property_value", "window",
    "window_days", "window_unit", "min_count",
]


class CriterionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Criterion
        fields = CRITERION_FIELDS
        read_only_fields = ["id"]


class MilestoneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Milestone
        fields = MILESTONE_FIELDS
        read_only_fields = ["id"]


class DefinitionSerializer(serializers.ModelSerializer):
    """A definition with its criteria and milestones, written in one request;
    every part is checked as the admin checks it."""

    criteria = CriterionSerializer(many=True, required=False)
    milestones = MilestoneSerializer(many=True, required=False)
    updated_by: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Definition
        fields = [
            "id", "name", "description", "is_active", "score_threshold",
            "mid_tier_min_employees", "large_tier_min_employees", "small_activation",
            "mid_activation", "large_activation", "criteria", "milestones", "updated_at",
            "updated_by",
        ]
        read_only_fields = ["id", "is_active", "updated_at", "updated_by"]

    def validate(self, data):
        criteria, milestones = data.get("criteria"), data.get("milestones")
        current = self.instance
        has_milestones = bool(milestones) if milestones is not None else bool(
            current and current.milestones.exists()
        )
        thresholds = [
            data.get(name, getattr(current, name, None))
            for name in ("small_activation", "mid_activation", "large_activation")
        ]
        if any(t is not None for t in thresholds) and not has_milestones:
            raise ValidationError(
                {"milestones": ["Activation thresholds are set but there are no milestones."]}
            )
        settings = {k: v for k, v in data.items() if k not in ("criteria", "milestones")}
        candidate = Definition(**{**self.model_fields(current), **settings})
        self.check(candidate, "definition", exclude=["name"] if current else None)
        for index, fields in enumerate(criteria or []):
            self.check(Criterion(definition=candidate, **fields), f"criteria[{index}]", exclude=["definition"])
        for index, fields in enumerate(milestones or []):
            self.check(Milestone(definition=candidate, **fields), f"milestones[{index}]", exclude=["definition"])
        return data

    @staticmethod
    def model_fields(definition):
        if definition is None:
            return {}
        return {
            field.name: getattr(definition, field.name)
            for field in Definition._meta.concrete_fields
            if field.name not in ("id", "updated_by", "created_at", "updated_at")
        }

    @staticmethod
    def check(item, where, exclude=None):
        try:
            item.full_clean(exclude=exclude, validate_unique=False)
        except ModelValidationError as problem:
            raise ValidationError(
                {
                    f"{where}.{field}" if where != "definition" else field: messages
                    for field, messages in problem.message_dict.items()
                }
            ) from problem

    def create(self, data):
        return definitions.create_definition(changed_by=self.context["request"].user, **data)

    def update(self, definition, data):
        criteria, milestones = data.pop("criteria", None), data.pop("milestones", None)
        for name, value in data.items():
            setattr(definition, name, value)
        definitions.save_definition(
            definition, changed_by=self.context["request"].user, criteria=criteria, milestones=milestones
        )
        # The prefetched criteria and milestones were replaced.
        return Definition.objects.prefetch_related("criteria", "milestones").get(pk=definition.pk)


class DefinitionFilter(filters.FilterSet):
    is_active = BooleanFilter()

    class Meta:
        model = Definition
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(responses=documented(DefinitionSerializer(many=True))),
    retrieve=extend_schema(responses=documented(DefinitionSerializer, 404)),
    create=extend_schema(responses={201: DefinitionSerializer, **{c: ERRORS[c] for c in (400, 401, 403, 429)}}),
    update=extend_schema(responses=documented(DefinitionSerializer, 400, 404)),
    partial_update=extend_schema(responses=documented(DefinitionSerializer, 400, 404)),
    destroy=extend_schema(responses={204: None, **{c: ERRORS[c] for c in (400, 401, 403, 404, 429)}}),
)
class DefinitionViewSet(viewsets.ModelViewSet):
    """PQL definitions (managers only). Saving the active one rescores every
    account; activate another with POST .../activate/."""

    serializer_class = DefinitionSerializer
    permission_classes = [SalesPeople, Managers]
    search_fields = ["name"]
    ordering_fields = ["name", "updated_at"]
    ordering = ["-is_active", "name"]
    filterset_class = DefinitionFilter

    def get_queryset(self):
        return Definition.objects.select_related("updated_by").prefetch_related("criteria", "milestones")

    def perform_destroy(self, definition):
        if definition.is_active:
            raise ValidationError({"is_active": ["Activate another definition before deleting the active one."]})
        definition.delete()

    @extend_schema(request=None, responses=documented(DefinitionSerializer, 404))
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None, format=None):
        """Make this the active definition; every account is rescored."""
        definitions.activate(self.get_object(), changed_by=request.user)
        return self.retrieve(request, pk=pk)


@extend_schema(
    parameters=[
        OpenApiParameter("start", OpenApiTypes.DATE, description="First signup day (default: 11 weeks ago)."),
        OpenApiParameter("end", OpenApiTypes.DATE, description="Last signup day, included (default: today)."),
    ],
    responses=documented(OpenApiTypes.OBJECT, 400),
)
class MetricsView(APIView):
    """The PQL metrics of the managers' page as data: totals, by tier, by rep,
    by signup cohort week, PQLs per week and month, time to PQL and the funnel."""

    permission_classes = [SalesPeople, Managers]

    def get(self, request):
        if "start" in request.query_params or "end" in request.query_params:
            form = PeriodForm(request.query_params)
            if not form.is_valid():
                raise ValidationError(form.errors)
            period = form.period()
        else:
            period = Period.default()
        return Response(summary(start=period.start, end=period.end))
