"""How the traits a call sends merge into the traits stored."""


def merged_traits(stored, sent: dict) -> dict:
    """`sent` over `stored`, key by key. Stored traits that are not an
    object (a list, a number: written by hand, or before the API refused
    them) are replaced, so no later call fails on them."""
    return {**stored, **sent} if isinstance(stored, dict) else dict(sent)
