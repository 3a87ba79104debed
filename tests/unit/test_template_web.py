"""The web on AWS and the front door, read from template.yaml after the SAM transform: web/ in a private bucket
that only this stack's CloudFront distribution reads (origin access control), the versioned widget cached for a
year, the Outputs that name it, and both FrontDoor choices (HttpApi, Lambda function URLs)."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from drcaptcha_ops import pages, webpublish
from drcaptcha_ops.iam import transformed
from drcaptcha_ops.template import local_stack

YEAR = 31536000


@pytest.fixture(scope="module")
def cloudformation() -> dict[str, Any]:
    return transformed(local_stack())


def resource(cloudformation: dict[str, Any], logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = cloudformation["Resources"][logical_id]
    return found


def active(cloudformation: dict[str, Any], front_door: str) -> set[str]:
    """The logical ids CloudFormation creates for this FrontDoor (the template's conditions on it, evaluated)."""
    values = {"UseFunctionUrls": front_door == "FunctionUrl"}
    assert cloudformation["Conditions"]["UseFunctionUrls"] == {"Fn::Equals": [{"Ref": "FrontDoor"}, "FunctionUrl"]}
    return {
        name
        for name, res in cloudformation["Resources"].items()
        if "Condition" not in res or values.get(res["Condition"], True)
    }


def test_the_web_bucket_blocks_every_public_access_and_is_retained(cloudformation: dict[str, Any]) -> None:
    bucket = resource(cloudformation, "WebBucket")
    block = bucket["Properties"]["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert bucket["DeletionPolicy"] == "Retain"


def test_only_this_stacks_distribution_may_read_the_web_bucket(cloudformation: dict[str, Any]) -> None:
    policy = resource(cloudformation, "WebBucketPolicy")["Properties"]
    assert policy["Bucket"] == {"Ref": "WebBucket"}
    allows = [statement for statement in policy["PolicyDocument"]["Statement"] if statement["Effect"] == "Allow"]
    assert len(allows) == 1
    (allow,) = allows
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    source_arn = allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source_arn.endswith(":distribution/${WebDistribution}")


def test_the_distribution_reads_the_bucket_through_origin_access_control(cloudformation: dict[str, Any]) -> None:
    oac = resource(cloudformation, "WebOriginAccessControl")["Properties"]["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"]) == ("s3", "always")
    config = resource(cloudformation, "WebDistribution")["Properties"]["DistributionConfig"]
    (origin,) = [origin for origin in config["Origins"] if origin["Id"] == "web"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["WebBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["WebOriginAccessControl", "Id"]}
    # An origin access identity (the legacy mechanism) would be a second way in.
    assert origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert config["DefaultRootObject"] == "index.html"


def test_the_versioned_widget_path_is_cached_for_a_year(cloudformation: dict[str, Any]) -> None:
    config = resource(cloudformation, "WebDistribution")["Properties"]["DistributionConfig"]
    (widget,) = [behavior for behavior in config["CacheBehaviors"] if behavior["PathPattern"] == "/widget/*"]
    assert widget["CachePolicyId"] == {"Ref": "WidgetCachePolicy"}
    assert widget["ResponseHeadersPolicyId"]  # CORS, so that sites can check its integrity hash
    policy = resource(cloudformation, "WidgetCachePolicy")["Properties"]["CachePolicyConfig"]
    assert policy["DefaultTTL"] == policy["MaxTTL"] == YEAR
    assert policy["MinTTL"] >= 86400
    # publish-web's key for the widget falls under that behaviour, with the same lifetime in its Cache-Control.
    assert ("/" + webpublish.widget_key()).startswith(widget["PathPattern"].rstrip("*"))
    assert f"max-age={YEAR}" in webpublish.IMMUTABLE


def test_the_outputs_give_the_widget_and_web_urls(cloudformation: dict[str, Any]) -> None:
    outputs = cloudformation["Outputs"]
    assert outputs["WidgetUrl"]["Value"] == {"Fn::Sub": "https://${WebDistribution.DomainName}/widget.js"}
    assert outputs["WidgetBaseUrl"]["Value"] == {"Fn::Sub": "https://${WebDistribution.DomainName}/widget/"}
    assert outputs["WebUrl"]["Value"] == {"Fn::Sub": "https://${WebDistribution.DomainName}"}
    assert outputs["WebBucket"]["Value"] == {"Ref": "WebBucket"}


@pytest.mark.parametrize("front_door", ["HttpApi", "FunctionUrl"])
def test_each_front_door_transforms_with_its_resources(front_door: str) -> None:
    cloudformation = transformed(local_stack(parameters={"FrontDoor": front_door}))
    resources = active(cloudformation, front_door)
    urls = {"CaptchaFunctionUrl", "CaptchaFunctionUrlPermission", "SiteverifyFunctionUrl"}
    # The HttpApi stays under both: the admin dashboard and recognize use it.
    assert "HttpApi" in resources
    if front_door == "FunctionUrl":
        assert urls <= resources
        url = resource(cloudformation, "CaptchaFunctionUrl")["Properties"]
        assert url["TargetFunctionArn"] == {"Fn::GetAtt": ["CaptchaFunction", "Arn"]}
        assert url["AuthType"] == "NONE"
        permission = resource(cloudformation, "CaptchaFunctionUrlPermission")["Properties"]
        assert (permission["Action"], permission["FunctionUrlAuthType"]) == ("lambda:InvokeFunctionUrl", "NONE")
    else:
        assert not urls & resources
    api = cloudformation["Outputs"]["CaptchaApiUrl"]["Value"]["Fn::If"]
    assert api[0] == "UseFunctionUrls" and api[1] == {"Fn::GetAtt": ["CaptchaFunctionUrl", "FunctionUrl"]}


def test_every_api_route_reaches_the_api_through_the_distribution_and_no_page_is_shadowed(
    cloudformation: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The pages and the dashboard call the API on their own origin: on CloudFront, the API's paths go to it."""
    config = resource(cloudformation, "WebDistribution")["Properties"]["DistributionConfig"]
    (api_origin,) = [origin for origin in config["Origins"] if origin["Id"] == "api"]
    assert api_origin["OriginPath"] == {"Fn::Sub": "/${Stage}"}
    api_patterns = [
        behavior["PathPattern"] for behavior in config["CacheBehaviors"] if behavior["TargetOriginId"] == "api"
    ]
    routes = [
        re.sub(r"{[^}]+}", "x", properties["Path"]) for _, _, properties in local_stack().function_events("HttpApi")
    ]
    assert len(routes) >= 15
    for route in routes:
        assert any(fnmatch.fnmatchcase(route, pattern) for pattern in api_patterns), route
    site = tmp_path_factory.mktemp("site")
    pages.build(site)
    for upload in webpublish.uploads(site):
        assert not any(fnmatch.fnmatchcase("/" + upload.key, pattern) for pattern in api_patterns), upload.key
    for behavior in config["CacheBehaviors"]:
        if behavior["TargetOriginId"] == "api":
            assert "POST" in behavior["AllowedMethods"] and "PATCH" in behavior["AllowedMethods"]


def test_the_pages_carry_the_same_content_security_policy_on_cloudfront_as_from_the_gateway() -> None:
    """Issue 19, item 8: no page had a Content-Security-Policy. CloudFront sends the gateway's policy text."""
    cloudformation = local_stack().template
    policy = cloudformation["Resources"]["PagesSecurityHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    csp = policy["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    assert csp == {"ContentSecurityPolicy": pages.CONTENT_SECURITY_POLICY, "Override": True}
    assert "script-src 'self';" in pages.CONTENT_SECURITY_POLICY and "unsafe-eval" not in pages.CONTENT_SECURITY_POLICY
    behaviour = cloudformation["Resources"]["WebDistribution"]["Properties"]["DistributionConfig"][
        "DefaultCacheBehavior"
    ]
    assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "PagesSecurityHeadersPolicy"}
