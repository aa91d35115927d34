"""API views: thin wrappers over the same selectors and services as the pages,
with the same rules of who sees what."""

from django.contrib.auth.signals import user_logged_in
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from leads import selectors
from leads.access import of_visible_accounts, roles_for, visible_accounts
from leads.forms import QueueFilterForm
from leads.lockout import locked_out
from leads.models import OPEN_LEAD_STATUSES, Account, Event, Person, SalesRep, StatusChange, Tier
from leads.routing import reassign_by_hand
from leads.services import OutcomeRefused, fit_data_changed, record_outcome, update_account
from scoring.jobs import request_rescore
from scoring.selectors import explained_score, explained_scores

from .filters import AccountFilter, EventFilter, PersonFilter, StatusChangeFilter
from .pagination import NewestFirst, QueuePage
from .parsers import JSONParser
from .permissions import Managers, ManagersWrite, SalesPeople
from .schema import ERRORS, documented
from .serializers import (
    AccountDetailSerializer,
    AccountSerializer,
    AssignSerializer,
    EventSerializer,
    OutcomeSerializer,
    PersonSerializer,
    QueueEntrySerializer,
    StatusChangeSerializer,
)
from .throttles import LoginThrottle


@extend_schema_view(
    list=extend_schema(responses=documented(AccountSerializer(many=True), 400)),
    retrieve=extend_schema(responses=documented(AccountDetailSerializer, 404)),
    partial_update=extend_schema(responses=documented(AccountDetailSerializer, 400, 404)),
    update=extend_schema(responses=documented(AccountDetailSerializer, 400, 404)),
)
class AccountViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet
):
    """Accounts: a rep sees their own, a manager every one. Managers may edit
    fit data; status and owner change only through outcome and assign."""

    # The model, for the schema; each request's rows come from get_queryset.
    queryset = Account.objects.none()

    permission_classes = [SalesPeople, ManagersWrite]
    filterset_class = AccountFilter
    search_fields = ["name", "domain", "=external_id"]
    ordering_fields = ["score__score", "signed_up_at", "last_event_at", "name", "assigned_at"]
    ordering = ["-signed_up_at"]

    def get_queryset(self):
        accounts = visible_accounts(roles_for(self.request)).select_related("score", "owner__user")
        # Only the detail view shows the explanation.
        return accounts.defer("score__explanation") if self.action == "list" else accounts

    def get_serializer_class(self):
        return AccountSerializer if self.action == "list" else AccountDetailSerializer

    def perform_update(self, serializer):
        """Through the lead core's one writer of account data; a change of fit
        data rescores the account once the request commits."""
        account = serializer.instance
        if fit_data_changed(update_account(account=account, **serializer.validated_data)):
            request_rescore([account.pk])

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.action != "list" and "pk" in self.kwargs:
            account = self.get_object()
            score = getattr(account, "score", None)
            context["explanation"] = explained_score(score) if score else None
        return context

    @extend_schema(request=OutcomeSerializer, responses=documented(AccountDetailSerializer, 400, 404))
    @action(detail=True, methods=["post"], permission_classes=[SalesPeople])
    def outcome(self, request, pk=None, format=None):
        """Record what happened: contacted, converted or disqualified (with a reason)."""
        account = self.get_object()
        payload = OutcomeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            record_outcome(account_id=account.pk, changed_by=request.user, **payload.validated_data)
        except OutcomeRefused as refusal:
            raise ValidationError({"outcome": [str(refusal)]}) from refusal
        return self.retrieve(request, pk=pk)

    @extend_schema(request=AssignSerializer, responses=documented(AccountDetailSerializer, 400, 404))
    @action(detail=True, methods=["post"], permission_classes=[SalesPeople, Managers])
    def assign(self, request, pk=None, format=None):
        """Give the account to a rep (or back to the unassigned queue); managers only."""
        account = self.get_object()
        payload = AssignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            reassign_by_hand([account.pk], payload.validated_data["rep"], changed_by=request.user)
        except ValueError as refusal:
            raise ValidationError({"rep": [str(refusal)]}) from refusal
        return self.retrieve(request, pk=pk)


@extend_schema_view(
    list=extend_schema(responses=documented(PersonSerializer(many=True), 400)),
    retrieve=extend_schema(responses=documented(PersonSerializer, 404)),
)
class PersonViewSet(viewsets.ReadOnlyModelViewSet):
    """People of the accounts you may see."""

    # The model, for the schema; each request's rows come from get_queryset.
    queryset = Person.objects.none()

    serializer_class = PersonSerializer
    permission_classes = [SalesPeople]
    filterset_class = PersonFilter
    search_fields = ["name", "email", "title"]
    ordering_fields = ["name", "email", "last_seen_at"]
    ordering = ["pk"]

    def get_queryset(self):
        return of_visible_accounts(Person.objects.all(), roles_for(self.request))


@extend_schema_view(
    list=extend_schema(responses=documented(EventSerializer(many=True), 400)),
    retrieve=extend_schema(responses=documented(EventSerializer, 404)),
)
class EventViewSet(viewsets.ReadOnlyModelViewSet):
    """Usage events, newest first, by cursor: stable pages over millions of rows."""

    # The model, for the schema; each request's rows come from get_queryset.
    queryset = Event.objects.none()

    serializer_class = EventSerializer
    permission_classes = [SalesPeople]
    filterset_class = EventFilter
    pagination_class = NewestFirst
    search_fields: list[str] = []
    ordering_fields: list[str] = []

    def get_queryset(self):
        return of_visible_accounts(Event.objects.all(), roles_for(self.request))


@extend_schema_view(
    list=extend_schema(responses=documented(StatusChangeSerializer(many=True), 400)),
    retrieve=extend_schema(responses=documented(StatusChangeSerializer, 404)),
)
class StatusChangeViewSet(viewsets.ReadOnlyModelViewSet):
    """The append-only history of lead statuses."""

    # The model, for the schema; each request's rows come from get_queryset.
    queryset = StatusChange.objects.none()

    serializer_class = StatusChangeSerializer
    permission_classes = [SalesPeople]
    filterset_class = StatusChangeFilter
    search_fields: list[str] = []
    ordering_fields = ["changed_at"]
    ordering = ["-changed_at", "-id"]

    def get_queryset(self):
        return of_visible_accounts(StatusChange.objects.select_related("changed_by"), roles_for(self.request))


@extend_schema(
    parameters=[
        OpenApiParameter("rep", int, description="Managers: whose queue (default: your own)."),
        OpenApiParameter("status", str, enum=sorted(OPEN_LEAD_STATUSES)),
        OpenApiParameter("tier", str, enum=Tier.values),
    ],
    responses=documented(QueueEntrySerializer(many=True), 400, 404),
)
class QueueView(ListAPIView):
    """A rep's open leads in the order to work them, with the reasons they qualified."""

    # The model, for the schema; each request's rows come from get_queryset.
    queryset = Account.objects.none()

    serializer_class = QueueEntrySerializer
    permission_classes = [SalesPeople]
    pagination_class = QueuePage
    filter_backends = []

    def get_queryset(self):
        filters = QueueFilterForm(self.request.query_params)
        if not filters.is_valid():
            raise ValidationError(filters.errors)
        rep = roles_for(self.request).rep
        wanted = filters.cleaned_data["rep"]
        if wanted and roles_for(self.request).is_manager:
            rep = SalesRep.objects.filter(pk=wanted).first()
            if rep is None:
                raise NotFound("No such rep.")
        if rep is None:
            raise NotFound("You have no queue: pass ?rep=<id>.")
        return selectors.queue_for(
            rep, status=filters.cleaned_data["status"], tier=filters.cleaned_data["tier"]
        )

    def get_serializer(self, *args, **kwargs):
        accounts = args[0] if args else []
        scores = [account.score for account in accounts if hasattr(account, "score")]
        words = explained_scores(scores)
        now = timezone.now()
        kwargs["context"] = {
            **self.get_serializer_context(),
            "reasons": {pk: explained["reasons"][:3] for pk, explained in words.items()},
            "overdue": {account.pk: selectors.sla_of(account, now=now).overdue for account in accounts},
        }
        return super().get_serializer(*args, **kwargs)


class TokenView(ObtainAuthToken):
    """POST username and password for your API token; DELETE (with the token) revokes it."""

    parser_classes = [JSONParser, FormParser, MultiPartParser]
    # ObtainAuthToken has none; every guess counts against the address.
    throttle_classes = [LoginThrottle]

    @extend_schema(responses={200: OpenApiTypes.OBJECT, **{c: ERRORS[c] for c in (400, 429)}})
    def post(self, request, *args, **kwargs):
        """Wrong passwords are a 400; past LOGIN_FAILURE_LIMIT of them for one
        username from one address, a 429 with Retry-After until the cool-off ends."""
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            # django-axes marks the request it was given: DRF's, not Django's.
            if getattr(request, "axes_locked_out", False):
                username = request.data.get("username") if isinstance(request.data, dict) else None
                return locked_out(request, credentials={"username": username})
            raise ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        # Taking a token is signing in: the failure count resets, last_login moves.
        user_logged_in.send(sender=type(user), request=request, user=user)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @extend_schema(responses={204: None, 401: ERRORS[401]})
    def delete(self, request):
        if not request.user.is_authenticated:
            return Response({"detail": "Not signed in."}, status=status.HTTP_401_UNAUTHORIZED)
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
