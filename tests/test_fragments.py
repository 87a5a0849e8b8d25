"""make_template_fragment_key: Django 6.1's keys, exactly, and no collisions between vary-on lists."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cachemere.fragments import make_template_fragment_key

# Django 6.1.3's own vectors (tests/cache/tests.py TestMakeTemplateFragmentKey).
VECTORS = [
    ("a.fragment", None, "template.cache.a.fragment.d41d8cd98f00b204e9800998ecf8427e"),
    ("foo", ["abc"], "template.cache.foo.a6360ec2c58ecc4b23fd5bd00216fccd"),
    ("bar", ["abc", "def"], "template.cache.bar.250310c146db454966b64f5fc265a540"),
    ("spam", ["abc:def%"], "template.cache.spam.bf6c24ef2576004284e0522c15314d8c"),
    ("foo", [1, 2, 3, 4, 5], "template.cache.foo.087c006c1b99e0d147f624b4921f8a13"),
    ("foo", ["42º", "😀"], "template.cache.foo.ab66482052ab2084b9d25bdd04bc9b10"),
    ("foo", ["x" * 10000], "template.cache.foo.abff8a6702abde497feae7f61de2ef1e"),
]


@pytest.mark.parametrize(("name", "vary_on", "expected"), VECTORS)
def test_keys_are_djangos_6_1_keys(name: str, vary_on: list[object] | None, expected: str) -> None:
    assert make_template_fragment_key(name, vary_on) == expected


def test_no_vary_on_and_an_empty_list_are_one_key() -> None:
    assert make_template_fragment_key("a.fragment", []) == make_template_fragment_key("a.fragment")


def test_any_iterable_of_values_works() -> None:
    assert make_template_fragment_key("foo", (v for v in [1, 2, 3, 4, 5])) == VECTORS[4][2]
    assert make_template_fragment_key("bar", ("abc", "def")) == VECTORS[2][2]


def test_values_that_join_alike_do_not_collide() -> None:
    # Django 5.2 hashed "a:b:" + "c:" and "a:" + "b:c:" alike.
    assert make_template_fragment_key("foo", ["a:b", "c"]) != make_template_fragment_key("foo", ["a", "b:c"])
    assert make_template_fragment_key("foo", ["ab", ""]) != make_template_fragment_key("foo", ["a", "b"])
    assert make_template_fragment_key("foo", ["1,", "2"]) != make_template_fragment_key("foo", ["1", ",2"])


def test_values_count_as_their_str() -> None:
    # Documented: None and "None" (and 1 and "1") share one copy, as in Django.
    assert make_template_fragment_key("foo", [None]) == make_template_fragment_key("foo", ["None"])
    assert make_template_fragment_key("foo", [1]) == make_template_fragment_key("foo", ["1"])


PROBE = """
import sys
sys.modules["jinja2"] = None  # as if Jinja2 were not installed
import cachemere, cachemere.fragments, cachemere.templates
print(cachemere.fragments.make_template_fragment_key("a.fragment"))
try:
    import cachemere.templates.jinja
except ImportError as exc:
    print(exc)
"""


def test_keys_and_the_templates_package_need_no_jinja2_and_the_tag_names_its_extra() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    key, error = done.stdout.splitlines()
    assert key == VECTORS[0][2]
    assert "pip install 'cachemere[jinja]'" in error
