"""scim2-tester (PyPI) against a running Latchkey's /scim/v2: every check of the service's discovery documents and of
the User resource, with the service's own published schema. Exits 1 on any failure, listing them.

  python scim/conformance.py BASE_URL TOKEN

What is adapted, and why (the README lists it too):
- userName is an email address in Latchkey (a member signs in with it); the tester fills strings with random UUIDs,
  so the User model built from the published schema is given email addresses as userName's examples (each one
  fresh: a userName is unique).
- Groups are the organization's roles, made and deleted in Latchkey, so the tester's Group checks (which create and
  delete groups) are not run; the Swift suite tests Group reads, filters and membership changes.
"""

import sys
import uuid

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


class FreshEmails(list):
    """A list of examples whose every item is a new address (the tester picks examples at random)."""

    def __len__(self):
        return 1_000_000

    def __getitem__(self, index):
        return f"scim-{uuid.uuid4().hex[:12]}@example.com"

    def __bool__(self):
        return True


def main(base, token):
    http = Client(base_url=f"{base}/scim/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    client.discover()
    user = client.get_resource_model("User")
    user.model_fields["user_name"].examples = FreshEmails()
    results = check_server(client, resource_types=["User"])
    counts = {}
    failed = []
    for result in results:
        counts[result.status.name] = counts.get(result.status.name, 0) + 1
        if result.status == Status.ERROR:
            failed.append(result)
        marker = {"SUCCESS": "ok  ", "ERROR": "FAIL", "SKIPPED": "skip"}.get(result.status.name, result.status.name)
        print(f"{marker} {result.resource_type or '-':5} {result.title}: {((result.reason or '').splitlines() or [''])[0][:150]}")
    print(f"scim2-tester: {len(results)} checks, {counts}")
    if failed:
        print("FAILED:")
        for result in failed:
            print(f"- {result.title}: {result.reason}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
