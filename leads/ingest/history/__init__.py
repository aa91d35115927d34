"""Bringing a customer's history in: events from Segment and RudderStack
exports and warehouse unloads (JSON Lines or CSV), and outcomes from a CRM,
validated exactly as live calls are."""
