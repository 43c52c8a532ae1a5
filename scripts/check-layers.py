#!/usr/bin/env python3
"""Holds the layering of src/: each folder may include only the layers its
line below allows (its own headers always). `make check-layers` runs it, and
CI runs that; it prints every offending #include and exits 1.

A new layer is one line here: its name and what it may include. "*" allows
every layer, "-NAME" then takes one away.
"""
import os
import re
import sys

# layer:   the layers its files may include (besides its own)
RULES = {
    "util": "",
    "trace": "util",
    "engine": "util",
    "text": "util",
    "sched": "engine text util",
    "manager": "engine text sched trace util",
    "agents": "sched manager text trace util",
    "skills": "sched manager text trace util",
    "server": "* -cli",
    "cli": "*",
}

# System headers a layer must not see: the engine knows nothing of HTTP or
# JSON; only the server speaks HTTP.
FORBIDDEN_SYSTEM = {
    "engine": {"jansson.h", "microhttpd.h", "curl/curl.h"},
    "text": {"microhttpd.h"},
    "trace": {"microhttpd.h"},
    "sched": {"microhttpd.h"},
    "manager": {"microhttpd.h"},
    "agents": {"microhttpd.h"},
    "skills": {"microhttpd.h"},
}

# Words a layer must not contain, comments included: the manager speaks no
# HTTP (its results are manager/mgr_err.h; server/core/mgr_error.c maps them
# to statuses and the APIs' error types, and the server names its routes).
FORBIDDEN_WORDS = {
    "manager": ("lmx_api_err", "util/api_err.h", "invalid_request_error", "server_error",
                "permission_error", "/admin/", "/v1/"),
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def allowed(layer, layers):
    words = RULES[layer].split()
    ok = set(layers) if "*" in words else {w for w in words if not w.startswith("-")}
    ok -= {w[1:] for w in words if w.startswith("-")}
    ok.add(layer)
    return ok


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    layers = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    bad = []
    for layer in layers:
        if layer not in RULES:
            bad.append(f"src/{layer}/: a layer with no rule: add its line to scripts/check-layers.py")
            continue
        ok = allowed(layer, layers)
        for dirpath, _, files in os.walk(os.path.join(root, layer)):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, os.path.join(root, ".."))
                with open(path, encoding="utf-8", errors="replace") as f:
                    for n, line in enumerate(f, 1):
                        for w in FORBIDDEN_WORDS.get(layer, ()):
                            if w in line:
                                bad.append(f"{rel}:{n}: {layer}/ may not say '{w}'")
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        kind, target = m.groups()
                        if kind == "<":
                            if target in FORBIDDEN_SYSTEM.get(layer, ()):
                                bad.append(f"{rel}:{n}: {layer}/ may not include <{target}>")
                            continue
                        top = target.split("/")[0]
                        if "/" not in target or top not in layers:
                            bad.append(f'{rel}:{n}: "{target}": name headers from src/ ("layer/file.h")')
                        elif top not in ok:
                            bad.append(f'{rel}:{n}: {layer}/ may not include "{target}"')
    for b in bad:
        print(b)
    if bad:
        print(f"check-layers: {len(bad)} violation(s)")
        return 1
    print(f"check-layers: ok ({', '.join(layers)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
