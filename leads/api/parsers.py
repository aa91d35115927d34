"""The API's JSON parser: DRF's own lets a deeply nested body overflow the
stack (a 500) and passes lone surrogates and NUL on to the database; this one
refuses them with a 400 naming the field, under the bounds ingest keeps."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser
from rest_framework.parsers import get_encoding

from leads import client_json


class JSONParser(DRFJSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read()
        encoding = get_encoding(parser_context or {})
        if encoding.lower().replace("-", "") != "utf8":
            try:
                body = body.decode(encoding)
            except (LookupError, UnicodeDecodeError) as error:
                raise ParseError(f"JSON parse error - {error}") from None
        try:
            return client_json.loads(body)
        except client_json.RefusedJSON as refused:
            raise ParseError(f"JSON parse error - {refused}") from None
