"""PQL definitions in the REST API: managers only, with the admin's validation."""

import django_filters as filters
from django.core.exceptions import NON_FIELD_ERRORS
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
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
    # Given on a write, the id names a criterion of this definition to update
    # (kept as it is when nothing changed); without one, a criterion is added.
    id = serializers.IntegerField(required=False)

    class Meta:
        model = Criterion
        fields = CRITERION_FIELDS


class MilestoneSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(required=False)

    class Meta:
        model = Milestone
        fields = MILESTONE_FIELDS


class DefinitionSerializer(serializers.ModelSerializer):
    """A definition with its criteria and milestones, written in one request
    through scoring.definitions, which checks every part as the admin does.
    Criteria and milestones, when given, are the whole list: those with an id
    are updated, those without are added, the others removed."""

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

    def create(self, data):
        return self.save_through_service(Definition(), data)

    def update(self, definition, data):
        return self.save_through_service(definition, data)

    def save_through_service(self, definition, data):
        criteria, milestones = data.pop("criteria", None), data.pop("milestones", None)
        for name, value in data.items():
            setattr(definition, name, value)
        try:
            definitions.save_definition(
                definition, changed_by=self.context["request"].user, criteria=criteria, milestones=milestones
            )
        except definitions.DefinitionRefused as refused:
            raise ValidationError(
                {
                    api_settings.NON_FIELD_ERRORS_KEY if where == NON_FIELD_ERRORS else where: messages
                    for where, messages in refused.message_dict.items()
                }
            ) from refused
        # Any prefetched criteria and milestones were replaced.
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
        try:
            definitions.delete_definition(definition)
        except definitions.DefinitionRefused as refused:
            raise ValidationError(refused.message_dict) from refused

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
