"""Webhooks: signed, retried deliveries of the outbox's messages to the
endpoints managers add in the admin (a CRM, Zapier, n8n, a small receiver)."""
