#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A fake Kubernetes API server for shunt's tests, standard library only.

It speaks the API's wire format for what shuntd --kubernetes uses: lists
(JSON with metadata.resourceVersion, paged with limit and continue, items
without apiVersion and kind, as the API sends them), watches (chunked
streams of {"type": ..., "object": ...} lines from a resourceVersion, with
BOOKMARK events when asked for, ERROR 410 for a compacted resourceVersion,
an end at timeoutSeconds), and the discovery documents of
networking.istio.io. Objects come from a fixture file (JSON: {"objects":
[...]}) and change through a control API under /_fake/:

  POST /_fake/apply         body: an object; created or replaced (ADDED, MODIFIED)
  POST /_fake/delete        body: an object (apiVersion, kind, metadata); DELETED
  POST /_fake/drop          every watch stream is cut (no final chunk)
  POST /_fake/expire        compaction: open watches get ERROR 410, older versions too
  POST /_fake/gone?n=N&resource=R  the next N watch requests (of resource R: all
                            when absent) are answered HTTP 410
  POST /_fake/bookmark      a BOOKMARK on every watch that allows them
  POST /_fake/istio?on=0|1  networking.istio.io is served, or 404 (not installed)
  POST /_fake/slow?ms=N     events are written in 7-byte chunks, N ms apart (0: off)
  GET  /_fake/stats         lists, watches and 410s so far, per resource

  fake_kube_api.py --listen 127.0.0.1:PORT --fixtures FILE [--token T]
                   [--cert PEM --key PEM] [--istio 0|1] [--port-file FILE]
"""
import argparse
import base64
import copy
import json
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# apiVersion group, kind -> plural; the versions each group serves.
KINDS = {
    ("", "Namespace"): "namespaces",
    ("", "Service"): "services",
    ("", "Pod"): "pods",
    ("discovery.k8s.io", "EndpointSlice"): "endpointslices",
    ("networking.istio.io", "VirtualService"): "virtualservices",
    ("networking.istio.io", "DestinationRule"): "destinationrules",
    ("networking.istio.io", "ServiceEntry"): "serviceentries",
    ("networking.istio.io", "WorkloadEntry"): "workloadentries",
    ("networking.istio.io", "Gateway"): "gateways",
    ("networking.istio.io", "Sidecar"): "sidecars",
    ("", "Secret"): "secrets",
}
# fieldSelector fields the fake understands (the real API has a few per kind).
SELECTABLE = {"metadata.name", "metadata.namespace", "type"}


def field_value(obj, field):
    v = obj
    for part in field.split("."):
        v = v.get(part, "") if isinstance(v, dict) else ""
    return v if isinstance(v, str) else ""


def selector_of(q):
    """[(field, value)] of ?fieldSelector=a=b,c=d; ValueError for what the fake cannot do."""
    sel = q.get("fieldSelector", "")
    out = []
    for term in filter(None, sel.split(",")):
        field, eq, value = term.partition("=")
        if not eq or field not in SELECTABLE or value.startswith("="):
            raise ValueError('field label not supported: "%s"' % field)
        out.append((field, value))
    return out


def selected(obj, sel):
    return all(field_value(obj, f) == v for f, v in sel)
CLUSTER_SCOPED = {"namespaces"}
ISTIO_VERSIONS = ["v1", "v1beta1", "v1alpha3"]


class State:
    def __init__(self, istio):
        self.cond = threading.Condition()
        self.rv = 100
        self.objects = {}  # plural -> {key: object}
        self.log = []  # (rv, plural or "*", type, object)
        self.compacted = 0  # watches from a resourceVersion below this get 410
        self.drop_gen = 0
        self.expire_gen = 0
        self.gone = 0
        self.gone_resource = None
        self.istio = istio
        self.slow_ms = 0
        self.pages = {}  # continue token -> remaining items
        self.stats = {"lists": {}, "watches": {}, "gone": 0, "expired": 0,
                      "selectors": {}}  # plural -> the last fieldSelector asked

    def plural_of(self, obj):
        api = obj.get("apiVersion", "")
        group = api.split("/")[0] if "/" in api else ""
        return KINDS.get((group, obj.get("kind", "")))

    def key_of(self, plural, obj):
        md = obj.get("metadata", {})
        if plural in CLUSTER_SCOPED:
            return md["name"]
        return "%s/%s" % (md.get("namespace") or "default", md["name"])

    def apply(self, obj, quiet=False):
        plural = self.plural_of(obj)
        if not plural:
            raise ValueError("unknown kind %s %s" % (obj.get("apiVersion"), obj.get("kind")))
        with self.cond:
            self.rv += 1
            obj = copy.deepcopy(obj)
            md = obj.setdefault("metadata", {})
            if plural not in CLUSTER_SCOPED:
                md.setdefault("namespace", "default")
            md["resourceVersion"] = str(self.rv)
            md.setdefault("uid", "uid-%d" % self.rv)
            md.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            objs = self.objects.setdefault(plural, {})
            key = self.key_of(plural, obj)
            kind = "MODIFIED" if key in objs else "ADDED"
            objs[key] = obj
            if not quiet:
                self.log.append((self.rv, plural, kind, obj))
            self.cond.notify_all()

    def delete(self, obj):
        plural = self.plural_of(obj)
        with self.cond:
            key = self.key_of(plural, obj)
            old = self.objects.get(plural, {}).pop(key, None)
            if old is None:
                return False
            self.rv += 1
            old = copy.deepcopy(old)
            old["metadata"]["resourceVersion"] = str(self.rv)
            self.log.append((self.rv, plural, "DELETED", old))
            self.cond.notify_all()
            return True


STATE = None
TOKEN = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-api: %s\n" % (fmt % args))

    def send_json(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason, msg):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": msg, "reason": reason,
                              "code": code})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        st = STATE
        try:
            if url.path == "/_fake/apply":
                st.apply(self.body())
            elif url.path == "/_fake/delete":
                if not st.delete(self.body()):
                    return self.status(404, "NotFound", "no such object")
            elif url.path == "/_fake/drop":
                with st.cond:
                    st.drop_gen += 1
                    st.cond.notify_all()
            elif url.path == "/_fake/expire":
                with st.cond:
                    st.rv += 1
                    st.compacted = st.rv
                    st.expire_gen += 1
                    st.cond.notify_all()
            elif url.path == "/_fake/gone":
                with st.cond:
                    st.gone = int(q.get("n", "1"))
                    st.gone_resource = q.get("resource")
            elif url.path == "/_fake/bookmark":
                with st.cond:
                    st.log.append((st.rv, "*", "BOOKMARK", None))
                    st.cond.notify_all()
            elif url.path == "/_fake/istio":
                st.istio = q.get("on", "1") == "1"
            elif url.path == "/_fake/slow":
                st.slow_ms = int(q.get("ms", "0"))
            else:
                return self.status(404, "NotFound", "no such control")
        except (ValueError, KeyError) as e:
            return self.status(400, "BadRequest", str(e))
        self.send_json(200, {"ok": True, "resourceVersion": str(st.rv)})

    def route(self, path):
        """(group, version, plural) of a collection path, or a discovery answer."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"] and len(parts) == 3:
            return "", "v1", parts[2]
        if parts and parts[0] == "apis" and len(parts) == 4:
            return parts[1], parts[2], parts[3]
        return None

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        st = STATE
        if url.path == "/_fake/stats":
            with st.cond:
                return self.send_json(200, st.stats)
        if TOKEN and self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.status(401, "Unauthorized", "Unauthorized")
        if url.path == "/apis/networking.istio.io":
            if not st.istio:
                return self.status(404, "NotFound", "the server could not find the requested resource")
            vs = [{"groupVersion": "networking.istio.io/" + v, "version": v} for v in ISTIO_VERSIONS]
            return self.send_json(200, {"kind": "APIGroup", "apiVersion": "v1",
                                        "name": "networking.istio.io", "versions": vs,
                                        "preferredVersion": vs[0]})
        parts = [p for p in url.path.split("/") if p]
        if parts[:2] == ["apis", "networking.istio.io"] and len(parts) == 3:
            if not st.istio or parts[2] not in ISTIO_VERSIONS:
                return self.status(404, "NotFound", "not found")
            res = [{"name": p, "namespaced": True, "kind": k,
                    "verbs": ["get", "list", "watch"]}
                   for (g, k), p in KINDS.items() if g == "networking.istio.io"]
            return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                        "groupVersion": "networking.istio.io/" + parts[2],
                                        "resources": res})
        r = self.route(url.path)
        if not r or r[2] not in KINDS.values():
            return self.status(404, "NotFound", "not found")
        group, version, plural = r
        if group == "networking.istio.io" and (not st.istio or version not in ISTIO_VERSIONS):
            return self.status(404, "NotFound", "not found")
        try:
            sel = selector_of(q)
        except ValueError as e:
            return self.status(400, "BadRequest", str(e))
        with st.cond:
            st.stats["selectors"][plural] = q.get("fieldSelector", "")
        if q.get("watch") in ("1", "true"):
            return self.watch(plural, q, group, version, sel)
        return self.list(plural, q, group, version, sel)

    def list(self, plural, q, group, version, sel):
        st = STATE
        limit = int(q.get("limit", "0") or 0)
        with st.cond:
            if q.get("continue"):
                page = st.pages.pop(q["continue"], None)
                if page is None:
                    return self.status(410, "Expired", "the continue token has expired")
                rv, items = page
            else:
                rv = st.rv
                items = [self.list_item(o) for _, o in sorted(st.objects.get(plural, {}).items())
                         if selected(o, sel)]
            token = ""
            if limit and len(items) > limit:
                token = base64.urlsafe_b64encode(("%s/%d/%d" % (plural, rv, time.time_ns())).encode()).decode()
                st.pages[token] = (rv, items[limit:])
                items = items[:limit]
            if not token:
                st.stats["lists"][plural] = st.stats["lists"].get(plural, 0) + 1
        kind = next(k for (g, k), p in KINDS.items() if p == plural)
        md = {"resourceVersion": str(rv)}
        if token:
            md["continue"] = token
        self.send_json(200, {"kind": kind + "List",
                             "apiVersion": group + "/" + version if group else version,
                             "metadata": md, "items": items})

    @staticmethod
    def list_item(obj):
        o = copy.deepcopy(obj)
        o.pop("apiVersion", None)  # the API leaves them out of a list's items
        o.pop("kind", None)
        return o

    def chunk(self, data):
        st = STATE
        if st.slow_ms:
            for i in range(0, len(data), 7):
                piece = data[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                time.sleep(st.slow_ms / 1000.0)
        else:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def event(self, etype, obj):
        self.chunk(json.dumps({"type": etype, "object": obj}).encode() + b"\n")

    def watch(self, plural, q, group, version, sel):
        st = STATE
        api = group + "/" + version if group else version
        kind = next(k for (g, k), p in KINDS.items() if p == plural)
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true")
        timeout = int(q.get("timeoutSeconds", "1800"))
        try:
            from_rv = int(q.get("resourceVersion") or 0)
        except ValueError:
            return self.status(400, "BadRequest", "bad resourceVersion")
        with st.cond:
            st.stats["watches"][plural] = st.stats["watches"].get(plural, 0) + 1
            if st.gone and st.gone_resource in (None, plural):
                st.gone -= 1
                st.stats["gone"] += 1
                return self.status(410, "Gone", "too old resource version")
            drop_gen, expire_gen = st.drop_gen, st.expire_gen
            pos = 0
            while pos < len(st.log) and st.log[pos][0] <= from_rv:
                pos += 1
            expired = from_rv < st.compacted
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        end = time.monotonic() + timeout
        try:
            if expired:
                with st.cond:
                    st.stats["expired"] += 1
                return self.expire(from_rv)
            while True:
                with st.cond:
                    while (pos >= len(st.log) and drop_gen == st.drop_gen and
                           expire_gen == st.expire_gen and time.monotonic() < end):
                        st.cond.wait(0.2)
                    if drop_gen != st.drop_gen:
                        self.close_connection = True
                        self.connection.shutdown(2)  # cut: no final chunk
                        return
                    if expire_gen != st.expire_gen:
                        st.stats["expired"] += 1
                        return self.expire(from_rv)
                    if time.monotonic() >= end:
                        break
                    todo = st.log[pos:]
                    pos = len(st.log)
                for rv, p, etype, obj in todo:
                    if etype == "BOOKMARK":
                        if bookmarks:
                            self.event("BOOKMARK", {"kind": kind, "apiVersion": api,
                                                    "metadata": {"resourceVersion": str(rv)}})
                    elif p == plural and selected(obj, sel):
                        self.event(etype, obj)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def expire(self, rv):
        self.event("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {},
                             "status": "Failure", "reason": "Expired", "code": 410,
                             "message": "too old resource version: %d" % rv})
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main():
    global STATE, TOKEN
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--fixtures")
    ap.add_argument("--token")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--istio", default="1")
    ap.add_argument("--port-file")
    a = ap.parse_args()
    STATE = State(a.istio == "1")
    TOKEN = a.token
    if a.fixtures:
        with open(a.fixtures) as f:
            for obj in json.load(f)["objects"]:
                STATE.apply(obj, quiet=True)
    host, port = a.listen.rsplit(":", 1)
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % srv.server_address[1])
        import os
        os.rename(a.port_file + ".tmp", a.port_file)
    sys.stderr.write("fake-api: listening on %s:%d\n" % srv.server_address[:2])
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
