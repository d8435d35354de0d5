"""expect.py — checks one answer the README shows against the real one.

Usage: expect.py WHERE TEXT HEADERS BODY, where TEXT is what follows `# -> ` on a README line,
HEADERS and BODY the response curl kept (-D, -o). TEXT is, in this order and each optional:
  - a status: `201`;
  - a JSON value in which `...` stands for object members or array elements not shown: an object
    without `...` must have exactly the members shown, an array without `...` exactly the elements
    shown (in order; `...` may only end an array); numbers and strings must be equal;
  - `Location: /api/v1/runs/run_1` (after a comma): that response header, exactly.
Exits 1 naming the first difference."""
import json
import re
import sys

MORE = "\u2026"  # stands for `...` once the text is JSON


def dejson(text):
    """The TEXT's JSON with each `...` made a marker: a member `"…": 0` or an element `"…"`."""
    out, stack, i, in_str = [], [], 0, False
    while i < len(text):
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif c in "[{":
            stack.append(c)
            out.append(c)
        elif c in "]}":
            stack.pop()
            out.append(c)
        elif text.startswith("...", i):
            out.append('"%s": 0' % MORE if stack and stack[-1] == "{" else '"%s"' % MORE)
            i += 2
        else:
            out.append(c)
        i += 1
    return json.loads("".join(out))


def match(want, got, path):
    """None when got has what want shows, else the first difference."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return f"{path}: want an object, got {json.dumps(got)[:80]}"
        open_ = want.pop(MORE, None) is not None
        for k, v in want.items():
            if k not in got:
                return f"{path}: no member {k!r}"
            d = match(v, got[k], f"{path}.{k}")
            if d:
                return d
        extra = set(got) - set(want)
        if extra and not open_:
            return f"{path}: members not shown (and no ...): {sorted(extra)}"
        return None
    if isinstance(want, list):
        if not isinstance(got, list):
            return f"{path}: want an array, got {json.dumps(got)[:80]}"
        open_ = bool(want) and want[-1] == MORE
        if open_:
            want = want[:-1]
        if MORE in want:
            raise SystemExit(f"{path}: `...` may only end an array")
        if len(got) < len(want) or (len(got) != len(want) and not open_):
            shown = f"{len(want)}{'+' if open_ else ''}"
            return f"{path}: {len(got)} elements, the README shows {shown}"
        for i, v in enumerate(want):
            d = match(v, got[i], f"{path}[{i}]")
            if d:
                return d
        return None
    if want != got or type(want) is bool and type(got) is not bool:
        return f"{path}: README shows {json.dumps(want)}, the answer has {json.dumps(got)}"
    return None


def selftest():
    """The matcher on answers that must match and answers that must not (run_readme.sh runs this
    first, so a matcher that accepts everything fails the test)."""
    got = {"id": "ds_1", "rows": 60000, "cols": 785,
           "outputs": [{"name": "label", "data": ["a", "b"]}]}
    good = ['{"id":"ds_1",...}', '{"rows":60000,...,"cols":785}',
            '{"outputs":[{"name":"label",...}],...}', '{"outputs":[{"data":["a",...],...}],...}',
            '{"id":"ds_1","rows":60000,"cols":785,"outputs":[...]}']
    bad = ['{"id":"ds_2",...}', '{"rows":60001,...}', '{"id":"ds_1","rows":60000,"cols":785}',
           '{"outputs":[{"data":["a"],...}],...}', '{"outputs":[],...}', '{"nope":1,...}', '[...]',
           '{"outputs":[{"data":["b",...],...}],...}']
    for t in good:
        assert match(dejson(t), got, "$") is None, f"expect.py selftest: {t} should match"
    for t in bad:
        assert match(dejson(t), got, "$") is not None, f"expect.py selftest: {t} should not match"


def main():
    if sys.argv[1:] == ["--selftest"]:
        selftest()
        return
    where, text, hfile, bfile = sys.argv[1:5]
    raw = open(hfile, encoding="latin-1").read()
    head = [b for b in re.split(r"\r?\n\r?\n", raw) if b.startswith("HTTP/")][-1]
    lines = head.splitlines()
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    body = open(bfile, "rb").read()
    rest = text.strip()
    problems, checked = [], 0
    m = re.match(r"(\d{3})\b[,\s]*", rest)
    if m:
        checked += 1
        if status != int(m.group(1)):
            problems.append(f"status {status}, the README shows {m.group(1)}")
        rest = rest[m.end():]
    m = re.search(r",?\s*Location:\s*(\S+)\s*$", rest)
    if m:
        checked += 1
        if headers.get("location") != m.group(1):
            problems.append(
                f"Location {headers.get('location')!r}, the README shows {m.group(1)!r}")
        rest = rest[: m.start()]
    rest = rest.strip()
    if rest:
        checked += 1
        try:
            want = dejson(rest)
        except ValueError as e:
            raise SystemExit(f"{where}: the answer shown is not JSON with `...`: {e}: {rest}")
        try:
            got = json.loads(body)
        except ValueError:
            got = None
            problems.append(f"the answer is not JSON: {body[:200]!r}")
        if got is not None:
            d = match(want, got, "$")
            if d:
                problems.append(d)
    if not checked:
        raise SystemExit(f"{where}: nothing to check in `# -> {text}`")
    if problems:
        print(f"run_readme: {where}: the answer differs from `# -> {text}`:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        print(f"  the answer: {status} {body[:400].decode('utf-8', 'replace')}", file=sys.stderr)
        sys.exit(1)
    print(f"run_readme: {where}: the answer matches `# -> {text}`")


if __name__ == "__main__":
    main()
