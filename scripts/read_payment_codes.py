#!/usr/bin/env python3
"""Reads the QR codes of a rendered PDF the way a banking app would and checks EPC ones.

Usage: read_payment_codes.py FILE.pdf  (or - for stdin)

Each page is rasterised with poppler's pdftoppm (300 dpi), every QR code on it is decoded
with zxing-cpp, and EPC069-12 payloads (GiroCode) are split into their fields; the IBAN and
BIC are checked with schwifty. Prints JSON: a list of
{"page", "text", "ec_level", "epc": {field: value, ..., "iban_valid", "bic_valid"} | null}.
"""
import json
import os
import subprocess
import sys
import tempfile

import zxingcpp
from PIL import Image
from schwifty import BIC, IBAN

EPC_FIELDS = [
    "service_tag", "version", "charset", "identification", "bic", "name", "iban",
    "amount", "purpose", "reference", "text", "information",
]


def rf_valid(reference):
    """ISO 11649: RF + 2 check digits + up to 21 alphanumerics; mod 97 of the rotated
    reference (letters as 10..35) is 1. Written here independently of the Rust code."""
    if not (5 <= len(reference) <= 25 and reference[:2] == "RF" and reference[2:4].isdigit()
            and reference[4:].isalnum() and reference.isascii()):
        return False
    rotated = (reference[4:] + reference[:4]).upper()
    return int("".join(str(int(c, 36)) for c in rotated)) % 97 == 1


def epc(text):
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0] != "BCD":
        return None
    fields = {name: (lines[i] if i < len(lines) else "") for i, name in enumerate(EPC_FIELDS)}
    fields["extra_lines"] = max(0, len(lines) - len(EPC_FIELDS))
    fields["bytes"] = len(text.encode("utf-8"))
    fields["rf_valid"] = rf_valid(fields["reference"]) if fields["reference"] else None
    try:
        IBAN(fields["iban"])
        fields["iban_valid"] = True
    except ValueError:
        fields["iban_valid"] = False
    if fields["bic"]:
        try:
            BIC(fields["bic"])
            fields["bic_valid"] = True
        except ValueError:
            fields["bic_valid"] = False
    else:
        fields["bic_valid"] = None
    return fields


def main():
    source = sys.argv[1]
    data = sys.stdin.buffer.read() if source == "-" else open(source, "rb").read()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        pdf = os.path.join(tmp, "doc.pdf")
        with open(pdf, "wb") as f:
            f.write(data)
        subprocess.run(["pdftoppm", "-r", "300", "-png", pdf, os.path.join(tmp, "page")], check=True)
        pages = sorted(p for p in os.listdir(tmp) if p.startswith("page"))
        for number, name in enumerate(pages, start=1):
            with Image.open(os.path.join(tmp, name)) as image:
                for code in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):
                    out.append({
                        "page": number,
                        "text": code.text,
                        "ec_level": code.ec_level,
                        "epc": epc(code.text),
                    })
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
