#!/usr/bin/env bash
# gatehouse diff over 1,000,000 requests (the target: under a minute on the 2-core machine).
# Generates the requests and a changed copy of the dev-only policy in a temporary directory,
# then times the release binary. Output: the diff summary and the elapsed time.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${COUNT:-1000000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
swift build -c release --product gatehouse
python3 - "$work" "$count" <<'PY'
import json, random, sys
work, count = sys.argv[1], int(sys.argv[2])
random.seed(7)
acct = "0a6d25d23900d45c0faac010e0fb4de0"
users = ["alice", "bob", "carol", "dave", "erin"]
actions = ["organizations:accounts:update", "organizations:accounts:get", "organizations:accounts:list",
           "organizations:accounts:close", "organizations:resources:tag", "organizations:ous:get"]
with open(f"{work}/requests.jsonl", "w") as out:
    for i in range(count):
        action = random.choice(actions)
        resource = "*" if action.endswith(":list") else f"organizations::{acct}:account:o-1/{i % 5000:032x}"
        context = {"g:SourceIp": random.choice(["203.0.113.5", "198.51.100.9", "192.0.2.1"]),
                   "g:MFAPresent": random.random() < 0.8}
        if resource != "*":
            context["g:ResourceTag/env"] = random.choice(["dev", "prod", "test"])
            if random.random() < 0.1:
                context["g:ResourceTag/protected"] = "true"
        out.write(json.dumps({"principal": {"urn": f"iam::{acct}:user:{random.choice(users)}", "account_id": acct},
                              "action": action, "resource": resource, "context": context}) + "\n")
PY
mkdir -p "$work/old" "$work/new"
cp policies/dev-accounts-update.json policies/deny-protected-accounts.json policies/require-mfa.json "$work/old/"
cp "$work"/old/*.json "$work/new/"
sed -i 's|"g:ResourceTag/env": \["dev"\]|"g:ResourceTag/env": ["dev", "test"]|' "$work/new/dev-accounts-update.json"
echo "$(wc -l < "$work/requests.jsonl") requests, $(du -h "$work/requests.jsonl" | cut -f1)"
start=$(date +%s.%N)
status=0
.build/release/gatehouse diff --old "$work/old" --new "$work/new" --requests "$work/requests.jsonl" || status=$?
end=$(date +%s.%N)
echo "exit status $status (1: something newly allowed, as intended here)"
python3 -c "print(f'elapsed: {$end - $start:.1f} s')"
