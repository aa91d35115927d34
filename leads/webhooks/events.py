"""The event types a webhook endpoint can ask for: one per kind of outbox
message, named `lead.<kind>`."""

# (type, what it means), in the order the admin lists them.
EVENT_TYPES = [
    ("lead.qualified", "Qualified: the account became a PQL"),
    ("lead.dropped", "Dropped: the account no longer qualifies"),
    ("lead.assigned", "Assigned: a rep got the lead"),
    ("lead.reassigned", "Reassigned: the lead moved to another rep"),
    ("lead.contacted", "Contacted: the rep made first contact"),
    ("lead.converted", "Converted: the account became a paying customer"),
    ("lead.disqualified", "Disqualified: the rep closed the lead"),
    ("lead.unassigned", "Unassigned: the lead was left without a rep"),
    ("lead.unassigned_team_full", "Unassigned: the PQL's team is full"),
    ("lead.sla_due_soon", "SLA due soon: first contact is due"),
    ("lead.sla_passed", "SLA passed: no contact in time"),
]
EVENT_TYPE_NAMES = frozenset(value for value, _ in EVENT_TYPES)
PAYLOAD_VERSION = 1


def event_type_for(kind: str) -> str:
    """The webhook type of an outbox message kind."""
    return f"lead.{kind}"
