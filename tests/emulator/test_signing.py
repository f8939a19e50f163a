"""The signing helpers agree with the SDK's own ACS3-HMAC-SHA256 implementation."""

from __future__ import annotations

import string

from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest
from hypothesis import given, settings
from hypothesis import strategies as st

from cams_emulator import signing

KEYS = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12)
VALUES = st.text(max_size=20)
HEADER_VALUES = st.text(alphabet=string.printable.strip() + " ", max_size=30).map(str.strip)


def sdk_authorization(params, headers, body_hash, ak, secret):
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = dict(params)
    request.headers = dict(headers)
    return Utils.get_authorization(request, "ACS3-HMAC-SHA256", body_hash, ak, secret)


@settings(max_examples=200, deadline=None)
@given(
    params=st.dictionaries(KEYS, VALUES, max_size=5),
    extra_headers=st.dictionaries(
        KEYS.map(lambda k: f"x-acs-{k.lower()}"), HEADER_VALUES, max_size=3
    ),
    secret=st.text(min_size=1, max_size=20),
)
def test_sign_request_matches_the_sdk(params, extra_headers, secret):
    # GIVEN any query (alphanumeric names, any values) and any extra x-acs headers
    headers = {
        "host": "127.0.0.1:1",
        "x-acs-action": "DeleteInstance",
        "x-acs-version": "2020-06-06",
        "x-acs-date": "2024-01-01T00:00:00Z",
        "x-acs-signature-nonce": "n",
        **extra_headers,
    }
    # WHEN both sign it
    ours = signing.sign_request(
        method="POST",
        path="/",
        params=params,
        headers=headers,
        body=b"",
        access_key_id="ak",
        access_key_secret=secret,
    )
    headers["x-acs-content-sha256"] = signing.EMPTY_PAYLOAD_HASH
    theirs = sdk_authorization(params, headers, signing.EMPTY_PAYLOAD_HASH, "ak", secret)
    # THEN the Authorization headers are identical
    assert ours["authorization"] == theirs


def test_canonical_query_encodes_as_rfc3986():
    # Spaces are %20 (not +), '~' stays, '*' and '/' are escaped.
    assert signing.canonical_query({"b": "x y", "a": "~*/+"}) == "a=~%2A%2F%2B&b=x%20y"


def test_canonical_headers_sort_and_join_repeated_values():
    block = signing.canonical_headers({"b": [" 2 ", "1"], "a": ["v"]}, ["b", "a"])
    assert block == "a:v\nb:1,2\n"


def test_parse_authorization():
    auth = signing.parse_authorization(
        "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,Signature=ABCDEF"
    )
    assert auth == signing.Authorization("ACS3-HMAC-SHA256", "AK", ("host", "x-acs-date"), "abcdef")
    assert signing.parse_authorization("ACS3-HMAC-SHA256 nonsense") is None
