#!/usr/bin/env python3
"""Cross-check atcr's repository code against the reference implementation.

usage: crosscheck.py <path-to-atcr_repo_tool> <path-to-ref-repo.mjs>

atcr_repo_tool (C++) and ref-repo.mjs (@atproto/repo under Node 22) share one
CLI contract (see ref-repo.mjs): build / verify / mst-root. With a fixed seed
this script generates record sets, keys and MST key sets, and checks that:
  * both builders produce the same MST root (`data`) for the same records
    (commit CIDs differ: each commit carries its own rev);
  * each verifier accepts its own and the other's CAR, and all of them report
    the same record list, equal to the input's paths;
  * mst-root agrees between the two, with the empty-tree CID, and with the
    atproto interop commit-proof fixtures;
  * tampered CARs (a byte flipped in a record block; a byte flipped in the
    commit signature, raw and with the commit CID and CAR root re-hashed so
    only the signature is wrong) and wrong did / did:key are rejected by both.
Prints one line per check and `crosscheck: N passed, M failed`; exits 1 on
any failure. Python 3 stdlib only.

Node: $ATCR_NODE + $NODE_PATH if set, else $ATCR_CACHE/node-env.sh (written by
scripts/node-tools.sh), else runs scripts/node-tools.sh itself.
Env knobs: CROSSCHECK_SEED (default 20240917), CROSSCHECK_KEEP=1 keeps the
temp dir, CROSSCHECK_VERBOSE=1 prints every command.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
EMPTY_MST_ROOT = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
TIMEOUT = 600
VERBOSE = os.environ.get("CROSSCHECK_VERBOSE") == "1"


def log(msg: str) -> None:
    print(f"[crosscheck] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------- node setup
def parse_exports(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export ") and "=" in line:
            k, v = line[len("export "):].split("=", 1)
            parts = shlex.split(v)
            env[k] = parts[0] if parts else ""
    return env


def node_env() -> dict[str, str]:
    def usable(env: dict[str, str]) -> bool:
        return (os.access(env.get("ATCR_NODE", ""), os.X_OK)
                and os.path.isdir(env.get("NODE_PATH", "").split(":")[0]))

    env = {k: os.environ[k] for k in ("ATCR_NODE", "NODE_PATH") if k in os.environ}
    if usable(env):
        return env
    cache = Path(os.environ.get("ATCR_CACHE") or Path.home() / ".cache" / "atcr")
    env_file = cache / "node-env.sh"
    if env_file.is_file():
        env = parse_exports(env_file.read_text())
        if usable(env):
            return env
    script = REPO_ROOT / "scripts" / "node-tools.sh"
    log(f"node tools not set up; running {script}")
    out = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, check=True, text=True).stdout
    env = parse_exports(out)
    if not usable(env):
        sys.exit(f"[crosscheck] ERROR: {script} gave no usable ATCR_NODE/NODE_PATH")
    return env


# --------------------------------------------------------------- encodings
B32 = "abcdefghijklmnopqrstuvwxyz234567"
S32 = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable (TIDs)


def b32(data: bytes) -> str:
    return base64.b32encode(data).decode().lower().rstrip("=")


def cid_string(codec: int, digest: bytes) -> str:
    return "b" + b32(bytes([0x01, codec, 0x12, 0x20]) + digest)


def cid_bytes_of(block: bytes, codec: int = 0x71) -> bytes:
    return bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(block).digest()


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def parse_car(car: bytes):
    """-> (header_start, header_end, [(cid_start, cid_end, data_start, data_end)])."""
    hlen, pos = read_varint(car, 0)
    header = (pos, pos + hlen)
    pos += hlen
    sections = []
    while pos < len(car):
        slen, p = read_varint(car, pos)
        end = p + slen
        cstart = p
        _, p = read_varint(car, p)          # CID version
        _, p = read_varint(car, p)          # codec
        _, p = read_varint(car, p)          # multihash code
        dlen, p = read_varint(car, p)       # digest length
        p += dlen
        sections.append((cstart, p, p, end))
        pos = end
    return header, sections


def car_blocks(car: bytes) -> dict[str, tuple[int, int, int, int]]:
    """CID string -> section offsets; {} for a CAR this parser cannot read."""
    try:
        _, sections = parse_car(car)
    except IndexError:
        return {}
    return {"b" + b32(car[s[0]:s[1]]): s for s in sections}


# --------------------------------------------------------------- generators
class Gen:
    def __init__(self, seed: int):
        self.r = random.Random(seed)

    def tid(self) -> str:
        return self.r.choice(S32[:16]) + "".join(self.r.choice(S32) for _ in range(12))

    def did(self) -> str:
        return "did:plc:" + "".join(self.r.choice(B32) for _ in range(24))

    def key_hex(self) -> str:
        while True:
            k = self.r.getrandbits(256)
            if 0 < k < SECP256K1_N:
                return f"{k:064x}"

    def cid(self, codec: int = 0x71) -> str:
        return cid_string(codec, self.r.randbytes(32))

    def text(self, n: int) -> str:
        pool = ("abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789 .,!?-_"
                "éüßñçøåœ жщы 中文字 日本語 한국어 ☃★♥ 🌍🚀👩‍💻 \u0301")
        return "".join(self.r.choice(pool) for _ in range(n))

    def bytes_json(self, n: int, pad: bool = False) -> dict:
        s = base64.b64encode(self.r.randbytes(n)).decode()
        return {"$bytes": s if pad else s.rstrip("=")}

    def blob(self) -> dict:
        return {"$type": "blob", "ref": {"$link": self.cid(0x55)},
                "mimeType": self.r.choice(["image/png", "image/jpeg", "application/vnd.oci.image.layer.v1.tar+gzip"]),
                "size": self.r.randint(1, 2**31)}

    def simple_record(self, collection: str) -> dict:
        return {"$type": collection, "text": self.text(self.r.randint(0, 80)),
                "createdAt": f"2024-{self.r.randint(1, 12):02d}-{self.r.randint(1, 28):02d}T12:34:56.789Z",
                "n": self.r.randint(-(2**31), 2**31)}

    def rich_record(self, collection: str, depth: int = 0) -> dict:
        r = self.r
        rec = {
            "$type": collection,
            "text": self.text(r.randint(1, 200)),
            "a": r.choice([True, False]),
            "bb": None,
            "aaa": [r.randint(-(2**53) + 1, 2**53 - 1) for _ in range(r.randint(0, 6))],
            "ints": [0, 1, -1, 23, 24, -24, -25, 255, 256, 65535, 65536, 2**32, -(2**32) - 1,
                     2**53 - 1, -(2**53) + 1],
            "escapes": "tab\tnl\nquote\"backslash\\ nul\u0000 del\u007f",
            "unicode key é": "ключ",
            "zzzzzzzzzzzzzzzz": {},
            "emptyList": [],
            "emptyText": "",
            "bytes": self.bytes_json(r.randint(1, 100)),
            "bytesPadded": self.bytes_json(r.choice([1, 2, 4, 5]), pad=True),
            "emptyBytes": {"$bytes": ""},
            "link": {"$link": self.cid()},
            "rawLink": {"$link": self.cid(0x55)},
            "blob": self.blob(),
            "list": [self.text(5), r.randint(0, 9), None, {"$link": self.cid()}, self.bytes_json(3),
                     [[], [1, [2, [3]]]], {"k": "v"}],
            "facets": [{"index": {"byteStart": i, "byteEnd": i + 3},
                        "features": [{"$type": "app.bsky.richtext.facet#link", "uri": f"https://example.com/{i}"}]}
                       for i in range(r.randint(0, 4))],
        }
        if depth < 3:
            rec["nested"] = self.rich_record(collection, depth + 1)
        return rec


def make_sets(g: Gen) -> list[dict]:
    sets = []

    def mk(name, did, records):
        paths = [f"{x['collection']}/{x['rkey']}" for x in records]
        assert len(set(paths)) == len(paths), name
        sets.append({"name": name, "input": {"did": did, "signingKey": g.key_hex(), "records": records}})

    mk("1-record", g.did(), [{"collection": "app.bsky.feed.post", "rkey": g.tid(),
                             "value": g.simple_record("app.bsky.feed.post")}])

    colls = ["app.bsky.feed.post", "app.bsky.feed.like", "io.atcr.manifest"]
    recs, seen = [], set()
    while len(recs) < 50:
        c, k = g.r.choice(colls), g.tid()
        if (c, k) not in seen:
            seen.add((c, k))
            recs.append({"collection": c, "rkey": k, "value": g.simple_record(c)})
    mk("50-records-3-collections", g.did(), recs)

    recs, seen = [], set()
    while len(recs) < 2000:
        c, k = g.r.choice(colls[:2]), g.tid()
        if (c, k) not in seen:
            seen.add((c, k))
            recs.append({"collection": c, "rkey": k, "value": g.simple_record(c)})
    mk("2000-records", g.did(), recs)

    rkeys = ["self", "a", "3jzfcijpj2z2a", "with-dash_under.dot:colon~tilde", "Z" * 100, "0"]
    recs = [{"collection": "io.atcr.test.rich", "rkey": k, "value": g.rich_record("io.atcr.test.rich")}
            for k in rkeys]
    recs.append({"collection": "io.atcr.sailor.profile", "rkey": "self",
                 "value": {"$type": "io.atcr.sailor.profile", "avatar": g.blob(),
                           "description": g.text(300), "links": [{"$link": g.cid()} for _ in range(5)]}})
    mk("rich-values", g.did(), recs)
    return sets


# --------------------------------------------------------------- runner
class Checker:
    def __init__(self, ours: list[str], ref: list[str], env: dict[str, str], work: Path):
        self.tools = {"atcr": ours, "ref": ref}
        self.env = env
        self.work = work
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"ok   - {what}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL - {what}" + (f": {detail}" if detail else ""), flush=True)
        return ok

    def run(self, tool: str, *args: str) -> tuple[int, dict | None, str]:
        """-> (exit code, parsed JSON stdout or None, short error text)."""
        cmd = self.tools[tool] + list(args)
        if VERBOSE:
            log("$ " + shlex.join(cmd))
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=self.env, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return -1, None, f"{tool} timed out after {TIMEOUT}s"
        except OSError as e:
            return -1, None, f"{tool}: {e}"
        err = p.stderr.decode(errors="replace").strip()
        out = None
        if p.returncode == 0:
            try:
                lines = p.stdout.decode().strip().splitlines()
                out = json.loads(lines[-1]) if lines else None
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                return p.returncode, None, f"{tool} printed no JSON line ({e}): {p.stdout[:200]!r}"
            if not isinstance(out, dict):
                return p.returncode, None, f"{tool} printed {p.stdout[:200]!r}, not a JSON object"
        return p.returncode, out, (err.splitlines() or [""])[-1][:300] or f"exit {p.returncode}"


def did_keys(env: dict[str, str], keys: list[str]) -> list[str]:
    js = ("const {Secp256k1Keypair} = require('@atproto/crypto');"
          "(async () => { for (const k of process.argv.slice(1))"
          " console.log((await Secp256k1Keypair.import(k)).did()) })()"
          ".catch(e => { console.error(e); process.exit(1) })")
    out = subprocess.run([env["ATCR_NODE"], "-e", js, *keys], env=env, stdout=subprocess.PIPE,
                         check=True, text=True, timeout=TIMEOUT).stdout.split()
    if len(out) != len(keys) or not all(k.startswith("did:key:z") for k in out):
        raise RuntimeError(f"did:key derivation gave {out!r}")
    return out


def valid_records(v: dict | None) -> list | None:
    if not v or not isinstance(v.get("records"), list):
        return None
    return [list(x) for x in v["records"]]


def rejects(c: Checker, verifier: str, accepted: set, car_tool: str, car: Path, did: str, did_key: str,
            what: str) -> None:
    """A rejection counts only from a verifier that accepted the untouched CAR."""
    rc, _, err = c.run(verifier, "verify", str(car), did, did_key)
    if (verifier, car_tool) not in accepted:
        c.check(False, what, f"{verifier} did not accept the untouched CAR, so a rejection proves nothing")
    else:
        # rc < 0: killed by a signal (crash) or timeout, which is no rejection
        c.check(rc > 0, what, "accepted (exit 0)" if rc == 0 else err)


def test_set(c: Checker, s: dict, did_key: str, other_key: str) -> dict:
    name, inp = s["name"], s["input"]
    d = c.work / name
    d.mkdir()
    (d / "input.json").write_text(json.dumps(inp, ensure_ascii=False))
    want_paths = sorted(f"{r['collection']}/{r['rkey']}" for r in inp["records"])

    built, cars = {}, {}
    for tool in ("atcr", "ref"):
        car = d / f"{tool}.car"
        t0 = time.monotonic()
        rc, out, err = c.run(tool, "build", str(d / "input.json"), str(car))
        ok = rc == 0 and out and isinstance(out.get("root"), str) and isinstance(out.get("data"), str) \
            and car.is_file()
        if c.check(bool(ok), f"[{name}] {tool} build ({len(inp['records'])} records, "
                             f"{time.monotonic() - t0:.1f}s)", err if rc else f"bad output {out!r}"):
            built[tool] = out
            cars[tool] = car.read_bytes()
    if len(built) == 2:
        c.check(built["atcr"]["data"] == built["ref"]["data"], f"[{name}] MST root (data) equal",
                f"atcr {built['atcr']['data']} != ref {built['ref']['data']}")

    lists = {}
    for car_tool in built:
        root = built[car_tool]["root"]
        if root not in car_blocks(cars[car_tool]):
            c.check(False, f"[{name}] {car_tool} CAR holds its commit block", f"no block {root}")
        for verifier in ("atcr", "ref"):
            what = f"[{name}] {verifier} verifies {car_tool}'s CAR"
            rc, out, err = c.run(verifier, "verify", str(d / f"{car_tool}.car"), inp["did"], did_key)
            recs = valid_records(out) if rc == 0 else None
            if rc != 0:
                c.check(False, what, err)
            elif recs is None:
                c.check(False, what, f"bad output {str(out)[:200]}")
            else:
                problems = []
                if out.get("root") != root:
                    problems.append(f"root {out.get('root')} != built {root}")
                if out.get("data") != built[car_tool]["data"]:
                    problems.append(f"data {out.get('data')} != built {built[car_tool]['data']}")
                paths = [r[0] for r in recs]
                if paths != want_paths:
                    problems.append(f"paths differ from input ({len(paths)} vs {len(want_paths)}; "
                                    f"first diff {next((p for p in zip(paths, want_paths) if p[0] != p[1]), None)})")
                if c.check(not problems, what, "; ".join(problems)):
                    lists[(verifier, car_tool)] = recs
    if len(lists) >= 2:
        (k0, l0), *rest = lists.items()
        bad = [k for k, l in rest if l != l0]
        c.check(not bad, f"[{name}] record lists identical across {len(lists)} verifications",
                f"{bad} differ from {k0}")
    else:
        c.check(False, f"[{name}] record lists identical across verifications",
                f"only {len(lists)} verification(s) succeeded")

    # wrong identity: a sound CAR, checked against the wrong did:key / did
    for car_tool in built:
        for verifier in ("atcr", "ref"):
            rejects(c, verifier, set(lists), car_tool, d / f"{car_tool}.car", inp["did"], other_key,
                    f"[{name}] {verifier} rejects {car_tool}'s CAR with the wrong did:key")
            wrong_did = inp["did"][:-1] + ("a" if inp["did"][-1] != "a" else "b")
            rejects(c, verifier, set(lists), car_tool, d / f"{car_tool}.car", wrong_did, did_key,
                    f"[{name}] {verifier} rejects {car_tool}'s CAR with the wrong did")
    return {"cars": cars, "built": built, "lists": lists}


def tamper_checks(c: Checker, name: str, res: dict, did: str, did_key: str, seed: int) -> None:
    r = random.Random(seed)
    accepted = set(res["lists"])
    for car_tool in ("atcr", "ref"):
        if car_tool not in res["cars"]:
            c.check(False, f"[tamper {car_tool}] tamper with {car_tool}'s CAR", "it was not built")
            continue
        car = res["cars"][car_tool]
        d = c.work / f"tamper-{name}-{car_tool}"
        d.mkdir()
        blocks = car_blocks(car)
        header = parse_car(car)[0] if blocks else (0, 0)
        root = res["built"][car_tool]["root"]
        recs = next((l for (v, t), l in res["lists"].items() if t == car_tool), None)
        if root not in blocks or not recs or any(x[1] not in blocks for x in recs):
            c.check(False, f"[tamper {car_tool}] locate commit and record blocks",
                    "no verified record list" if not recs else "blocks missing from the CAR")
            continue
        variants = []

        # 1. one byte flipped in the middle of a record block
        rec_cid = r.choice(recs)[1]
        _, _, ds, de = blocks[rec_cid]
        buf = bytearray(car)
        buf[(ds + de) // 2] ^= 0x01
        variants.append(("byte flipped in a record block", bytes(buf)))

        # 2. one byte flipped in the commit signature (the commit's CID no longer matches)
        _, _, ds, de = blocks[root]
        commit = car[ds:de]
        at = commit.find(b"\x63sig\x58\x40")
        if at < 0:
            c.check(False, f"[tamper {car_tool}] find the 64-byte sig in the commit block", commit.hex()[:120])
            continue
        sig_pos = ds + at + 6 + r.randrange(64)
        buf = bytearray(car)
        buf[sig_pos] ^= 0x80
        variants.append(("byte flipped in the commit signature", bytes(buf)))

        # 3. same, but commit CID and CAR header root re-hashed: only the signature is wrong
        new_cid = cid_bytes_of(bytes(buf[ds:de]))
        old_cid = bytes.fromhex("01711220") + hashlib.sha256(commit).digest()
        cs, ce = blocks[root][0], blocks[root][1]
        if car[cs:ce] != old_cid or car[header[0]:header[1]].count(old_cid) != 1:
            c.check(False, f"[tamper {car_tool}] commit CID is a plain sha256 dag-cbor CIDv1 in header and section")
        else:
            buf[cs:ce] = new_cid
            hs = car.index(old_cid, header[0], header[1])
            buf[hs:hs + len(old_cid)] = new_cid
            variants.append(("bad commit signature, CIDs re-hashed", bytes(buf)))

        for i, (what, data) in enumerate(variants):
            path = d / f"tampered-{i}.car"
            path.write_bytes(data)
            for verifier in ("atcr", "ref"):
                rejects(c, verifier, accepted, car_tool, path, did, did_key,
                        f"[tamper {car_tool}] {verifier} rejects: {what}")


def mst_checks(c: Checker, g: Gen) -> None:
    d = c.work / "mst"
    d.mkdir()
    cases = []
    colls = ["app.bsky.feed.post", "com.example.record", "io.atcr.manifest", "a.b.c"]
    for n in (0, 1, 2, 3, 10, 100, 1000, 5000):
        keys = set()
        while len(keys) < n:
            keys.add(f"{g.r.choice(colls)}/{g.tid()}")
        pairs = [[k, g.cid()] for k in keys]
        g.r.shuffle(pairs)                   # insertion order must not matter
        cases.append((f"{n} random keys", pairs, EMPTY_MST_ROOT if n == 0 else None))
    fixtures = REPO_ROOT / "tests" / "fixtures" / "atproto-interop" / "firehose" / "commit-proof-fixtures.json"
    if fixtures.is_file():
        for i, f in enumerate(json.loads(fixtures.read_text())):
            after = sorted((set(f["keys"]) - set(f["dels"])) | set(f["adds"]))
            cases.append((f"fixture '{f['comment']}' before", [[k, f["leafValue"]] for k in f["keys"]],
                          f["rootBeforeCommit"]))
            cases.append((f"fixture '{f['comment']}' after", [[k, f["leafValue"]] for k in after],
                          f["rootAfterCommit"]))
    for i, (what, pairs, want) in enumerate(cases):
        path = d / f"keys-{i}.json"
        path.write_text(json.dumps(pairs))
        roots, errs = {}, []
        for tool in ("atcr", "ref"):
            rc, out, err = c.run(tool, "mst-root", str(path))
            if rc == 0 and out and isinstance(out.get("root"), str):
                roots[tool] = out["root"]
            else:
                errs.append(f"{tool}: {err}")
        problems = list(errs)
        if len(roots) == 2 and roots["atcr"] != roots["ref"]:
            problems.append(f"atcr {roots['atcr']} != ref {roots['ref']}")
        if want:
            problems += [f"{t} {v} != expected {want}" for t, v in roots.items() if v != want]
        c.check(not problems, f"[mst-root] {what}" + (f" = {roots.get('ref')}" if not problems else ""),
                "; ".join(problems))


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    ours, ref_mjs = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    for p in (ours, ref_mjs):
        if not p.is_file():
            sys.exit(f"[crosscheck] ERROR: no such file: {p}")
    nenv = node_env()
    env = dict(os.environ, **nenv)
    env.pop("LOG_ENABLED", None)
    seed = int(os.environ.get("CROSSCHECK_SEED", "20240917"))
    log(f"seed {seed}; node {nenv['ATCR_NODE']}; NODE_PATH {nenv['NODE_PATH']}")

    g = Gen(seed)
    sets = make_sets(g)
    keys = did_keys(env, [s["input"]["signingKey"] for s in sets] + [g.key_hex()])
    stranger = keys[-1]

    work = Path(tempfile.mkdtemp(prefix="atcr-crosscheck-"))
    c = Checker([str(ours)], [nenv["ATCR_NODE"], str(ref_mjs)], env, work)
    t0 = time.monotonic()
    try:
        for s, dk in zip(sets, keys):
            s["result"] = test_set(c, s, dk, stranger)
        tamper = sets[1]
        tamper_checks(c, tamper["name"], tamper["result"], tamper["input"]["did"], keys[1], seed + 1)
        mst_checks(c, g)
    finally:
        if os.environ.get("CROSSCHECK_KEEP") == "1":
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    log(f"done in {time.monotonic() - t0:.1f}s")
    print(f"crosscheck: {c.passed} passed, {c.failed} failed", flush=True)
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
