"""The floor for the workloads benchmark: the cheapest way to do each job with plain tools.

Downloads go through one parallel `curl -Z` (written by the caller as a config file), then
this script checks every file with hashlib on a thread per core (hashlib releases the GIL, so
the threads hash in parallel at OpenSSL speed). Cache placement is a plain `os.link`.

    floor.py fetch MANIFEST URL DIR CACHE curl -Z, verify, then hard-link into CACHE
    floor.py verify MANIFEST DIR          size and sha512 of every record's file in DIR
    floor.py link MANIFEST FROM TO        hard-link FROM/<digest> to TO/<filename>
    floor.py store MANIFEST DIR CACHE     hard-link DIR/<filename> to CACHE/<digest>
    floor.py stat MANIFEST DIR            the sizes of the files in DIR match the manifest
"""

import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import tempfile

CHUNK = 1 << 20


def sha512_of(path):
    digest = hashlib.sha512()
    with open(path, "rb", buffering=0) as file:
        while True:
            block = file.read(CHUNK)
            if not block:
                return digest.hexdigest()
            digest.update(block)


def verify(records, folder):
    def one(record):
        path = os.path.join(folder, record["filename"])
        if os.stat(path).st_size != record["size"] or sha512_of(path) != record["digest"]:
            raise SystemExit("mismatch: " + path)

    workers = os.cpu_count() or 2
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        # Biggest first, so one large file never runs alone at the end.
        ordered = sorted(records, key=lambda record: -record["size"])
        list(pool.map(one, ordered))


def link(records, source, target):
    for record in records:
        os.link(os.path.join(source, record["digest"]), os.path.join(target, record["filename"]))


def store(records, folder, cache):
    os.makedirs(cache, exist_ok=True)
    for record in records:
        os.link(os.path.join(folder, record["filename"]), os.path.join(cache, record["digest"]))


def sizes(records, folder):
    for record in records:
        if os.stat(os.path.join(folder, record["filename"])).st_size != record["size"]:
            raise SystemExit("size mismatch: " + record["filename"])


def fetch(records, url, folder, cache):
    with tempfile.NamedTemporaryFile("w", suffix=".curl") as config:
        for record in records:
            config.write('url = "%s/sha512/%s"\n' % (url.rstrip("/"), record["digest"]))
            config.write('output = "%s"\n' % os.path.join(folder, record["filename"]))
        config.flush()
        subprocess.run(
            ["curl", "-sSfL", "-Z", "--parallel-max", "16", "-K", config.name], check=True
        )
    verify(records, folder)
    store(records, folder, cache)


def main(argv):
    command, manifest = argv[1], argv[2]
    with open(manifest) as file:
        records = json.load(file)
    if command == "fetch":
        fetch(records, argv[3], argv[4], argv[5])
    elif command == "verify":
        verify(records, argv[3])
    elif command == "link":
        link(records, argv[3], argv[4])
    elif command == "store":
        store(records, argv[3], argv[4])
    elif command == "stat":
        sizes(records, argv[3])
    else:
        raise SystemExit("unknown command " + command)


if __name__ == "__main__":
    main(sys.argv)
