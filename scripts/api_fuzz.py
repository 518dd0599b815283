#!/usr/bin/env python3
"""Checks Faktura's OpenAPI document and fuzzes a running server against it.

    api_fuzz.py validate FILE
        openapi-spec-validator: FILE is a valid OpenAPI 3.1 document.

    api_fuzz.py fuzz --base URL --key KEY [--max-examples N] [--seed S] [--report DIR]
        Fetches URL/v1/openapi.json, validates it, creates a few documents through the API so
        the fuzzer reaches more than 404s, then runs schemathesis (all phases, one worker,
        bounded examples, fixed seed) with these checks:
          - not_a_server_error, status_code_conformance, content_type_conformance,
            response_schema_conformance, ignored_auth (schemathesis' own);
          - error_format: every 4xx/5xx body is exactly {"error": {"code", "message", "field"?}};
          - nothing_stored_when_refused: a write answered 4xx left the tenant's documents,
            customers and jobs as they were.
        The booking webhook is left out: it takes Standard Webhooks signatures and is fuzzed
        with them by tests/local/webhook_fuzz.rs.

Used by tests/local/openapi.rs (.venv from scripts/install-test-tools). This file is also the
schemathesis hooks module of the run (SCHEMATHESIS_HOOKS points here).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HOOKS_MODULE_NAME = "_schemathesis_hooks"  # what schemathesis names a hooks file it loads
STATE_ENV = "FAKTURA_FUZZ_STATE"
# The operations under test: everything but the signed webhook.
EXCLUDE_PATH_REGEX = r"^/v1/webhooks/"
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "ignored_auth",
    "error_format",
    "nothing_stored_when_refused",
]
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# A request the schema allows is never unreadable (400): it is done, or refused for what it
# asks (404 nothing there, 409 idempotency, 422 the domain says no).
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "404", "409", "422"]
"""


# ---- a small HTTP client (the standard library: no dependency beyond schemathesis') ---------


class Api:
    def __init__(self, base, key):
        self.base = base.rstrip("/")
        self.key = key

    def call(self, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                raw = res.read()
                status = res.status
        except urllib.error.HTTPError as e:
            raw = e.read()
            status = e.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def get(self, path):
        status, body = self.call("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body!r}")
        return body

    def pages(self, path, field):
        """Every item of a paged list."""
        items, cursor = [], None
        while True:
            sep = "&" if "?" in path else "?"
            url = f"{path}{sep}limit=200" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
            page = self.get(url)
            items.extend(page[field])
            cursor = page.get("next_cursor")
            if not cursor:
                return items


# ---- validate -------------------------------------------------------------------------------


def validate_document(doc):
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV31SpecValidator

    if not str(doc.get("openapi", "")).startswith("3.1"):
        raise SystemExit(f"not an OpenAPI 3.1 document: openapi = {doc.get('openapi')!r}")
    validate(doc, cls=OpenAPIV31SpecValidator)
    problems = []
    # Every error answer of every operation is documented in the one error format.
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            responses = op.get("responses", {})
            if "default" in responses:
                problems.append(f"{method.upper()} {path}: a 'default' response hides the error statuses")
            if not any(s.startswith(("4", "5")) for s in responses):
                problems.append(f"{method.upper()} {path}: no error responses")
    if problems:
        raise SystemExit("OpenAPI document problems:\n  " + "\n  ".join(problems))


def cmd_validate(args):
    with open(args.file, encoding="utf-8") as f:
        doc = json.load(f)
    validate_document(doc)
    print(f"{args.file}: valid OpenAPI {doc['openapi']} ({len(doc.get('paths', {}))} paths)")


# ---- fuzz -----------------------------------------------------------------------------------

CUSTOMER = {
    "id": "fuzz-c1",
    "name": "Erika Mustermann",
    "email": "erika.fuzz@example.org",
    "address": {"line1": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "DE"},
}
ITEMS = [
    {"description": "Room, 2 nights", "quantity": "2", "unit_price": "119.00"},
    {"description": "Breakfast", "quantity": "2", "unit_price": "15.50", "vat_rate": "7"},
]


def wait_quiet(api, timeout=30.0):
    """Until no job is running or due: background work (rendering, mail) would otherwise change
    what a snapshot sees. Jobs due later (retries) wait for the scheduler, which the test app
    runs hourly, and change nothing meanwhile; a job due up to 5 minutes ago may still be queued
    for a worker slot, so it counts as busy (older ones wait for the scheduler)."""
    deadline = time.monotonic() + timeout
    while True:
        now = time.time()
        busy = False
        for state in ("running", "pending"):
            for job in api.get(f"/v1/jobs?state={state}&limit=200")["jobs"]:
                if state == "running":
                    busy = busy or now - _epoch(job["updated_at"]) < 60
                else:
                    # Due now, or due a while ago and still queued behind other work for
                    # a worker slot (a loaded 2-core CI machine renders slowly).
                    busy = busy or -10 < now - _epoch(job["due_at"]) < 300
        if not busy or time.monotonic() > deadline:
            return not busy
        time.sleep(0.05)


def snapshot(api):
    """What a refused write must not change (cheap: three paged lists). Left out: what the
    background work changes on its own (delivery, versions, the timestamps it sets)."""
    docs = {}
    for d in api.pages("/v1/invoices", "invoices"):
        docs[d["id"]] = {
            field: d[field]
            for field in (
                "kind", "number", "lifecycle", "payment", "related", "customer", "lines",
                "totals", "notes", "due_date", "buyer_reference", "order_reference",
            )
        }
    customers = {c["id"]: c for c in api.pages("/v1/customers", "customers")}
    jobs = {j["id"]: {"kind": j["kind"], "subject": j["subject"]} for j in api.pages("/v1/jobs", "jobs")}
    return {"documents": docs, "customers": customers, "jobs": jobs}


def difference(before, after):
    """What changed between two snapshots, one line per thing."""
    lines = []
    for part in ("documents", "customers", "jobs"):
        b, a = before[part], after[part]
        for k in sorted(set(a) - set(b)):
            lines.append(f"new {part[:-1]} {k}: {json.dumps(a[k])[:300]}")
        for k in sorted(set(b) - set(a)):
            lines.append(f"{part[:-1]} {k} is gone")
        for k in sorted(set(a) & set(b)):
            if a[k] != b[k]:
                changed = [f for f in a[k] if a[k].get(f) != b[k].get(f)]
                lines.append(f"{part[:-1]} {k} changed: {', '.join(changed)}")
    return lines


def _epoch(rfc3339):
    from datetime import datetime

    try:
        return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def seed(api):
    """A few documents of every kind through the API, so ids the fuzzer uses name something."""
    made = []
    bodies = [
        {"currency": "EUR", "customer": CUSTOMER, "items": ITEMS},
        {"currency": "EUR", "customer": CUSTOMER, "items": ITEMS, "draft": True},
        {"kind": "proforma", "currency": "EUR", "customer": CUSTOMER, "items": ITEMS[:1]},
        {
            "currency": "EUR",
            "prices": "net",
            "customer": {**CUSTOMER, "id": "fuzz-c2", "company": "Fuzz GmbH", "vat_id": "DE123456789"},
            "items": ITEMS[:1],
        },
    ]
    for body in bodies:
        status, doc = api.call("POST", "/v1/invoices", body)
        if status != 201:
            raise RuntimeError(f"seeding POST /v1/invoices: {status} {doc!r}")
        made.append(doc["id"])
    # A payment and a partial credit note, so ledgers and relations are not empty.
    invoice = made[0]
    wait_quiet(api)
    for path, body in [
        (f"/v1/invoices/{invoice}/payments", {"amount": "50.00", "currency": "EUR", "reference": "fuzz-1"}),
        (f"/v1/invoices/{invoice}/credit-notes", {"items": [{"position": 2, "quantity": "1"}], "reason": "fuzz"}),
    ]:
        status, doc = api.call("POST", path, body)
        if status not in (200, 201):
            raise RuntimeError(f"seeding POST {path}: {status} {doc!r}")
    wait_quiet(api)


def known_ids(api):
    docs = api.pages("/v1/invoices", "invoices")
    return {
        "documents": sorted(d["id"] for d in docs),
        "customers": sorted(c["id"] for c in api.pages("/v1/customers", "customers")),
        "jobs": sorted(j["id"] for j in api.pages("/v1/jobs", "jobs")),
        "bookings": sorted({d["booking_id"] for d in docs if d.get("booking_id")}),
    }


def cmd_fuzz(args):
    api = Api(args.base, args.key)
    doc = api.get("/v1/openapi.json")
    validate_document(doc)
    print(f"openapi: GET {args.base}/v1/openapi.json is valid OpenAPI {doc['openapi']}")
    seed(api)
    ids = known_ids(api)
    print("seeded: " + ", ".join(f"{len(v)} {k}" for k, v in ids.items()))
    work = tempfile.mkdtemp(prefix="faktura-api-fuzz-")
    state_file = os.path.join(work, "state.json")
    with open(state_file, "w", encoding="utf-8") as f:
        json.dump({"base": api.base, "key": api.key, "ids": ids}, f)
    config_file = os.path.join(work, "schemathesis.toml")
    with open(config_file, "w", encoding="utf-8") as f:
        f.write(CONFIG)
    schemathesis = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    cmd = [
        schemathesis, "--config-file", config_file, "run", f"{api.base}/v1/openapi.json",
        "--url", api.base,
        "--header", f"Authorization: Bearer {api.key}",
        "--exclude-path-regex", EXCLUDE_PATH_REGEX,
        "--checks", ",".join(CHECKS + [c for c in args.also_check.split(",") if c]),
        "--max-examples", str(args.max_examples),
        "--seed", str(args.seed),
        # One worker: the nothing-stored check compares snapshots around each request.
        "--workers", "1",
        # No example database: every run starts from the seed alone.
        "--generation-database", "none",
        "--request-timeout", "35",
        "--no-color",
        "--output-truncate", "false",
    ]
    if args.phases:
        cmd += ["--phases", args.phases]
    if args.report:
        cmd += ["--report", "junit,ndjson", "--report-dir", args.report]
    env = dict(os.environ, SCHEMATHESIS_HOOKS=os.path.abspath(__file__), **{STATE_ENV: state_file})
    started = time.monotonic()
    # Run in the temp dir: schemathesis writes nothing into the repository.
    code = subprocess.call(cmd, env=env, cwd=work)
    print(f"schemathesis exited {code} after {time.monotonic() - started:.1f}s")
    return code


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="validate an OpenAPI document file")
    v.add_argument("file")
    z = sub.add_parser("fuzz", help="fuzz a running server against its own document")
    z.add_argument("--base", required=True, help="e.g. http://127.0.0.1:3000")
    z.add_argument("--key", required=True, help="an API key of the tenant to fuzz")
    z.add_argument("--max-examples", type=int, default=25, help="per operation and phase")
    z.add_argument("--seed", type=int, default=20240611)
    z.add_argument("--phases", default="", help="e.g. examples,coverage,fuzzing,stateful")
    z.add_argument("--report", default="", help="write junit and ndjson reports into this dir")
    z.add_argument("--also-check", default="", help="more schemathesis checks, e.g. negative_data_rejection")
    args = parser.parse_args()
    if args.command == "validate":
        cmd_validate(args)
        return 0
    return cmd_fuzz(args)


# ---- schemathesis hooks (this file as SCHEMATHESIS_HOOKS) ------------------------------------


def _register_hooks():
    import hypothesis.strategies as st
    import schemathesis

    with open(os.environ[STATE_ENV], encoding="utf-8") as f:
        state = json.load(f)
    api = Api(state["base"], state["key"])
    ids = state["ids"]

    def resource(path):
        if path.startswith("/v1/invoices/") or path.startswith("/v1/collective-invoices/"):
            return "documents"
        if path.startswith("/v1/customers/"):
            return "customers"
        if path.startswith("/v1/jobs/"):
            return "jobs"
        if path.startswith("/v1/bookings/"):
            return "bookings"
        return None

    @schemathesis.hook
    def before_generate_path_parameters(context, strategy):
        # Half of the ids name something that exists: the handlers' logic runs, not just 404s.
        known = ids.get(resource(context.operation.path) or "", [])
        if not known or context.operation.path.count("{") != 1:
            # No ids, or more path parameters than `id` (an item of a customer): generated.
            return strategy
        return st.one_of(strategy, st.sampled_from(known).map(lambda i: {"id": i}))

    @schemathesis.deserializer("application/pdf")
    def _pdf(ctx, response):
        # A PDF is checked as a PDF, then validated against its schema as text.
        body = response.content
        if not body.startswith(b"%PDF-"):
            raise AssertionError(f"an application/pdf answer that is not a PDF: {body[:40]!r}")
        return body.decode("latin-1")

    @schemathesis.deserializer("application/xml")
    def _xml(ctx, response):
        body = response.content
        if not body.lstrip().startswith(b"<"):
            raise AssertionError(f"an application/xml answer that is not XML: {body[:40]!r}")
        return body.decode("utf-8")

    @schemathesis.check
    def error_format(ctx, response, case):
        """Every error answer is exactly {"error": {"code", "message", "field"?}}."""
        if response.status_code < 400:
            return None
        try:
            body = json.loads(response.content)
        except ValueError:
            raise AssertionError(f"a {response.status_code} answer that is not JSON: {response.content[:200]!r}")
        err = body.get("error") if isinstance(body, dict) else None
        if not (isinstance(body, dict) and set(body) == {"error"} and isinstance(err, dict)):
            raise AssertionError(f"not in the error format: {body!r}")
        extra = set(err) - {"code", "message", "field"}
        if extra or not isinstance(err.get("code"), str) or not isinstance(err.get("message"), str):
            raise AssertionError(f"not in the error format: {body!r}")
        if "field" in err and not isinstance(err["field"], str):
            raise AssertionError(f"error.field is not a string: {body!r}")
        if not err["code"] or not err["message"]:
            raise AssertionError(f"an empty error code or message: {body!r}")
        return None

    before_write = {}

    @schemathesis.hook
    def before_call(context, case, kwargs):
        if case.method.upper() in WRITE_METHODS:
            wait_quiet(api)
            before_write[case.id] = snapshot(api)

    @schemathesis.check
    def nothing_stored_when_refused(ctx, response, case):
        """A write answered 4xx changed nothing (documents, customers, jobs)."""
        before = before_write.pop(case.id, None)
        if before is None or not 400 <= response.status_code < 500:
            return None
        wait_quiet(api)
        changes = difference(before, snapshot(api))
        if changes:
            raise AssertionError(
                f"{case.method} {case.formatted_path} was refused ({response.status_code}) "
                "but the tenant's state changed:\n  " + "\n  ".join(changes)
            )
        return None


if __name__ == HOOKS_MODULE_NAME:
    _register_hooks()
elif __name__ == "__main__":
    sys.exit(main())
