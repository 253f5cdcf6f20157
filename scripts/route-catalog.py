#!/usr/bin/env python3
"""Writes samples/catalog.json, the gateway's route catalog, from
../shared/data/organizations-catalog.json: every operation of the official SDK (69) with
its documented method, path, action, resource and caller rule, and the condition keys its
reference names; then Gatehouse's own APIs (the routes with a "handler" in the current
file, kept as they are). Run it again when the data file changes:

    python3 scripts/route-catalog.py ../shared/data/organizations-catalog.json

Where the reference is silent the route says so in "note":
- a caller rule it does not state is the strictest, management (Organizations.1001 for any
  other account);
- resource URNs of roots, policies and handshakes are not shown in the reference; they are
  written as the account and OU examples are, organizations::<management account>:<type>:
  <organization>/<id>;
- an action on several resources (attaching a policy to an entity) is authorized on its
  required one (the policy): the entity in the body is not a second resource here.
"""
import json
import sys

source = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/organizations-catalog.json"
data = json.load(open(source))
current = json.load(open("samples/catalog.json"))
own = [route for route in current["routes"] if "handler" in route]


def urn(kind, ident):
    return "organizations::{management_account_id}:" + kind + ":{organization_id}/" + ident


PATH_IDS = {"account": "account_id", "ou": "organizational_unit_id", "policy": "policy_id", "handshake": "handshake_id"}
# Operations whose required resource is named outside the path, and the one whose optional
# resource is its parent in the body.
BODY_OR_QUERY = {
    "register_delegated_administrator": urn("account", "{body:account_id}"),
    "deregister_delegated_administrator": urn("account", "{body:account_id}"),
    "enable_policy_type": urn("root", "{body:root_id}"),
    "disable_policy_type": urn("root", "{body:root_id}"),
    "update_dry_run_config": urn("root", "{body:root_id}"),
    "show_dry_run_config": urn("root", "{query:root_id}"),
    "create_organizational_unit": urn("{type_of:body:parent_id}", "{body:parent_id}"),
}

routes = []
for op in data["operations"]:
    route = {"operation": op["sdk_name"], "method": op["method"], "path": op["path"]}
    notes = []
    path = op["path"]
    types = op["resource_types"] or []
    if op["sdk_name"] in BODY_OR_QUERY:
        resource = BODY_OR_QUERY[op["sdk_name"]]
    elif "{resource_type}" in path and "{resource_id}" in path:
        resource = urn("{type_of:resource_type}", "{resource_id}")
    elif "{resource_id}" in path:
        resource = urn("{type_of:resource_id}", "{resource_id}")
    else:
        required = [t["type"] for t in types if t["required"]]
        resource = "*"
        if required:
            kind = required[0]
            param = PATH_IDS.get(kind)
            if param is None or "{" + param + "}" not in path:
                sys.exit(f"{op['sdk_name']}: required {kind} is not in the path; add it to BODY_OR_QUERY")
            resource = urn(kind, "{" + param + "}")
    if len([t for t in types if t["required"]]) and len(types) > 1 and resource.count("{type_of") == 0 and op["sdk_name"] not in BODY_OR_QUERY:
        notes.append("authorized on the required resource only; the other resource types this action lists are not a second resource here")
    if any(t in resource for t in (":root:", ":policy:", ":handshake:", "{type_of")):
        notes.append("URN of this type as the account and OU examples are (the reference shows no example)")
    if op["action"]:
        route["action"] = op["action"]
    else:
        route["identity_policy"] = False
        notes.append("the reference says this operation needs no identity-policy permission: authentication and the caller rule decide")
    route["resource"] = resource
    caller = op["caller"]
    if caller == "unknown":
        route["callers"] = "management"
        notes.append(f"caller rule not stated ({op['caller_note']}): the strictest, management")
    else:
        route["callers"] = {"any_member": "member"}.get(caller, caller)
    keys = op["condition_keys"] or []
    context = []
    subject = resource != "*"
    if "g:ResourceTag/<tag-key>" in keys and subject:
        context.append("g:ResourceTag")
    if "g:RequestTag/<tag-key>" in keys:
        context.append("g:RequestTag")
    if "g:TagKeys" in keys:
        context.append("g:TagKeys")
    if "organizations:ServicePrincipal" in keys:
        context.append("organizations:ServicePrincipal")
    if context:
        route["context"] = context
    # The tagging calls' body is the tags; elsewhere (creating, inviting) tags are optional.
    if op["action"] in ("organizations:resources:tag", "organizations:resources:untag"):
        route["tags_required"] = True
    if notes:
        route["note"] = "; ".join(notes)
    routes.append(route)

with open("samples/catalog.json", "w") as out:
    json.dump({"routes": routes + own}, out, indent=2)
    out.write("\n")
print(f"{len(routes)} operations and {len(own)} of Gatehouse's own routes written to samples/catalog.json")
