import pytest

pytest.register_assert_rewrite("cachemere.testing")
