"""A zoo of small named modules the tests share, each built for one behaviour."""
