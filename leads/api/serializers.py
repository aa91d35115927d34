"""What the API shows and accepts. Every serializer lists its fields; status,
owner and score are read-only here and change only through the actions that
record them (outcome, assign) or through scoring."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from leads.forms import json_object_problem
from leads.models import Account, Event, LeadStatus, Person, SalesRep, StatusChange
from leads.services import OUTCOMES_FROM
from scoring.models import AccountScore


class JSONObjectField(serializers.JSONField):
    """A JSON object (traits): a list, a string or anything too deep is a 400 naming the field."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if problem := json_object_problem(value):
            raise serializers.ValidationError(problem)
        return value


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong.")


class ScoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccountScore
        fields = ["score", "activation", "tier", "qualifies", "triggered", "computed_at"]
        read_only_fields = fields


class AccountSerializer(serializers.ModelSerializer):
    score = ScoreSerializer(read_only=True, allow_null=True)
    owner_name = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = [
            "id",
            "external_id",
            "name",
            "domain",
            "industry",
            "country",
            "employee_count",
            "plan",
            "signed_up_at",
            "trial_ends_at",
            "status",
            "owner",
            "owner_name",
            "assigned_at",
            "sla_due_at",
            "last_event_at",
            "score",
        ]
        # external_id is the CDP's groupId: changing it would split the
        # account in two at the next group call, so it is never edited here.
        read_only_fields = ["external_id", "status", "owner", "assigned_at", "sla_due_at", "last_event_at"]

    def get_owner_name(self, account) -> str | None:
        return str(account.owner) if account.owner else None


class CriterionResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named label; the stubs see Field.label
    role = serializers.CharField()
    family = serializers.CharField()
    held = serializers.BooleanField()
    observed = serializers.CharField(
        help_text="In plain words, saying so when it failed: 'Sent 12 invites', "
        "'49 employees, not at least 50'."
    )
    hand_raise = serializers.BooleanField(required=False)
    points = serializers.IntegerField()


class MilestoneResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named label; the stubs see Field.label
    reached = serializers.BooleanField()
    observed = serializers.IntegerField()
    needed = serializers.IntegerField()


class ExplanationSerializer(serializers.Serializer):
    definition = serializers.CharField()
    gates_hold = serializers.BooleanField()
    score_threshold = serializers.IntegerField(
        allow_null=True, help_text="Null when the definition has no points (it qualifies on its gates)."
    )
    activation_threshold = serializers.IntegerField(allow_null=True)
    hand_raised = serializers.BooleanField(required=False)
    fired = serializers.ListField(child=serializers.CharField(), required=False, help_text="Triggers that fired.")
    qualified_by = serializers.ListField(child=serializers.CharField())
    reasons = serializers.ListField(child=serializers.CharField())
    against = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Criteria that held and took points away."
    )
    not_yet = serializers.ListField(child=serializers.CharField(), required=False)
    criteria = CriterionResultSerializer(many=True)
    milestones = MilestoneResultSerializer(many=True)


class AccountDetailSerializer(AccountSerializer):
    traits = JSONObjectField(required=False)
    explanation = serializers.SerializerMethodField()

    class Meta(AccountSerializer.Meta):
        fields = [*AccountSerializer.Meta.fields, "traits", "explanation"]

    @extend_schema_field(ExplanationSerializer(allow_null=True))
    def get_explanation(self, account) -> dict | None:
        return self.context.get("explanation")


class OutcomeSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=[(s.value, s.label) for s in LeadStatus if s in OUTCOMES_FROM])
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    def validate(self, data):
        if data["outcome"] == LeadStatus.DISQUALIFIED and not data["reason"].strip():
            raise serializers.ValidationError({"reason": "Say why the account is disqualified."})
        return data


class AssignSerializer(serializers.Serializer):
    rep = serializers.PrimaryKeyRelatedField(
        queryset=SalesRep.objects.select_related("user"),
        allow_null=True,
        help_text="A sales rep id, or null to put the account back in the unassigned queue.",
    )


class PersonSerializer(serializers.ModelSerializer):
    class Meta:
        model = Person
        fields = [
            "id",
            "account",
            "external_id",
            "email",
            "name",
            "title",
            "traits",
            "first_seen_at",
            "last_seen_at",
        ]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = [
            "id",
            "account",
            "person",
            "name",
            "properties",
            "occurred_at",
            "received_at",
            "source",
            "message_id",
        ]
        read_only_fields = fields


class StatusChangeSerializer(serializers.ModelSerializer):
    changed_by: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = StatusChange
        fields = [
            "id",
            "account",
            "from_status",
            "to_status",
            "changed_at",
            "cause",
            "changed_by",
            "owner",
            "reason",
            "details",
        ]
        read_only_fields = fields


class QueueEntrySerializer(AccountSerializer):
    reasons = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()

    class Meta(AccountSerializer.Meta):
        fields = [*AccountSerializer.Meta.fields, "reasons", "overdue"]

    def get_reasons(self, account) -> list[str]:
        return self.context["reasons"].get(account.pk, [])

    def get_overdue(self, account) -> bool:
        return self.context["overdue"].get(account.pk, False)
