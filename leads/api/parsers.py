"""The API's JSON parser: DRF's own lets a deeply nested body overflow the
stack (a 500) and passes lone surrogates and NUL on to the database; this one
refuses them with a 400 naming the field, under the bounds ingest keeps
(leads.client_json)."""

from django.conf import settings
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser as DRFJSONParser

from leads import client_json


class JSONParser(DRFJSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        if encoding.lower().replace("-", "") != "utf8":
            try:  # bytes.decode takes text encodings only (no bz2_codec bombs)
                body = body.decode(encoding)
            except (LookupError, UnicodeDecodeError) as error:
                raise ParseError(f"JSON parse error - {error}") from None
        try:
            return client_json.loads(body)
        except client_json.RefusedJSON as refused:
            raise refusal(refused) from None


def refusal(refused: client_json.RefusedJSON) -> Exception:
    """A field's problem keyed by the field, as DRF reports a field's
    errors ({"traits": ["traits.a.a...: nested deeper than 32 levels"]});
    the body's as a parse error."""
    top = refused.path[0] if refused.path else None
    if isinstance(top, str):
        return ValidationError({client_json.path([top]): [str(refused)]})
    return ParseError(f"JSON parse error - {refused}")
