"""The role × endpoint matrix: for every route of the API and every role, whether the role is let
through the role check (anything but 403) or refused (403). The expected matrix is written out here
so that a route that opens to one more role is a visible change in review, not an accident."""

from __future__ import annotations

from hotline_api.auth.models import ROLES
from tests.auth.test_deny_by_default import _concrete, all_routes
from tests.factories import signed_in

C, S, N, AN, AD = "counsellor", "supervisor", "national_supervisor", "analyst", "admin"
CASES = {C, S, N}
SUPERVISORS = {S, N}
REPORTS = {AN, S, N}
EVERYONE = set(ROLES)

# (method, path) -> the roles admitted; routes not listed here fail the test (a new route must be
# placed in the matrix on purpose). Webhooks, health and sign-in have their own credentials.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", "/metrics"): {AD},
    ("POST", "/api/v1/auth/logout"): EVERYONE,
    ("GET", "/api/v1/auth/me"): EVERYONE,
    ("GET", "/api/v1/auth/session"): EVERYONE,
    ("POST", "/api/v1/auth/password"): EVERYONE,
    ("GET", "/api/v1/users"): {AD},
    ("POST", "/api/v1/users"): {AD},
    ("GET", "/api/v1/users/{user_id}"): {AD},
    ("PATCH", "/api/v1/users/{user_id}"): {AD},
    ("POST", "/api/v1/users/{user_id}/password"): {AD},
    ("POST", "/api/v1/users/{user_id}/revoke-sessions"): {AD},
    ("GET", "/api/v1/reference/regions"): EVERYONE,
    ("GET", "/api/v1/reference/switchboards"): EVERYONE,
    ("GET", "/api/v1/reference/hotline-numbers"): EVERYONE,
    ("GET", "/api/v1/reference/provinces"): EVERYONE,
    ("GET", "/api/v1/reference/provinces/{code}"): EVERYONE,
    ("GET", "/api/v1/reference/area-codes/{area_code}"): EVERYONE,
    ("GET", "/api/v1/audit"): {AD, N},
    ("GET", "/api/v1/audit/verify"): {AD, N},
    ("GET", "/api/v1/switchboards/{switchboard}/credentials"): {AD},
    ("POST", "/api/v1/switchboards/{switchboard}/credentials"): {AD},
    ("DELETE", "/api/v1/switchboards/{switchboard}/credentials/{credential_id}"): {AD},
    ("GET", "/api/v1/switchboards/{switchboard}/allowed-networks"): {AD},
    ("PUT", "/api/v1/switchboards/{switchboard}/allowed-networks"): {AD},
    ("GET", "/api/v1/quarantine"): {AD},
    ("GET", "/api/v1/quarantine/{qid}"): {AD},
    ("POST", "/api/v1/quarantine/{qid}/replay"): {AD},
    ("POST", "/api/v1/quarantine/{qid}/discard"): {AD},
    ("GET", "/api/v1/calls"): CASES,
    ("POST", "/api/v1/calls/search"): CASES,
    ("GET", "/api/v1/calls/{call_id}"): CASES,
    ("GET", "/api/v1/calls/{call_id}/history"): CASES,
    ("GET", "/api/v1/me/presence"): CASES,
    ("PUT", "/api/v1/me/presence"): {C},
    ("GET", "/api/v1/presence"): SUPERVISORS,
    ("PUT", "/api/v1/presence/{user_id}"): SUPERVISORS,
    ("GET", "/api/v1/switchboards/{switchboard}/routing-settings"): {S, N, AD},
    ("PUT", "/api/v1/switchboards/{switchboard}/routing-settings"): SUPERVISORS,
    ("GET", "/api/v1/stream"): CASES,
    ("GET", "/api/v1/queues"): SUPERVISORS,
    ("GET", "/api/v1/codes"): EVERYONE,
    ("GET", "/api/v1/codes/{name}"): EVERYONE,
    ("POST", "/api/v1/codes/{name}"): {AD},
    ("PATCH", "/api/v1/codes/{name}/{code}"): {AD},
    ("POST", "/api/v1/calls/{call_id}/contact"): CASES,
    ("GET", "/api/v1/calls/{call_id}/contact"): CASES,
    ("PATCH", "/api/v1/calls/{call_id}/contact"): CASES,
    ("POST", "/api/v1/calls/{call_id}/contact/quick"): CASES,
    ("GET", "/api/v1/me/overdue-contacts"): CASES,
    ("GET", "/api/v1/contacts/overdue"): SUPERVISORS,
    ("GET", "/api/v1/calls/{call_id}/recording"): CASES,
    ("GET", "/api/v1/cases"): CASES,
    ("POST", "/api/v1/cases"): CASES,
    ("GET", "/api/v1/cases/{case_id}"): CASES,
    ("POST", "/api/v1/cases/{case_id}/contacts"): CASES,
    ("POST", "/api/v1/cases/{case_id}/status"): CASES,
    ("PUT", "/api/v1/cases/{case_id}/assignee"): SUPERVISORS,
    ("POST", "/api/v1/cases/{case_id}/persons"): CASES,
    ("PATCH", "/api/v1/cases/{case_id}/persons/{person_id}"): CASES,
    ("POST", "/api/v1/cases/{case_id}/notes"): CASES,
    ("POST", "/api/v1/cases/search"): CASES,
    ("GET", "/api/v1/me/cases"): CASES,
    ("GET", "/api/v1/partners"): CASES | {AD},
    ("POST", "/api/v1/partners"): SUPERVISORS | {AD},
    ("GET", "/api/v1/partners/{partner_id}"): CASES | {AD},
    ("PATCH", "/api/v1/partners/{partner_id}"): SUPERVISORS | {AD},
    ("GET", "/api/v1/referrals/overdue"): CASES,
    ("POST", "/api/v1/cases/{case_id}/referrals"): CASES,
    ("GET", "/api/v1/cases/{case_id}/referrals"): CASES,
    ("GET", "/api/v1/referrals/{referral_id}"): CASES,
    ("PATCH", "/api/v1/referrals/{referral_id}"): CASES,
    ("POST", "/api/v1/referrals/{referral_id}/transitions"): CASES,
    ("GET", "/api/v1/reports/summary"): REPORTS,
    ("GET", "/api/v1/reports/calls"): REPORTS,
    ("GET", "/api/v1/reports/contacts"): REPORTS,
    ("GET", "/api/v1/reports/referrals"): REPORTS,
    ("GET", "/api/v1/reports/routing"): REPORTS,
    ("GET", "/api/v1/reports/workload"): SUPERVISORS,
    ("GET", "/api/v1/reports/export"): REPORTS,
}
# credentials of their own (switchboards), or none (health, sign-in, the console's files)
OWN_CREDENTIALS = (
    "/webhooks/",
    "/healthz",
    "/readyz",
    "/api/v1/auth/login",
    "/docs",
    "/openapi.json",
    "/console",
    "/",
)


def _own(path: str) -> bool:
    return path == "/" or any(path.startswith(p) for p in OWN_CREDENTIALS if p != "/")


async def test_every_route_admits_exactly_the_roles_of_the_matrix(app, client, session):
    tokens = {role: await signed_in(session, role) for role in ROLES}
    routes = [(m, p) for m, p in all_routes(app.routes) if not _own(p)]
    unlisted = sorted(set(routes) - set(EXPECTED))
    assert not unlisted, f"routes missing from the role matrix: {unlisted}"
    stale = sorted(set(EXPECTED) - set(routes))
    assert not stale, f"the matrix lists routes that no longer exist: {stale}"
    wrong = []
    for method, path in routes:
        if (method, path) == ("POST", "/api/v1/auth/logout"):
            continue  # it would end the session used by the rest of the walk (checked below)
        for role, who in tokens.items():
            # no real user: an admin's "end their sessions" must not end one of ours mid-walk
            url = _concrete(path.replace("{user_id}", "987654321"))
            if path == "/api/v1/stream" and role in EXPECTED[(method, path)]:
                continue  # an endless stream on the test's one connection: tests/routing reads it
            r = await client.request(method, url, json={}, headers=who.headers)
            status = r.status_code
            assert status < 500, f"{method} {path} as {role}: {status} {r.text}"
            admitted = status != 403
            if admitted != (role in EXPECTED[(method, path)]):
                wrong.append(f"{method} {path} as {role}: {status}")
    assert not wrong, "\n".join(wrong)
    for who in tokens.values():
        assert (await client.post("/api/v1/auth/logout", headers=who.headers)).status_code == 204
