"""IAM tokens (spec iam-token.md §1, §2, §7): format checks, then a real HTTPS round trip to a stand-in STS.

AWS's STS cannot be reached here, so `StandInSts` plays it over TLS on 127.0.0.1: it checks SigV4 with
plain hashlib/hmac (§1.2) and answers the way STS does (JSON for Accept: application/json, 403 XML,
400 Throttling). Nothing of kubegate is mocked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote, unquote

import botocore.session
import pytest
from awscli.customizations.eks.get_token import STSClientFactory, TokenGenerator
from hypothesis import given, settings
from hypothesis import strategies as st

from kubegate import pki
from kubegate.identity import iam_token, token_maker
from kubegate.identity.iam_token import (
    HttpStsClient,
    StsEndpointPolicy,
    StsIdentity,
    TokenError,
    TokenVerifier,
    canonicalize_arn,
    parse_token,
    sts_identity,
)

# §1.3 shared vector (AIA token_test.go:700-759)
KEY, SECRET = "ASIAR2TG44V6AS3ZZE7C", "4KD5cntGcVmLWRdF5wvNRuzNL5Qxmp6OKVY6Fz/Q"
T0 = datetime(2023, 4, 28, tzinfo=timezone.utc)
NOW = T0 + timedelta(minutes=5)
VECTOR = (
    "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtd2VzdC0yLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eSZWZXJzaW9uPT"
    "IwMTEtMDYtMTUmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyNTYmWC1BbXotQ3JlZGVudGlhbD1BU0lBUjJURzQ0VjZBUzNaWkU3"
    "QyUyRjIwMjMwNDI4JTJGdXMtd2VzdC0yJTJGc3RzJTJGYXdzNF9yZXF1ZXN0JlgtQW16LURhdGU9MjAyMzA0MjhUMDAwMDAwWiZYLUFtei"
    "1FeHBpcmVzPTYwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCUzQngtazhzLWF3cy1pZCZYLUFtei1TaWduYXR1cmU9ZTIxMWRiYTc3YWJh"
    "OWRjNDRiMGI2YmUzOGI4ZWFhZDA5MjU5OWM1MTU3ZjYzMTQ0NDRjNWI5ZDg1NzQ3ZjVjZQ"
)
URL = base64.urlsafe_b64decode(VECTOR[11:] + "==").decode()
HOST = "sts.us-west-2.amazonaws.com"
AWS = StsEndpointPolicy(regions=frozenset({"us-west-2", "us-east-1"}))
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
LOWER = "https://{}/?action=GetCallerIdentity&x-amz-signedheaders=x-k8s-aws-id&x-amz-date=20230428T000000Z&x-amz-expires=60"


def tok(url: str) -> str:
    return token_maker.encode_token(url)


def on(host: str, url: str = URL) -> str:
    return tok(url.replace(HOST, host, 1))


def edit(old: str, new: str) -> str:
    assert old in URL
    return tok(URL.replace(old, new, 1))


def policy(partition: str, *regions: str) -> StsEndpointPolicy:
    return StsEndpointPolicy(partition=partition, regions=frozenset(regions))


STD_URL = URL + "&X-Amz-Security-Token=~~~~~~"
STD_B64 = base64.b64encode(STD_URL.encode()).decode().rstrip("=")
CVE = ("https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-"
       "SHA256&X-Amz-Credential=ASIAAAAAAAAAAAAAAAAA%2F20220601%2Fus-west-2%2Fsts%2Faws4_request&X-Amz-Date="
       "20230428T000000Z&X-Amz-Expires=900&X-Amz-Security-Token=XXXXXXXXXXXXX&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"
       "&x-amz-credential=eve&X-Amz-Signature=" + "9" * 64)
NON_AWS = [policy("aws-cn", "cn-north-1"), policy("aws-us-gov", "us-gov-west-1"), policy("aws-iso", "us-iso-east-1"),
           policy("aws-iso-b", "us-isob-east-1"), policy("aws-iso-e", "eu-isoe-west-1"),
           policy("aws-iso-f", "us-isof-south-1")]


def neg(case: str, token: str, reason: str, pol: StsEndpointPolicy = AWS, now: datetime = NOW) -> Any:
    return pytest.param(token, reason, pol, now, id=case)


NEGATIVE = [  # §7.1 #1-33 and #43: refused before any network call
    neg("1-nul-4097", "\0" * 4097, "token is too large"),
    neg("1-padded-session-token", tok(URL + "&X-Amz-Security-Token=" + "A" * 3000), "token is too large"),
    neg("2-v2-prefix", "k8s-aws-v2." + VECTOR[11:], 'missing expected "k8s-aws-v1." prefix'),
    neg("3-upper-prefix", "K8S-AWS-V1." + VECTOR[11:], "prefix"),
    neg("3-leading-space", " " + VECTOR, "prefix"),
    neg("3-bearer-left-in", "Bearer " + VECTOR, "prefix"),
    neg("4-empty", "", "prefix"),
    neg("4-prefix-only", "k8s-aws-v1.", 'unexpected scheme ""'),
    neg("5-len-1-mod-4", "k8s-aws-v1.decodingerror", "illegal base64 data at input byte 12"),
    neg("6-padding", VECTOR + "==", "illegal base64 data"),
    neg("7-standard-alphabet", "k8s-aws-v1." + STD_B64, "illegal base64 data"),
    neg("8-bang", VECTOR[:40] + "!" + VECTOR[40:], "illegal base64 data at input byte 29"),
    neg("8-space", VECTOR[:40] + " " + VECTOR[40:], "illegal base64 data"),
    neg("8-dot", VECTOR[:40] + "." + VECTOR[40:], "illegal base64 data"),
    neg("8-newline", VECTOR[:40] + "\r\n" + VECTOR[40:], "illegal base64 data"),
    neg("9-not-a-url", tok(":ab:cd.af:/asda"), "missing protocol scheme"),
    neg("10-http", tok(URL.replace("https://", "http://")), 'unexpected scheme "http"'),
    neg("11-google", tok("https://google.com"), "invalid host format: google.com"),
    neg("12-website", on("website.amazonaws.com"), "unexpected hostname"),
    neg("13-cn-domain-on-aws", on("sts.amazonaws.com.cn"), "unexpected hostname"),
    neg("13-cn-dualstack-on-aws", on("sts.cn-north-1.api.amazonwebservices.com.cn"), "unexpected hostname"),
    *[neg(f"14-global-on-{p.partition}", on("sts.amazonaws.com"), "unexpected hostname", p) for p in NON_AWS],
    neg("15-aws-fips-on-cn", on("sts-fips.us-east-1.amazonaws.com"), "unexpected hostname", NON_AWS[0]),
    neg("15-iso-on-cn", on("sts.us-iso-east-1.c2s.ic.gov"), "unexpected hostname", NON_AWS[0]),
    neg("16-port", on("sts.amazonaws.com:443"), "unexpected hostname"),
    neg("16-trailing-dot", on(HOST + "."), "unexpected hostname"),
    neg("16-upper-case", on(HOST.upper()), "unexpected hostname"),
    neg("17-userinfo", on("a@" + HOST), "unexpected hostname"),
    neg("18-s3-website-label", on("sts.s3-website-us-east-1.amazonaws.com"), "unexpected hostname"),
    neg("18-not-a-region", on("sts.not-a-region.amazonaws.com"), "unexpected hostname"),
    neg("18-gov-region-on-aws", on("sts.us-gov-west-1.amazonaws.com"), "unexpected hostname"),
    neg("18-region-not-configured", on("sts.eu-west-1.amazonaws.com"), "unexpected hostname"),
    neg("19-path-abc", edit(".com/?", ".com/abc?"), "unexpected path"),
    neg("19-empty-path", edit(".com/?", ".com?"), "unexpected path"),
    neg("19-double-slash", edit(".com/?", ".com//?"), "unexpected path"),
    neg("19-encoded-slash", edit(".com/?", ".com/%2F?"), "unexpected path"),
    neg("20-not-allowed", tok(URL + "&NoInWhiteList=abc"), 'non-whitelisted query parameter "NoInWhiteList"'),
    neg("20-content-sha", tok(URL + "&X-Amz-Content-Sha256=" + EMPTY_SHA256), "non-whitelisted"),
    neg("20-empty-value", tok(URL + "&Foo="), "non-whitelisted"),
    neg("21-action-twice", tok(f"https://{HOST}/?action=get&action=post"), "multiple values not supported"),
    neg("21-date-twice", tok(URL + "&X-Amz-Date=20230428T000000Z"), "multiple values not supported"),
    neg("22-cve-2022-2385", tok(CVE), 'duplicate query parameter found: "x-amz-credential"'),
    neg("23-signedheaders-case", tok(URL.replace("host%3Bx-k8s-aws-id", "host") + "&x-amz-signedheaders=x-k8s-aws-id"),
        "duplicate query parameter found"),
    neg("24-action-case", tok(URL + "&action=AssumeRole"), "duplicate query parameter found"),
    neg("24-date-case", tok(URL + "&x-amz-date=20230428T000000Z"), "duplicate query parameter found"),
    neg("25-encoded-key", tok(URL + "&X%2DAmz%2DDate=20230428T000000Z"), "multiple values not supported"),
    neg("26-missing-action", edit("Action=GetCallerIdentity&", ""), "unexpected action parameter"),
    neg("26-other-action", edit("GetCallerIdentity", "NotGetCallerIdenity"), "unexpected action parameter"),
    neg("26-action-value-case", edit("GetCallerIdentity", "getcalleridentity"), "unexpected action parameter"),
    neg("27-near-miss", edit("host%3Bx-k8s-aws-id", "abc%3bx-k8s-aws-i%3bdef"), "did not sign the x-k8s-aws-id"),
    neg("27-host-only", edit("host%3Bx-k8s-aws-id", "host"), "did not sign the x-k8s-aws-id"),
    neg("27-missing", edit("&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id", ""), "did not sign the x-k8s-aws-id"),
    *[neg(f"28-expires-{v or 'missing'}", edit("&X-Amz-Expires=60", f"&X-Amz-Expires={v}" if v else ""),
          "invalid X-Amz-Expires")
      for v in ("9999999", "901", "-1", "60s", "", "6_0", quote("٦٠"), "%2060")],
    neg("29-date-missing", edit("&X-Amz-Date=20230428T000000Z", ""), "X-Amz-Date parameter must be present"),
    neg("29-date-empty", edit("=20230428T000000Z", "="), "X-Amz-Date parameter must be present"),
    *[neg(f"30-date-{v}", edit("20230428T000000Z", v), "error parsing X-Amz-Date")
      for v in ("xxxxxxx", "2023-04-28T00:00:00Z", "2023428T000000Z", "20230431T000000Z", "20230428T000060Z")],
    neg("31-1990", edit("20230428T000000Z", "19900422T010203Z"), "X-Amz-Date parameter is expired"),
    neg("31-15min-1s", VECTOR, "is expired", now=T0 + timedelta(minutes=15, seconds=1)),
    neg("32-bad-escape-value", edit("X-Amz-Expires=60", "X-Amz-Expires=60%gh"), "malformed query parameter"),
    neg("32-bad-escape-key", tok(URL + "&X-Amz-Foo%g=1"), "malformed query parameter"),
    neg("33-raw-semicolon", edit("host%3Bx-k8s-aws-id", "host;x-k8s-aws-id"), "invalid semicolon separator"),
    neg("43-future-date", VECTOR, "in the future", now=T0 - timedelta(hours=1)),
    neg("extra-fragment", tok(URL + "#frag"), "invalid character"),
    neg("extra-space-in-url", edit("Action=", "Action= "), "invalid character"),
    neg("extra-kelvin-sign-key", tok(URL + "&X-Amz-Security-To%E2%84%AAen=x"), "non-whitelisted"),
    neg("extra-not-utf8", tok(URL + "&X-Amz-Security-Token=%ff"), "malformed query parameter"),
]


@pytest.mark.parametrize("token, reason, pol, now", NEGATIVE)
def test_format_refusals(token: str, reason: str, pol: StsEndpointPolicy, now: datetime) -> None:
    with pytest.raises(TokenError) as refused:
        parse_token(token, policy=pol, now=now)
    assert refused.value.kind == "format"
    assert refused.value.message.startswith("input token was not properly formatted: ")
    assert reason in refused.value.message


def test_negative_fixtures_are_what_they_claim() -> None:
    assert len(tok(URL + "&X-Amz-Security-Token=" + "A" * 3000)) > 4096
    assert "+" in STD_B64 or "/" in STD_B64
    parse_token(tok(STD_URL), policy=AWS, now=NOW)  # the same URL in the URL-safe alphabet is fine
    with pytest.raises(TokenError) as at_limit:  # 4096 bytes is not "too large" (it fails later, on length mod 4)
        parse_token(VECTOR + "A" * (4096 - len(VECTOR)), policy=AWS, now=NOW)
    assert "illegal base64" in at_limit.value.message


def test_vector_parses_with_boundaries() -> None:
    """P3: valid at exactly X-Amz-Date + 15 min (inclusive); the format stage extracts the key and date."""
    for now in (T0, NOW, T0 + timedelta(minutes=15)):
        parsed = parse_token(VECTOR, policy=AWS, now=now)
        assert (parsed.url, parsed.host, parsed.access_key_id) == (URL, HOST, KEY)
        assert (parsed.date, parsed.region_label) == (T0, "us-west-2")


@pytest.mark.parametrize("region", ["us-east-2", "ap-northeast-2", "ca-central-1", "eu-west-1", "sa-east-1"])
def test_lower_case_parameter_names_pass(region: str) -> None:
    """P4 (token_test.go:295-299)."""
    parsed = parse_token(tok(LOWER.format(f"sts.{region}.amazonaws.com")), policy=policy("aws", region), now=NOW)
    assert parsed.region_label == region and parsed.access_key_id == ""


P5 = [("aws", "us-west-2", h) for h in ("sts.amazonaws.com", "sts.us-west-2.amazonaws.com",
                                       "sts-fips.us-west-2.amazonaws.com", "sts.us-west-2.api.aws",
                                       "sts-fips.us-west-2.api.aws")]
P5 += [("aws", r, f"sts.{r}.amazonaws.com") for r in ("us-east-1", "us-east-2", "us-west-1", "ap-south-1",
                                                      "ap-northeast-1", "ap-southeast-2", "ca-central-1",
                                                      "eu-central-1", "eu-west-3", "eu-north-1")]
P5 += [("aws-cn", "cn-north-1", "sts.cn-north-1.amazonaws.com.cn"),
       ("aws-cn", "cn-northwest-1", "sts.cn-northwest-1.amazonaws.com.cn"),
       ("aws-cn", "cn-north-1", "sts.cn-north-1.api.amazonwebservices.com.cn"),
       ("aws-us-gov", "us-gov-east-1", "sts.us-gov-east-1.amazonaws.com"),
       ("aws-iso", "us-iso-east-1", "sts.us-iso-east-1.c2s.ic.gov")]


@pytest.mark.parametrize("partition, region, host", P5)
def test_accepted_hosts(partition: str, region: str, host: str) -> None:
    """P5, under the strict per-region rule (the region must be configured)."""
    parsed = parse_token(on(host), policy=policy(partition, region), now=NOW)
    assert parsed.host == host
    assert parsed.region_label == ("global" if host == "sts.amazonaws.com" else region)


@pytest.mark.parametrize("expires", ["0", "60", "900", "0060", "%2B60", "-0"])
def test_expires_range(expires: str) -> None:
    """P6, plus Go Atoi quirks AIA accepts (leading zeros, an explicit sign)."""
    parse_token(edit("X-Amz-Expires=60", f"X-Amz-Expires={expires}"), policy=AWS, now=NOW)


def test_policy_validates_regions_against_partition() -> None:
    for partition, region in [("aws", "not-a-region"), ("aws", "us-gov-west-1"), ("aws-cn", "us-east-1")]:
        with pytest.raises(ValueError, match="not regions of partition"):
            policy(partition, region)
    with pytest.raises(ValueError, match="unknown partition"):
        policy("aws-xx", "us-east-1")


def test_partition_table_matches_botocore() -> None:
    data = json.loads((Path(botocore.__file__).parent / "data" / "partitions.json").read_text())
    botocore_regex = {p["id"]: (p["outputs"]["dnsSuffix"], p["regionRegex"]) for p in data["partitions"]}
    for partition, (domain, _, regex) in iam_token._PARTITIONS.items():
        assert botocore_regex[partition] == (domain, f"^{regex.replace('-', chr(92) + '-')}$")


def test_verifier_refuses_unsendable_cluster_id() -> None:
    http = HttpStsClient()
    try:
        for cluster_id in ("", "a\r\nb", "two words"):
            with pytest.raises(ValueError):
                TokenVerifier(cluster_id=cluster_id, policy=AWS, sts=http, clock=lambda: NOW)
    finally:
        http.close()


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.text().map(lambda s: "k8s-aws-v1." + s),
                 st.text().map(tok), st.text(alphabet="&=%;?/:.#@+-_~Xx0-9aAsStT").map(lambda s: tok(URL + s))))
def test_random_tokens_raise_only_token_error(token: str) -> None:
    try:
        parse_token(token, policy=AWS, now=NOW)
    except TokenError as refused:
        assert refused.kind == "format"


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text(), st.text())
def test_random_sts_answers_raise_only_token_error(account: str, arn: str, user_id: str) -> None:
    try:
        sts_identity(account=account, arn=arn, user_id=user_id, url=URL)
    except TokenError as refused:
        assert refused.kind == "sts"


# ---------------------------------------------------------------- token maker (§1.3, §1.4)


@pytest.fixture(autouse=True, scope="module")
def _no_aws_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module-scoped so hypothesis tests may run beside it; botocore must not read the host's AWS setup."""
    nowhere = str(tmp_path_factory.mktemp("aws") / "none")
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_STS_REGIONAL_ENDPOINTS",
                     "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_DEFAULT_REGION", "AWS_REGION"):
            env.delenv(name, raising=False)
        env.setenv("AWS_CONFIG_FILE", nowhere)
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", nowhere)
        yield


def session(key: str = KEY, secret: str = SECRET, token: str | None = None) -> botocore.session.Session:
    s = botocore.session.Session()
    s.set_credentials(key, secret, token)
    return s


def make(cluster: str, *, region: str = "us-west-2", endpoint: str | None = None, at: datetime = T0,
         key: str = KEY, secret: str = SECRET, session_token: str | None = None) -> str:
    with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        client = token_maker.new_sts_client(region=region, endpoint_url=endpoint,
                                            session=session(key, secret, session_token))
        return token_maker.make_token(client, cluster)


def test_generator_parity_with_vector() -> None:
    """P1: kubegate's maker and the AWS CLI's own TokenGenerator both produce the 493-character vector."""
    assert make("test-cluster") == VECTOR and len(VECTOR) == 493
    with mock.patch("botocore.auth.get_current_datetime", return_value=T0.replace(tzinfo=None)):
        cli_client = STSClientFactory(session()).get_sts_client(region_name="us-west-2")
        assert TokenGenerator(cli_client).get_token("test-cluster") == VECTOR


def test_vector_signature_recomputes_with_hashlib() -> None:
    """§1.2: the stand-in STS's checker agrees with botocore, so it can stand in for STS below."""
    query = URL.split("?", 1)[1]
    assert sigv4_valid(query, HOST, "test-cluster", SECRET, "us-west-2")
    assert not sigv4_valid(query, HOST, "other-cluster", SECRET, "us-west-2")
    assert not sigv4_valid(query.replace("Expires=60", "Expires=61"), HOST, "test-cluster", SECRET, "us-west-2")


@pytest.mark.parametrize("regional, host, label", [(None, "sts.us-east-2.amazonaws.com", "us-east-2"),
                                                   ("legacy", "sts.amazonaws.com", "global")])
def test_made_tokens_parse_back(monkeypatch: pytest.MonkeyPatch, regional: str | None, host: str, label: str) -> None:
    if regional:
        monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", regional)
    token = make("prod", region="us-east-2", session_token="FwoGZXIvYXdzE+/=token", at=NOW)
    parsed = parse_token(token, policy=policy("aws", "us-east-2"), now=NOW)
    assert (parsed.host, parsed.access_key_id, parsed.date, parsed.region_label) == (host, KEY, NOW, label)
    assert "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id" in parsed.url and "X-Amz-Expires=60" in parsed.url
    assert "X-Amz-Security-Token=FwoGZXIvYXdzE%2B%2F%3Dtoken" in parsed.url


def test_exec_credential() -> None:
    """P18 / §1.4."""
    assert token_maker.exec_credential("k8s-aws-v1.x", now=datetime(2026, 11, 28, 10, 0, 7, tzinfo=timezone.utc)) == {
        "kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "spec": {},
        "status": {"expirationTimestamp": "2026-11-28T10:14:07Z", "token": "k8s-aws-v1.x"}}
    beta = "client.authentication.k8s.io/v1beta1"
    v1 = '{"apiVersion": "client.authentication.k8s.io/v1"}'
    assert token_maker.exec_api_version(None) == (beta, None)
    assert token_maker.exec_api_version(v1) == ("client.authentication.k8s.io/v1", None)
    for raw in ("{", '{"apiVersion": "x"}', "[]"):
        version, warning = token_maker.exec_api_version(raw)
        assert version == beta and warning
    assert token_maker.exec_api_version('{"apiVersion": "client.authentication.k8s.io/v1alpha1"}')[1]


# ---------------------------------------------------------------- STS over real HTTPS (§2 rows 21-26, §7.1 #34-42)


def sigv4_valid(raw_query: str, host: str, cluster_id: str, secret: str, region: str) -> bool:
    """§1.2 written out with hashlib/hmac, independent of kubegate's and botocore's signers."""
    params = {unquote(k): unquote(v) for k, _, v in (p.partition("=") for p in raw_query.split("&") if p)}
    signature = params.pop("X-Amz-Signature", "")
    scope = params["X-Amz-Credential"].split("/")[1:]
    amz_date, signed = params["X-Amz-Date"], params["X-Amz-SignedHeaders"].split(";")
    if params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256" or scope != [amz_date[:8], region, "sts", "aws4_request"]:
        return False
    headers = {"host": host, "x-k8s-aws-id": cluster_id}
    canonical = "\n".join(["GET", "/", "&".join(f"{k}={v}" for k, v in sorted(
        (quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in params.items())),
        "".join(f"{h}:{headers[h]}\n" for h in signed), ";".join(signed), EMPTY_SHA256])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, "/".join(scope), hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), signature)


def sts_xml(code: str, message: str) -> bytes:
    return (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>").encode()


def sts_json(account: str, arn: str, user_id: str) -> bytes:
    result = {"Account": account, "Arn": arn, "UserId": user_id}
    return json.dumps({"GetCallerIdentityResponse": {"GetCallerIdentityResult": result,
                                                     "ResponseMetadata": {"RequestId": "r-1"}}}).encode()


ALICE = ("111122223333", "arn:aws:sts::111122223333:assumed-role/Admin/admin-session",
         "AROAIIRR6I5NDJBWMIRQQ:admin-session")


@dataclass
class StandInSts:
    """STS's observable GetCallerIdentity behaviour; `mode` switches on the failure modes §7.1 needs."""

    port: int = 0
    clock: datetime = NOW
    region: str = "us-west-2"
    keys: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # key id -> (secret, session token)
    mode: str = "sts"
    answer: bytes = sts_json(*ALICE)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def respond(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.requests.append((path, headers))
        if self.mode == "redirect":
            return 302, {"Location": f"https://127.0.0.1:{self.port}/elsewhere/?Action=GetCallerIdentity"}, b""
        if self.mode == "throttle":
            return 400, {}, sts_xml("Throttling", "Rate exceeded")
        if self.mode == "slow":
            time.sleep(1.5)
        if not self.signature_ok(path, headers):
            return 403, {}, sts_xml("SignatureDoesNotMatch", "The request signature we calculated does not match")
        if self.mode == "huge":
            return 200, {}, b" " * (iam_token.MAX_STS_BODY + 1) + self.answer
        if self.mode == "xml" or headers.get("accept") != "application/json":
            return 200, {}, b"<GetCallerIdentityResponse><GetCallerIdentityResult/></GetCallerIdentityResponse>"
        return 200, {}, b"xxxx" if self.mode == "garbage" else self.answer

    def signature_ok(self, path: str, headers: dict[str, str]) -> bool:
        route, _, query = path.partition("?")
        try:
            params = {unquote(k): unquote(v) for k, _, v in (p.partition("=") for p in query.split("&"))}
            secret, session_token = self.keys[params["X-Amz-Credential"].split("/")[0]]
            date = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
            return (route == "/" and params.get("X-Amz-Security-Token") == session_token
                    and abs(self.clock - date) <= timedelta(minutes=15)
                    and sigv4_valid(query, headers["host"], headers.get("x-k8s-aws-id", ""), secret, self.region))
        except (KeyError, ValueError):
            return False


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that gave up (the timeout test) leaves a broken pipe behind."""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        sts: StandInSts = self.server.sts  # type: ignore[attr-defined]
        status, headers, body = sts.respond(self.path, {k.lower(): v for k, v in self.headers.items()})
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        step = 16 if sts.mode == "drip" else max(len(body), 1)  # "drip": each read is quick, the whole is not
        for start in range(0, len(body), step):
            self.wfile.write(body[start:start + step])
            self.wfile.flush()
            time.sleep(0.1 if sts.mode == "drip" else 0)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class Tls:
    ca_bundle: str
    server_context: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    directory = tmp_path_factory.mktemp("sts-tls")
    authority = pki.new_authority("stand-in STS CA")
    certificate, key = authority.issue("127.0.0.1", dns_names=("localhost", HOST), ip_addresses=("127.0.0.1",))
    (directory / "ca.pem").write_bytes(pki.certificate_pem(authority.certificate))
    (directory / "cert.pem").write_bytes(pki.certificate_pem(certificate))
    (directory / "key.pem").write_bytes(pki.key_pem(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return Tls(str(directory / "ca.pem"), context)


@pytest.fixture(scope="module")
def server(tls: Tls) -> Iterator[ThreadingHTTPServer]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.socket = tls.server_context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def sts(server: ThreadingHTTPServer) -> StandInSts:
    stand_in = StandInSts(port=server.server_address[1], keys={KEY: (SECRET, None)})
    server.sts = stand_in  # type: ignore[attr-defined]
    return stand_in


@pytest.fixture
def client(tls: Tls) -> Iterator[HttpStsClient]:
    http = HttpStsClient(ca_bundle=tls.ca_bundle)
    yield http
    http.close()


def local(sts: StandInSts) -> str:
    return f"https://127.0.0.1:{sts.port}"


def local_policy(sts: StandInSts) -> StsEndpointPolicy:
    return StsEndpointPolicy(regions=frozenset({"us-west-2"}), extra_hosts=frozenset({f"127.0.0.1:{sts.port}"}))


def verifier(sts: StandInSts, client: HttpStsClient, cluster: str = "test-cluster") -> TokenVerifier:
    return TokenVerifier(cluster_id=cluster, policy=local_policy(sts), sts=client, clock=lambda: NOW)


def refused(sts: StandInSts, client: HttpStsClient, token: str, cluster: str = "test-cluster") -> TokenError:
    with pytest.raises(TokenError) as caught:
        verifier(sts, client, cluster).verify(token)
    return caught.value


def test_accepts_signed_token_and_sends_cluster_header(sts: StandInSts, client: HttpStsClient) -> None:
    """P2 and P8: §1.3 inputs (key, secret, cluster, signing time) against the local endpoint, clock at 00:05."""
    token = make("test-cluster", endpoint=local(sts))
    identity = verifier(sts, client).verify(token)
    assert identity == StsIdentity(
        account="111122223333", arn=ALICE[1], user_id=ALICE[2], principal_type="assumed-role",
        canonical_arn="arn:aws:iam::111122223333:role/Admin", principal_id="AROAIIRR6I5NDJBWMIRQQ",
        session_name="admin-session", access_key_id=KEY, sts_host=f"127.0.0.1:{sts.port}")
    [(path, headers)] = sts.requests
    assert local(sts) + path == parse_token(token, policy=local_policy(sts), now=NOW).url  # byte-exact
    assert headers["x-k8s-aws-id"] == "test-cluster" and headers["accept"] == "application/json"


def test_vector_token_verifies_end_to_end(
    sts: StandInSts, client: HttpStsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P2 exactly: the §1.3 token itself, its host routed to the stand-in (a hosts-file entry, in effect)."""
    connect = socket.create_connection

    def to_stand_in(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        return connect(("127.0.0.1", sts.port) if address == (HOST, 443) else address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", to_stand_in)
    identity = TokenVerifier(cluster_id="test-cluster", policy=AWS, sts=client, clock=lambda: NOW).verify(VECTOR)
    assert (identity.access_key_id, identity.sts_host, identity.canonical_arn) == (
        KEY, HOST, "arn:aws:iam::111122223333:role/Admin")
    [(path, headers)] = sts.requests
    assert f"https://{HOST}{path}" == URL and headers["host"] == HOST
    assert headers["x-k8s-aws-id"] == "test-cluster" and headers["accept"] == "application/json"
    with pytest.raises(TokenError, match="SignatureDoesNotMatch"):
        TokenVerifier(cluster_id="other", policy=AWS, sts=client, clock=lambda: NOW).verify(VECTOR)


def test_accepts_temporary_credentials(sts: StandInSts, client: HttpStsClient) -> None:
    """P7: the session token travels in the signed query; the key id comes from X-Amz-Credential."""
    sts.keys["ASIATEMPORARYKEY0001"] = ("tempsecret", "session/token+=")
    token = make("test-cluster", endpoint=local(sts), key="ASIATEMPORARYKEY0001", secret="tempsecret",
                 session_token="session/token+=")
    assert verifier(sts, client).verify(token).access_key_id == "ASIATEMPORARYKEY0001"


def test_cluster_id_replay_is_refused_by_sts(sts: StandInSts, client: HttpStsClient) -> None:
    """§7.1 #34: signed for cluster A, presented to cluster B: STS's signature check fails."""
    error = refused(sts, client, make("cluster-a", endpoint=local(sts)), cluster="cluster-b")
    assert error.kind == "sts" and "expected 200, got 403" in error.message
    assert "SignatureDoesNotMatch" in error.message


@pytest.mark.parametrize("old, new", [("Expires=60", "Expires=61"), ("X-Amz-Signature=", "X-Amz-Signature=0")])
def test_altered_token_is_refused_by_sts(sts: StandInSts, client: HttpStsClient, old: str, new: str) -> None:
    """§7.1 #35."""
    url = parse_token(make("test-cluster", endpoint=local(sts)), policy=local_policy(sts), now=NOW).url
    assert refused(sts, client, tok(url.replace(old, new))).kind == "sts"


def test_unknown_key_is_403(sts: StandInSts, client: HttpStsClient) -> None:
    """§7.1 #36."""
    error = refused(sts, client, make("test-cluster", endpoint=local(sts), key="AKIAUNKNOWNKEY000000"))
    assert error.kind == "sts" and error.message.startswith("sts getCallerIdentity failed: error from AWS")


def test_throttling_is_its_own_kind(sts: StandInSts, client: HttpStsClient) -> None:
    """§7.1 #37: the webhook answers 429."""
    sts.mode = "throttle"
    error = refused(sts, client, make("test-cluster", endpoint=local(sts)))
    assert error.kind == "throttled" and error.message.startswith("sts getCallerIdentity was throttled: ")


def test_redirect_is_not_followed(sts: StandInSts, client: HttpStsClient) -> None:
    """§7.1 #39."""
    sts.mode = "redirect"
    error = refused(sts, client, make("test-cluster", endpoint=local(sts)))
    assert error.kind == "sts" and "got 302" in error.message
    assert [p for p, _ in sts.requests if p.startswith("/elsewhere")] == []


def test_slow_sts_times_out(sts: StandInSts, tls: Tls) -> None:
    """§7.1 #38 (timeout): shortened from 10 s to keep the test quick."""
    sts.mode = "slow"
    impatient = HttpStsClient(ca_bundle=tls.ca_bundle, timeout=0.3)
    try:
        error = refused(sts, impatient, make("test-cluster", endpoint=local(sts)))
    finally:
        impatient.close()
    assert error.kind == "sts" and "error during GET" in error.message and "Timeout" in error.message


def test_dripping_sts_hits_the_overall_deadline(sts: StandInSts, tls: Tls) -> None:
    """Go's client timeout covers the whole exchange; httpx's alone would restart on every chunk."""
    sts.mode = "drip"
    impatient = HttpStsClient(ca_bundle=tls.ca_bundle, timeout=0.5)
    try:
        error = refused(sts, impatient, make("test-cluster", endpoint=local(sts)))
    finally:
        impatient.close()
    assert error.kind == "sts" and "too slow" in error.message


def test_unreachable_sts(sts: StandInSts, client: HttpStsClient) -> None:
    """§7.1 #38 (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        sts.port = probe.getsockname()[1]
    error = refused(sts, client, make("test-cluster", endpoint=local(sts)))
    assert error.kind == "sts" and "error during GET" in error.message


def test_untrusted_certificate_is_refused(sts: StandInSts) -> None:
    """Fail closed: without the stand-in's CA the TLS handshake fails."""
    default_trust = HttpStsClient()
    try:
        assert refused(sts, default_trust, make("test-cluster", endpoint=local(sts))).kind == "sts"
    finally:
        default_trust.close()
    assert sts.requests == []


@pytest.mark.parametrize("mode", ["garbage", "xml", "huge"])
def test_unexpected_body_is_sts_error(sts: StandInSts, client: HttpStsClient, mode: str) -> None:
    """§7.1 #40: 200 with `xxxx`, with XML (AIA is JSON-only), or beyond the body cap."""
    sts.mode = mode
    assert refused(sts, client, make("test-cluster", endpoint=local(sts))).kind == "sts"


ACCT = "123456789012"
BAD_ANSWERS = [
    pytest.param((ACCT, "arn", "AIDA"), "arn 'arn' is invalid", id="41-arn"),
    pytest.param((ACCT, "arn:aws-xx:iam::123456789012:user/x", "AIDA"), "recognized partition", id="41-partition"),
    pytest.param((ACCT, "arn:aws:iam::123456789012:group/x", "AGPA"), "unrecognized resource", id="41-group"),
    pytest.param((ACCT, "arn:aws:sts::123456789012:assumed-role/OnlyRole", "AROA:x"), "does not have a role",
                 id="41-no-session"),
    pytest.param((ACCT, "arn:aws:s3:::bucket", "x"), "unrecognized resource", id="41-service"),
    pytest.param((ACCT, "arn:aws:sts::123456789012:assumed-role/R/s", "not:vailid:userid"), "malformed UserID",
                 id="42-three-parts"),
    pytest.param((ACCT, "arn:aws:sts::123456789012:assumed-role/R/s", "AROANOCOLON"), "malformed UserID",
                 id="42-no-colon"),
    pytest.param(("999999999999", "arn:aws:iam::123456789012:user/x", "AIDA"), "does not own", id="account-mismatch"),
    pytest.param((ACCT, "arn:aws:iam::123456789012:user/x", ""), "non-empty strings", id="empty-user-id"),
]


@pytest.mark.parametrize("answer, reason", BAD_ANSWERS)
def test_bad_identity_answers(
    sts: StandInSts, client: HttpStsClient, answer: tuple[str, str, str], reason: str
) -> None:
    """§7.1 #41-42: STS said 200 but named something the authenticator cannot map."""
    sts.answer = sts_json(*answer)
    error = refused(sts, client, make("test-cluster", endpoint=local(sts)))
    assert error.kind == "sts" and reason in error.message


IDENTITIES = [  # P9 (token_test.go:529-619): (answer, principal type, canonical ARN, principal id, session)
    (("123456789012", "arn:aws:iam::123456789012:root", "123456789012"), "root",
     "arn:aws:iam::123456789012:root", "123456789012", ""),
    (("123456789012", "arn:aws:iam::123456789012:user/Alice", "AIDAIIRR6I5NDJBWMIRQQ"), "user",
     "arn:aws:iam::123456789012:user/Alice", "AIDAIIRR6I5NDJBWMIRQQ", ""),
    (("123456789012", "arn:aws:sts::123456789012:federated-user/Alice", "123456789012:Alice"), "federated-user",
     "arn:aws:sts::123456789012:federated-user/Alice", "123456789012:Alice", ""),
    (("123456789012", "arn:aws:sts::123456789012:assumed-role/Alice/extra", "AROAALICE:extra"), "assumed-role",
     "arn:aws:iam::123456789012:role/Alice", "AROAALICE", "extra"),
]


@pytest.mark.parametrize("answer, kind, canonical, principal_id, session_name", IDENTITIES)
def test_identity_cases(sts: StandInSts, client: HttpStsClient, answer: tuple[str, str, str], kind: str,
                        canonical: str, principal_id: str, session_name: str) -> None:
    sts.answer = sts_json(*answer)
    identity = verifier(sts, client).verify(make("test-cluster", endpoint=local(sts)))
    assert (identity.account, identity.arn, identity.user_id) == answer
    assert (identity.principal_type, identity.canonical_arn) == (kind, canonical)
    assert (identity.principal_id, identity.session_name, identity.access_key_id) == (principal_id, session_name, KEY)


@pytest.mark.parametrize("arn, canonical", [
    ("arn:aws:sts::123456789012:assumed-role/Org/Team/Admin/Session", "arn:aws:iam::123456789012:role/Org/Team/Admin"),
    ("arn:aws-iso:iam::123456789012:user/Alice", "arn:aws-iso:iam::123456789012:user/Alice"),
    ("arn:aws-iso-b:iam::123456789012:user/Alice", "arn:aws-iso-b:iam::123456789012:user/Alice"),
    ("arn:aws:iam::123456789012:user/path/Alice", "arn:aws:iam::123456789012:user/path/Alice"),
])
def test_canonical_arns(arn: str, canonical: str) -> None:
    """P10 (arn_test.go:8-22)."""
    assert canonicalize_arn(arn)[1] == canonical
