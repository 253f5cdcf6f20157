#!/usr/bin/env python3
"""Drives the official Huawei Cloud Python SDK (huaweicloudsdkorganizations) against a
gateway, so the end-to-end tests check Gatehouse with code nobody here wrote.

Reads a JSON list of calls on standard input and prints one JSON line per call:
  {"name", "endpoint", "ca_file", "domain_id", "access_key", "secret_key",
   "security_token" (optional), "operation", "args", "tamper" (optional)}
operation: update_account, show_account, list_accounts, tag_resource,
list_tags_for_resource. tamper: "body" (the body is changed after signing), "stale_date"
(signed with a clock 20 minutes slow). The answer line is {"name", "ok": true, "status",
"result"} or {"name", "ok": false, "status", "error_code", "error_msg", "request_id"}
(the SDK's ClientRequestException), or {"name", "ok": false, "exception"} for anything else.
"""
import datetime as real_datetime
import json
import sys

from huaweicloudsdkcore.auth.credentials import GlobalCredentials
from huaweicloudsdkcore.exceptions import exceptions
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.signer import signer as signer_module
from huaweicloudsdkorganizations.v1 import (ListAccountsRequest, ListTagsForResourceRequest, OrganizationsClient,
                                            ShowAccountRequest, TagDto, TagResourceReqBody, TagResourceRequest,
                                            UpdateAccountReqBody, UpdateAccountRequest)


def request_for(operation, args):
    if operation == "update_account":
        return UpdateAccountRequest(account_id=args["account_id"], body=UpdateAccountReqBody(description=args["description"]))
    if operation == "show_account":
        return ShowAccountRequest(account_id=args["account_id"])
    if operation == "list_accounts":
        return ListAccountsRequest(limit=args.get("limit"))
    if operation == "tag_resource":
        tags = [TagDto(key=key, value=value) for key, value in args["tags"].items()]
        return TagResourceRequest(resource_id=args["resource_id"], body=TagResourceReqBody(tags=tags))
    if operation == "list_tags_for_resource":
        return ListTagsForResourceRequest(resource_id=args["resource_id"])
    raise ValueError(f"unknown operation {operation}")


class SlowClock(real_datetime.datetime):
    @classmethod
    def utcnow(cls):
        return real_datetime.datetime.utcnow() - real_datetime.timedelta(minutes=20)


original_sign = signer_module.Signer.sign


def tampering_sign(self, request):
    signed = original_sign(self, request)
    signed.body = signed.body.replace(b'"', b' "', 1) if signed.body else b" "
    return signed


def call(spec):
    credentials = GlobalCredentials(spec["access_key"], spec["secret_key"], spec["domain_id"])
    if spec.get("security_token"):
        credentials = credentials.with_security_token(spec["security_token"])
    config = HttpConfig.get_default_config()
    config.ssl_ca_cert = spec.get("ca_file")
    config.retry_times = 0
    config.timeout = (5, 15)
    client = OrganizationsClient.new_builder().with_credentials(credentials).with_endpoints([spec["endpoint"]]) \
        .with_http_config(config).build()
    tamper = spec.get("tamper")
    signer_module.datetime = SlowClock if tamper == "stale_date" else real_datetime.datetime
    signer_module.Signer.sign = tampering_sign if tamper == "body" else original_sign
    try:
        response = getattr(client, spec["operation"])(request_for(spec["operation"], spec.get("args", {})))
        return {"ok": True, "status": response.status_code, "result": json.loads(str(response) or "{}")}
    except exceptions.ClientRequestException as error:
        return {"ok": False, "status": error.status_code, "error_code": error.error_code, "error_msg": error.error_msg,
                "request_id": error.request_id}
    except Exception as error:  # a transport failure: the test shows it
        return {"ok": False, "exception": f"{type(error).__name__}: {error}"}


def main():
    for spec in json.load(sys.stdin):
        answer = call(spec)
        answer["name"] = spec["name"]
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
