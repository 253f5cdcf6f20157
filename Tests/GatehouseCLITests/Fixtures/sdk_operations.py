#!/usr/bin/env python3
"""Sends every operation of the official SDK (huaweicloudsdkorganizations) through a
gateway: the operations are enumerated from the SDK's request classes, each request is
filled with plausible values for its path, query and body fields (by field name and type),
and sent by the SDK's own client, signed with the access key given. The SDK, not a table
here, says each call's method, path and body.

Usage: sdk_operations.py ENDPOINT ACCESS_KEY SECRET_KEY DOMAIN_ID ACCOUNT_ID
Prints one JSON line per operation: {"operation", "method", "path", "status",
"error_code"?, "request_id"?} (status 0 and "exception" for a transport failure).
"""
import inspect
import json
import re
import sys

import huaweicloudsdkorganizations.v1 as v1
from huaweicloudsdkcore.auth.credentials import GlobalCredentials
from huaweicloudsdkcore.exceptions import exceptions
from huaweicloudsdkcore.http.http_config import HttpConfig

endpoint, access_key, secret_key, domain_id, account_id = sys.argv[1:6]

# Values by field name, in the documented ID formats; anything else a short string.
VALUES = {
    "account_id": account_id, "resource_id": account_id, "entity_id": account_id, "child_id": account_id,
    "organizational_unit_id": "ou-abcdefgh", "parent_id": "r-abcd1234", "root_id": "r-abcd1234",
    "source_parent_id": "r-abcd1234", "destination_parent_id": "ou-abcdefgh", "policy_id": "p-abcdefgh",
    "handshake_id": "h-abcdefgh", "create_account_status_id": "car-abcdefgh", "resource_type": "organizations:accounts",
    "service_principal": "service.ConfigService", "policy_type": "service_control_policy", "email": "new@example.com",
    "content": "{\"Version\": \"5.0\", \"Statement\": []}", "status": "enabled", "tag_keys": ["team"],
}
SKIPPED = {"x_security_token", "limit", "marker", "offset", "with_register_contact_info", "states", "attached_entity_id"}


def value_for(name, kind):
    if name in VALUES:
        return VALUES[name]
    if kind.startswith("list["):
        inner = kind[5:-1]
        return [value_for(name, inner)] if inner != "str" else ["x"]
    if kind in ("str",):
        return "sdk-" + name.replace("_", "-")
    if kind in ("int",):
        return 1
    if kind in ("bool",):
        return False
    model = getattr(v1, kind, None)
    if model is None:
        return None
    if kind == "TagDto":
        return model(key="team", value="sdk")
    return model(**{field: value_for(field, sub) for field, sub in model.openapi_types.items() if field not in SKIPPED})


def request_for(request_class):
    kwargs = {}
    for field, kind in request_class.openapi_types.items():
        if field in SKIPPED:
            continue
        if field == "body" or field in VALUES or field.endswith("_id") or field == "resource_type":
            kwargs[field] = value_for(field, kind)
    return request_class(**kwargs)


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


config = HttpConfig.get_default_config()
config.retry_times = 0
config.timeout = (5, 15)
client = v1.OrganizationsClient.new_builder().with_credentials(GlobalCredentials(access_key, secret_key, domain_id)) \
    .with_endpoints([endpoint]).with_http_config(config).build()
classes = sorted(n for n, c in inspect.getmembers(v1, inspect.isclass) if n.endswith("Request"))
for name in classes:
    operation = snake(name[:-len("Request")])
    info = getattr(v1.OrganizationsClient, f"_{operation}_http_info")
    request = request_for(getattr(v1, name))
    http_info = info(request)
    line = {"operation": operation, "method": http_info["method"], "path": http_info["resource_path"]}
    try:
        response = getattr(client, operation)(request)
        line["status"] = response.status_code
    except exceptions.ServiceResponseException as error:
        line.update(status=error.status_code, error_code=error.error_code, request_id=error.request_id)
    except Exception as error:  # a transport failure: the test shows it
        line.update(status=0, exception=f"{type(error).__name__}: {error}")
    print(json.dumps(line), flush=True)
