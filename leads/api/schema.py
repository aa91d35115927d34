"""The error responses every API operation documents, for its OpenAPI schema."""

from drf_spectacular.utils import OpenApiResponse

from .serializers import ErrorSerializer

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input: the body names each field in error."),
    401: OpenApiResponse(ErrorSerializer, description="No or invalid credentials."),
    403: OpenApiResponse(ErrorSerializer, description="Signed in, but not allowed (e.g. not a manager)."),
    404: OpenApiResponse(ErrorSerializer, description="No such object, or not yours to see."),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests; retry after Retry-After seconds."),
}


def documented(ok, *codes):
    return {200: ok, **{code: ERRORS[code] for code in (401, 403, 429, *codes)}}
