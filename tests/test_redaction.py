"""mask_location: no password survives, whatever form the LOCATION takes; nothing else changes."""

from __future__ import annotations

import pytest

from cachemere.redaction import WITHHELD, mask_location, mask_text, redact, secrets_of

PW = "Pa55-w0rd"


@pytest.mark.parametrize(
    ("location", "masked"),
    [
        (f"redis://alice:{PW}@127.0.0.1:6379/0", "redis://alice:***@127.0.0.1:6379/0"),
        (f"redis://:{PW}@host", "redis://:***@host"),
        (f"rediss://:{PW}@host:6380", "rediss://:***@host:6380"),
        (f"redis://host/0?password={PW}", "redis://host/0?password=***"),
        (f"redis://host/0?db=1&PassWord={PW}&socket_timeout=1", "redis://host/0?db=1&PassWord=***&socket_timeout=1"),
        (f"redis://host/0?pass%77ord={PW}", "redis://host/0?pass%77ord=***"),
        (f"redis://host?ssl_password={PW}", "redis://host?ssl_password=***"),
        (f"unix://:{PW}@/run/redis/redis.sock", "unix://:***@/run/redis/redis.sock"),
        (f"unix://bob:{PW}@/run/redis.sock?db=2", "unix://bob:***@/run/redis.sock?db=2"),
        (f"unix:///run/redis.sock?password={PW}&db=3", "unix:///run/redis.sock?password=***&db=3"),
        (f"redis://u:{PW}@one:1;redis://:{PW}@two:2", "redis://u:***@one:1;redis://:***@two:2"),
        (f"redis://u:{PW}@one:1, unix:///s?password={PW}", "redis://u:***@one:1, unix:///s?password=***"),
        ([f"redis://u:{PW}@one:1", f"redis://two:2/0?password={PW}"], "redis://u:***@one:1, redis://two:2/0?password=***"),
        ((f"unix://:{PW}@/s",), "unix://:***@/s"),
        # Unencoded '@', '/', ';' or ',' in a password: masked all the same.
        ("redis://u:p@ss/w;rd@host:1", "redis://u:***@host:1"),
        ("redis://u:hunter2;x@h:1", "redis://u:***@h:1"),
        ("redis://u:a,b@h:1", "redis://u:***@h:1"),
    ],
)
def test_every_password_form_is_masked(location: object, masked: str) -> None:
    shown = mask_location(location)
    assert shown == masked
    for secret in (PW, "p@ss", "w;rd", "hunter2", "a,b"):
        assert secret not in shown


@pytest.mark.parametrize(
    "location",
    [
        "redis://127.0.0.1:6379/0",
        "redis://alice@host:1",  # a user name alone is no secret
        "unix:///run/redis.sock?db=1",
        "redis://a:1;redis://b:2",
        "127.0.0.1:11211",
        "/var/tmp/django_cache",
        "my_cache_table",
        "",
    ],
)
def test_locations_without_a_password_are_unchanged(location: str) -> None:
    assert mask_location(location) == location


def test_non_string_locations_are_shown_as_they_are() -> None:
    assert mask_location(6379) == "6379"
    assert mask_location(None) == "None"
    assert mask_location(["127.0.0.1:11211", "127.0.0.2:11211"]) == "127.0.0.1:11211, 127.0.0.2:11211"


def test_urls_inside_a_message_are_masked() -> None:
    text = f"cannot reach redis://:{PW}@h:1 (and unix:///s?password={PW}) now"
    shown = mask_text(text)
    # A query value may run to the end of the text: masking too much is the safe side.
    assert shown.startswith("cannot reach redis://:***@h:1 (and unix:///s?password=***")
    assert PW not in shown


def test_secrets_of_finds_raw_and_decoded_passwords() -> None:
    assert secrets_of(f"redis://u:p%40ss@h;redis://h?PASSWORD={PW}") == [PW, "p%40ss", "p@ss"]
    assert secrets_of(["redis://h:1", "unix:///s"]) == []


def test_redact_masks_bare_passwords_and_withholds_quoted_pieces() -> None:
    url = f"redis://:{PW}@h:1/0?password=other-secret"
    assert redact(f"{PW!r} is wrong in {url}", url) == "'***' is wrong in redis://:***@h:1/0?password=***"
    assert redact(f"no other-secret or {PW}, please", url) == "no *** or ***, please"
    harmless = "Invalid value for 'db' in connection URL."
    assert redact(harmless, url) == harmless
    # A parser that cut 'pa/ss' at its '/' quotes only 'pa'.
    assert redact("Port could not be cast to integer value as 'pa'", "redis://:pa/ss@h") == WITHHELD


@pytest.mark.parametrize(
    "url",
    ["redis://:s3cr?et@localhost:6379/0", "redis://alice:pa?ss/wo@rd@localhost/0", "unix://:s3cr?et@/run/redis.sock"],
)
def test_a_password_holding_a_question_mark_or_slash_is_masked(url: str) -> None:
    masked = mask_location(url)
    assert "s3cr" not in masked and "pa?ss" not in masked and "wo@rd" not in masked
    assert "***" in masked
    secret = url.split("://", 1)[1].rsplit("@", 1)[0].split(":", 1)[1]
    assert secret in secrets_of(url)
    assert secret not in redact(f"bad port: could not parse {secret!r}", url)
