"""common.lazy: package names imported on first access and cached."""

import pytest

from common.lazy import lazy_getattr


def test_a_lazy_name_is_imported_once_and_cached_in_the_namespace():
    namespace: dict = {}
    getattr_ = lazy_getattr("pkg", {"dumps": "json"}, namespace)
    import json

    assert getattr_("dumps") is json.dumps
    assert namespace == {"dumps": json.dumps}


def test_an_unknown_name_is_an_attribute_error_naming_the_package():
    getattr_ = lazy_getattr("pkg", {"dumps": "json"}, {})
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'loads'"):
        getattr_("loads")
