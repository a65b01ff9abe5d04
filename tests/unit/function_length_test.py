#!/usr/bin/env python3
"""Functions stay short: none longer than 60 lines (issue 14).

Measures every function defined in libatcr/src, libatcr/include, apps/ and
bindings/c (C and C++ sources): from the line naming the function to its
closing brace. Lambdas and local classes count toward the function that holds
them; namespaces, extern "C" blocks and class bodies are scopes, not functions
(their member functions are measured one by one); brace-initialised data
(tables at namespace scope, member initialisers) is not a function. A lambda
stored in a variable at namespace or class scope is a function named after
the variable.

Comments, string and character literals (raw strings too) and preprocessor
lines are blanked before braces are matched, so a brace in any of them does
not count.

usage: function_length_test.py <source root>
       function_length_test.py <source root> --list   (every function, longest first)
"""
import bisect
import pathlib
import re
import sys

LIMIT = 60
DIRS = ("libatcr/src", "libatcr/include", "apps", "bindings/c")
SUFFIXES = {".h", ".hh", ".hpp", ".c", ".cc", ".cpp", ".cxx"}

# Today's offenders: (file, function, current length). This list only
# shrinks: a function on it may not grow, and once it is 60 lines or fewer its
# entry must go (the test fails until it does). Never add to it; split the
# function into named pieces instead.
ALLOWED = [
]

IDENT = r"[A-Za-z_]\w*"
KEYWORDS = {"if", "for", "while", "switch", "catch", "return", "sizeof", "alignof", "alignas",
            "decltype", "noexcept", "static_assert", "requires", "__attribute__", "typeid",
            "throw", "new", "delete"}
# What may follow a function's parameter list before its body.
SUFFIX_OK = re.compile(
    r"^(\s*(const|volatile|&&|&|noexcept(\s*\(.*\))?|override|final|mutable|try|"
    r"\[\[[^\]]*\]\]|__attribute__\s*\(\(.*\)\)|throw\s*\([^)]*\)))*"
    r"\s*((->|:|requires\b).*)?$", re.S)
NAME_BEFORE_PAREN = re.compile(
    r"((?:" + IDENT + r"(?:\s*<[^<>;{}]*>)?\s*::\s*)*"
    r"(?:operator\s*(?:\(\s*\)|\[\s*\]|[^\w\s(]+|" + IDENT + r")|~?\s*" + IDENT + r"))"
    r"\s*(?:<[^<>;{}()]*>)?\s*$")


TOKENS = re.compile(
    r"(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z))"
    r"|(?P<raw>(?<!\w)(?:u8|u|U|L)?R\"(?P<delim>[^()\\\s]{0,16})\(.*?(?:\)(?P=delim)\"|\Z))"
    r"|(?P<string>\"(?:\\.|[^\"\\\n])*\"?)"
    r"|(?P<number>\b\d[\w.']*)"  # a digit separator is no quote: 1'000'000
    r"|(?P<char>'(?:\\.|[^'\\\n])*'?)"
    r"|(?P<directive>^[ \t]*#(?:[^\n]*\\\n)*[^\n]*)",
    re.S | re.M)


def blank(text: str) -> str:
    """Replaces comments, literals and preprocessor lines with spaces, keeping newlines."""

    def spaces(m):
        kind, token = m.lastgroup, m.group()
        if kind == "number":
            return token
        inner = re.sub(r"[^\n]", " ", token) if "\n" in token else " " * len(token)
        if kind in ("string", "char", "raw") and len(token) >= 2:
            return token[0] + inner[1:-1] + token[-1]
        return inner

    return TOKENS.sub(spaces, text)


PUNCT = re.compile(r"[(){};]")
BRACKETS = {"{": re.compile(r"[{}]"), "(": re.compile(r"[()]"), "<": re.compile(r"[<>]")}


def matching(code: str, i: int, open_c: str, close_c: str) -> int:
    """Index of the bracket closing the one at i (len(code) when unbalanced)."""
    depth = 0
    for m in BRACKETS[open_c].finditer(code, i):
        depth += 1 if m.group() == open_c else -1
        if depth == 0:
            return m.start()
    return len(code)


def top_level_groups(head: str):
    """(start, end) of each parenthesised group at the head's top level."""
    groups, i = [], 0
    while i < len(head):
        if head[i] == "(":
            j = matching(head, i, "(", ")")
            groups.append((i, j))
            i = j + 1
        else:
            i += 1
    return groups


def strip_template_prefix(head: str) -> str:
    head = head.strip()
    while True:
        m = re.match(r"template\s*<", head)
        if not m:
            return head
        depth, j = 0, m.end() - 1
        while j < len(head):
            depth += {"<": 1, ">": -1}.get(head[j], 0)
            if depth == 0:
                break
            j += 1
        head = head[j + 1:].strip()


def outside_parens(head: str) -> str:
    """The head with every parenthesised group's contents blanked."""
    out, depth = [], 0
    for c in head:
        if c == "(":
            depth += 1
        out.append(c if depth == 0 or c in "()" else " ")
        if c == ")":
            depth = max(depth - 1, 0)
    return "".join(out)


def classify(head: str):
    """('namespace'|'function'|'class'|'data', name) for a brace opening after head."""
    head = re.sub(r"\s+", " ", strip_template_prefix(head))
    head = re.sub(r"^((public|private|protected)\s*:\s*)+", "", head)
    if re.match(r"^(inline\s+)?namespace\b", head) or re.match(r'^extern\s*"\s*"\s*$', head):
        return "namespace", None
    for start, end in top_level_groups(head):
        m = NAME_BEFORE_PAREN.search(head[:start])
        if not m or m.group(1).split("::")[-1].strip() in KEYWORDS:
            continue
        suffix = head[end + 1:]
        if SUFFIX_OK.match(suffix):
            if re.match(r"\s*:", suffix) and re.search(r"(\w|>)\s*$", suffix):
                return "data", None  # a member's braced initialiser in a constructor's list
            return "function", re.sub(r"\s+", "", m.group(1))
    flat = outside_parens(head)
    eq = re.search(r"(?<![=!<>+\-*/%&|^])=(?!=)", flat)
    if eq and not re.search(r"operator\s*$", flat[:eq.start()]):
        if head[eq.end():].lstrip().startswith("["):
            names = re.findall(IDENT, flat[:eq.start()])
            return "function", names[-1] if names else "lambda"
        return "data", None
    m = re.search(r"\b(class|struct|union|enum)\b\s*(class\b|struct\b)?\s*(\[\[[^\]]*\]\]\s*)?(" +
                  IDENT + r")?", flat)
    if m:
        return "class", m.group(4) or "<anonymous>"
    return "data", None


def functions(text: str):
    """Yields (line, name, length) for every function defined in text."""
    code = blank(text)
    newlines = [m.start() for m in re.finditer("\n", code)]

    def line_of(i: int) -> int:
        return bisect.bisect_left(newlines, i) + 1

    def scope(begin: int, end: int, classes):
        """Walks a namespace or class body code[begin:end]."""
        head_start, i, parens = begin, begin, 0
        while (punct := PUNCT.search(code, i, end)) is not None:
            i, c = punct.start(), punct.group()
            if c == "(":
                parens += 1
            elif c == ")":
                parens = max(parens - 1, 0)
            elif c == ";" and parens == 0:
                head_start = i + 1
            elif c == "{":
                close = matching(code, i, "{", "}")
                if close == len(code):
                    raise ValueError(f"line {line_of(i)}: '{{' is never closed")
                if parens > 0:  # a braced initialiser inside a declaration's parentheses
                    i = close + 1
                    continue
                kind, name = classify(code[head_start:i])
                if kind == "function":
                    m = re.search(re.escape(name.split("::")[-1].lstrip("~")) if name else "$",
                                  code[head_start:i])
                    first = line_of(head_start + m.start()) if m else line_of(i)
                    yield first, "::".join(classes + [name]), line_of(close) - first + 1
                    head_start = close + 1
                elif kind in ("namespace", "class"):
                    inner = classes + [name] if kind == "class" else classes
                    yield from scope(i + 1, close, inner)
                    head_start = close + 1
                i = close + 1  # data: the head goes on to its ';'
                continue
            elif c == "}":
                raise ValueError(f"line {line_of(i)}: '}}' closes nothing")
            i += 1

    yield from scope(0, len(code), [])


# The measurer on cases it must get right, checked on every run: (source,
# the functions it holds as (line, name, length)).
SELF_CHECKS = [
    ('namespace a {\nnamespace {\nint f() {\n  auto l = [] { return 1; };\n  return l();\n}\n}  // namespace\n}\n',
     [(3, "f", 4)]),
    ('const char* s = R"x( { )x";\nvoid g() { char c = \'{\'; int n = 1\'000; /* } */ }\n// {\n',
     [(2, "g", 1)]),
    ('struct S : B<decltype(f())> {\n  S() : v_{4} {\n  }\n  int v_{3};\n  void m() const noexcept {}\n};\n',
     [(2, "S::S", 2), (5, "S::m", 1)]),
    ('X::X(int a)\n    : a_(a), b_{a} {\n}\n', [(1, "X::X", 3)]),
    ('static const Entry kTable[] = {\n  {1, 2},\n  {3, 4},\n};\nextern "C" {\nint c_f(void) {\n  return 0;\n}\n}\n',
     [(6, "c_f", 3)]),
    ('const auto handler = [](int x) {\n  return x;\n};\n', [(1, "handler", 3)]),
    ('std::function<void(int)> make(int) {\n  return {};\n}\nbool operator==(const A&, const A&) { return true; }\n',
     [(1, "make", 3), (4, "operator==", 1)]),
]


def self_check():
    """The measurer's mistakes on SELF_CHECKS, as messages."""
    problems = []
    for source, expected in SELF_CHECKS:
        got = list(functions(source))
        if got != expected:
            problems.append(f"measurer: {source!r} gave {got}, expected {expected}")
    return problems


def measure(root: pathlib.Path):
    for d in DIRS:
        for path in sorted((root / d).rglob("*")):
            if path.suffix in SUFFIXES and path.is_file():
                rel = str(path.relative_to(root))
                try:
                    found = list(functions(path.read_text(errors="replace")))
                except ValueError as e:  # measure nothing rather than the wrong thing
                    found = [(0, f"<unparsed: {e}>", LIMIT + 1)]
                for line, name, length in found:
                    yield rel, line, name, length


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    measured = list(measure(root))
    if "--list" in sys.argv[2:]:
        for rel, line, name, length in sorted(measured, key=lambda f: -f[3]):
            print(f"{length:5d} {rel}:{line} {name}")
        return 0
    allowed = {}
    for rel, name, length in ALLOWED:
        allowed.setdefault((rel, name), []).append(length)
    problems, seen = self_check(), set()
    for rel, line, name, length in measured:
        limits = allowed.get((rel, name))
        if limits is None:
            if length > LIMIT:
                problems.append(f"{rel}:{line}: {name} is {length} lines (limit {LIMIT}): "
                                "split it into named functions")
            continue
        seen.add((rel, name))
        if length <= LIMIT:
            problems.append(f"{rel}:{line}: {name} is {length} lines now: "
                            "remove its entry from ALLOWED")
        elif length > max(limits):
            problems.append(f"{rel}:{line}: {name} grew to {length} lines (allowed "
                            f"{max(limits)}): shorten it, do not raise its entry")
        elif length < max(limits):
            print(f"note: {rel}:{line}: {name} is {length} lines; lower its entry "
                  f"from {max(limits)}")
    for rel, name in sorted(set(allowed) - seen):
        problems.append(f"{rel}: {name} is in ALLOWED but no longer exists: remove its entry")
    for p in problems:
        print(p)
    print(f"function length: {len(measured)} functions, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
