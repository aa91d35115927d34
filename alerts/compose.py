"""What an alert says: a subject and plain text for email, Block Kit for Slack.

Built from what delivery read for a batch of messages (plain values), so it
is the same words on every channel and needs no database.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from leads.models import MessageKind


@dataclass(frozen=True)
class Contact:
    name: str
    title: str
    email: str

    def __str__(self):
        who = ", ".join(part for part in (self.name, self.title) if part)
        return f"{who} <{self.email}>" if who and self.email else who or self.email


@dataclass(frozen=True)
class AlertFacts:
    """Everything an alert shows, read once for a batch."""

    kind: str
    company: str
    tier: str
    score: int | None
    reasons: list[str]
    contact: Contact | None
    link: str
    rep_name: str = ""
    reason: str = ""
    sla_due_at: datetime | None = None
    escalated: bool = False
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    subject: str
    text: str
    blocks: list[dict]


def when(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%a %d %b %H:%M %Z") if moment else "-"


def headline(facts: AlertFacts) -> str:
    company, rep = facts.company, facts.rep_name or "the rep"
    kind = MessageKind(facts.kind)
    if kind == MessageKind.ASSIGNED:
        return f"New PQL for you: {company}"
    if kind == MessageKind.REASSIGNED:
        return f"PQL handed to you: {company}"
    if kind == MessageKind.SLA_DUE_SOON and facts.escalated:
        return f"{rep} is away: {company} is due for contact by {when(facts.sla_due_at)}"
    if kind == MessageKind.SLA_DUE_SOON:
        return f"Contact {company} by {when(facts.sla_due_at)}"
    if kind == MessageKind.SLA_PASSED:
        return f"Overdue: {rep} has not contacted {company} (due {when(facts.sla_due_at)})"
    if kind == MessageKind.UNASSIGNED_TEAM_FULL:
        return f"Nobody has room for {company}"
    if kind == MessageKind.UNASSIGNED:
        return f"{company} has no rep"
    if kind == MessageKind.ENDPOINT_DISABLED:
        return f"Webhook endpoint disabled: {facts.extra.get('url', '')}"
    return f"{company}: {kind.label}"


def compose(facts: AlertFacts) -> Alert:
    title = headline(facts)
    lines = [title, ""]
    if facts.kind == MessageKind.ENDPOINT_DISABLED:
        lines += [facts.reason or "It failed for too long and no longer receives webhooks.", ""]
        lines += ["Turn it back on in the admin once the receiver works.", facts.link]
        return Alert(subject=title, text="\n".join(lines), blocks=endpoint_blocks(title, facts))
    lines.append(f"Company: {facts.company}")
    lines.append(f"Tier: {facts.tier}" + (f" · score {facts.score}" if facts.score is not None else ""))
    if facts.rep_name:
        lines.append(f"Rep: {facts.rep_name}")
    if facts.reason:
        lines.append(f"Note: {facts.reason}")
    if facts.reasons:
        lines += ["", "Why it qualified:", *(f"- {reason}" for reason in facts.reasons)]
    if facts.contact:
        lines += ["", f"Person to contact: {facts.contact}"]
    lines += ["", f"Open the account: {facts.link}"]
    return Alert(subject=title, text="\n".join(lines), blocks=lead_blocks(title, facts))


def slack_escape(text: str) -> str:
    """Slack mrkdwn reserves &, < and >: data shown as data."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, limit: int = 150) -> dict:
    return {"type": "plain_text", "text": text[:limit] or "-", "emoji": False}


def mrkdwn(text: str, limit: int = 3000) -> dict:
    return {"type": "mrkdwn", "text": text[:limit] or "-"}


def lead_blocks(title: str, facts: AlertFacts) -> list[dict]:
    fields = [
        mrkdwn(f"*Company*\n{slack_escape(facts.company)}"),
        mrkdwn(f"*Tier*\n{slack_escape(facts.tier)}"),
    ]
    if facts.score is not None:
        fields.append(mrkdwn(f"*Score*\n{facts.score}"))
    if facts.rep_name:
        fields.append(mrkdwn(f"*Rep*\n{slack_escape(facts.rep_name)}"))
    if facts.sla_due_at:
        fields.append(mrkdwn(f"*Contact by*\n{slack_escape(when(facts.sla_due_at))}"))
    blocks: list[dict] = [{"type": "header", "text": plain(title)}, {"type": "section", "fields": fields}]
    if facts.reason:
        blocks.append({"type": "context", "elements": [mrkdwn(slack_escape(facts.reason))]})
    if facts.reasons:
        why = "\n".join(f"• {slack_escape(reason)}" for reason in facts.reasons)
        blocks.append({"type": "section", "text": mrkdwn(f"*Why it qualified*\n{why}")})
    if facts.contact:
        contact = facts.contact
        who = slack_escape(", ".join(part for part in (contact.name, contact.title) if part))
        email = f"<mailto:{contact.email}|{slack_escape(contact.email)}>" if contact.email else ""
        blocks.append(
            {"type": "section", "text": mrkdwn("*Person to contact*\n" + " · ".join(p for p in (who, email) if p))}
        )
    blocks.append(
        {
            "type": "actions",
            "elements": [{"type": "button", "text": plain("Open the account"), "url": facts.link}],
        }
    )
    return blocks


def endpoint_blocks(title: str, facts: AlertFacts) -> list[dict]:
    return [
        {"type": "header", "text": plain(title)},
        {"type": "section", "text": mrkdwn(slack_escape(facts.reason or "It failed for too long."))},
        {
            "type": "actions",
            "elements": [{"type": "button", "text": plain("Open the admin"), "url": facts.link}],
        },
    ]
