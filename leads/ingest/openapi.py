"""The ingestion endpoints in the OpenAPI schema. They are plain Django views
(Segment's wire format, not DRF's), so drf-spectacular cannot see them; this
hook describes them."""

CALLS = ["track", "identify", "group", "page", "screen", "alias"]

MESSAGE = {
    "type": "object",
    "description": "A Segment message. 32 KB at most; messageId under 100 characters.",
    "required": ["messageId"],
    "properties": {
        "type": {"type": "string", "enum": CALLS, "description": "Required inside a batch."},
        "messageId": {"type": "string", "maxLength": 99},
        "userId": {"type": "string"},
        "anonymousId": {"type": "string"},
        "groupId": {"type": "string", "description": "group: the account's external id."},
        "previousId": {"type": "string", "description": "alias: the id being merged."},
        "event": {"type": "string", "description": "track: the event name."},
        "name": {"type": "string", "description": "page and screen: the page name."},
        "properties": {"type": "object"},
        "traits": {"type": "object"},
        "timestamp": {"type": "string", "format": "date-time"},
        "originalTimestamp": {"type": "string", "format": "date-time"},
        "sentAt": {"type": "string", "format": "date-time"},
        "context": {"type": "object"},
        "writeKey": {"type": "string", "description": "Instead of HTTP Basic."},
    },
}
BATCH = {
    "type": "object",
    "description": "Up to 2,500 messages and 500 KB; stored all or nothing.",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "maxItems": 2500, "items": MESSAGE},
        "sentAt": {"type": "string", "format": "date-time"},
        "writeKey": {"type": "string"},
        "context": {"type": "object"},
    },
}
ERROR = {
    "type": "object",
    "properties": {
        "success": {"type": "boolean"},
        "code": {"type": "string"},
        "message": {"type": "string", "description": "Names the problem and the message index."},
        "errors": {
            "type": "array",
            "description": "400 only: every problem found.",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer", "nullable": True},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def operation(call: str, body: dict) -> dict:
    def error(description):
        return {"description": description, "content": {"application/json": {"schema": ERROR}}}

    return {
        "post": {
            "operationId": f"ingest_{call}",
            "tags": ["ingest"],
            "summary": f"Segment-compatible {call}",
            "description": "Authenticate with a source's write key as the HTTP Basic user name "
            "(empty password) or as writeKey in the body. Bodies may be gzipped "
            "(Content-Encoding: gzip). A resent messageId is stored once per source.",
            "security": [{"writeKey": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "200": {
                    "description": "Stored (committed).",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"success": {"type": "boolean"}}}
                        }
                    },
                },
                "400": error(
                    "Malformed JSON (invalid_json), a missing field or a wrong type "
                    "(invalid_request), or over a limit (too_large)."
                ),
                "401": error("Unknown or inactive write key."),
                "415": error("A Content-Encoding other than gzip."),
                "429": error("Throttled; retry after Retry-After seconds."),
                "503": error("Storage unavailable; retry after Retry-After seconds."),
            },
        }
    }


def add_ingest_paths(result, generator, request, public):
    """drf-spectacular postprocessing hook."""
    result.setdefault("paths", {})["/v1/batch"] = operation("batch", BATCH)
    result["paths"]["/v1/import"] = operation("import", BATCH)
    for call in CALLS:
        result["paths"][f"/v1/{call}"] = operation(call, MESSAGE)
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["writeKey"] = {
        "type": "http",
        "scheme": "basic",
        "description": "A source's write key as the user name, no password. Ingest only.",
    }
    return result
