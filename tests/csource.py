"""Call sites in C source, found with tree-sitter's C grammar, and the matcher that compares them with
the caller inventory (:mod:`migration.model.callers`).

A *call site* is a function that names a callee: ``file:function -> callee``.  A function that calls
the same callee twice is one site (the inventory keys on the caller, not on the line).  A callee named
without being called (taken as a function pointer, say) is a site too: the pointer is called later, in
a context the inventory must still say.  Text outside any function (a ``#define`` body, an
initializer at file scope) is reported with the caller ``file:<file scope>``, so that a name the
parser could not place shows up as a difference rather than being lost.

Nothing here knows QEMU: :func:`scan` reads one file, :func:`readers` follows the calls between the
functions read, and :func:`differences` words what the inventory lacks or has too much.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import tree_sitter_c
from tree_sitter import Language, Node, Parser

__all__ = [
    "FILE_SCOPE",
    "CallSite",
    "FileFacts",
    "FunctionFacts",
    "call_sites",
    "differences",
    "macros_of",
    "readers",
    "scan",
]

#: the caller of a name found outside every function definition
FILE_SCOPE = "<file scope>"

_PARSER = Parser(Language(tree_sitter_c.language()))
_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, order=True)
class CallSite:
    """One caller naming one callee.

    :ivar caller: ``file:function`` (the path relative to the source tree's root).
    :ivar callee: the function called (or named).
    """

    caller: str
    callee: str

    def __str__(self) -> str:
        return f"{self.caller} -> {self.callee}"


@dataclass
class FunctionFacts:
    """What one function definition does that the inventory cares about.

    :ivar calls: every function it calls by name.
    :ivar names: every identifier it uses outside a call's function position.
    :ivar migration_state_param: whether a parameter is a ``MigrationState *``.
    """

    calls: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    migration_state_param: bool = False


@dataclass
class FileFacts:
    """What one file defines and declares.

    :ivar functions: function name -> its facts (a name defined twice, under two ``#if`` branches,
        merges both bodies).
    :ivar declared: function names declared (prototypes and definitions) at file scope.
    :ivar file_scope: identifiers used outside every function definition and macro.
    :ivar macros: macro name -> the identifiers its body names (a function that uses the macro
        calls what the macro calls).
    """

    functions: dict[str, FunctionFacts] = field(default_factory=dict)
    declared: set[str] = field(default_factory=set)
    file_scope: set[str] = field(default_factory=set)
    macros: dict[str, set[str]] = field(default_factory=dict)


def _declarator_name(node: Node | None) -> str | None:
    """:return: the identifier a (possibly pointer-wrapped) function declarator declares, or None."""
    while node is not None:
        if node.type == "function_declarator":
            inner = node.child_by_field_name("declarator")
            while inner is not None and inner.type in ("parenthesized_declarator", "pointer_declarator"):
                inner = inner.child_by_field_name("declarator") or (inner.named_children[0]
                                                                     if inner.named_children else None)
            return _text(inner) if inner is not None and inner.type == "identifier" else None
        node = node.child_by_field_name("declarator")
    return None


def _function_declarator(node: Node | None) -> Node | None:
    while node is not None and node.type != "function_declarator":
        node = node.child_by_field_name("declarator")
    return node


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _migration_state_param(definition: Node) -> bool:
    declarator = _function_declarator(definition.child_by_field_name("declarator"))
    parameters = declarator.child_by_field_name("parameters") if declarator is not None else None
    if parameters is None:
        return False
    for parameter in parameters.named_children:
        kind = parameter.child_by_field_name("type")
        if (kind is not None and _text(kind) == "MigrationState"
                and "*" in _text(parameter.child_by_field_name("declarator") or parameter)):
            return True
    return False


def _uses(body: Node, facts: FunctionFacts) -> None:
    for node in _walk(body):
        if node.type == "call_expression":
            function = node.child_by_field_name("function")
            if function is not None and function.type == "identifier":
                facts.calls.add(_text(function))
        elif node.type in ("identifier", "type_identifier"):  # a macro loop header parses as a type
            parent = node.parent
            if parent is not None and parent.type == "call_expression" and \
                    parent.child_by_field_name("function") == node:
                continue
            facts.names.add(_text(node))
        elif node.type == "preproc_arg":  # a #define inside a function: its words, unparsed
            facts.names.update(word.decode() for word in _WORD.findall(node.text or b""))


def scan(text: bytes) -> FileFacts:
    """Parse one C file.

    :param text: the file's bytes.
    :return: its functions, declarations and file-scope names.
    """
    facts = FileFacts()
    tree = _PARSER.parse(text)
    pending = [tree.root_node]
    while pending:
        node = pending.pop()
        if node.type == "function_definition":
            name = _declarator_name(node.child_by_field_name("declarator"))
            body = node.child_by_field_name("body")
            if name is None or body is None:
                facts.file_scope.update(w.decode() for w in _WORD.findall(node.text or b""))
                continue
            facts.declared.add(name)
            one = facts.functions.setdefault(name, FunctionFacts())
            one.migration_state_param |= _migration_state_param(node)
            _uses(body, one)
        elif node.type == "declaration":
            for child in node.named_children:
                name = _declarator_name(child)
                if name is not None:
                    facts.declared.add(name)
            for child in node.named_children:  # initializers name functions (ops tables)
                value = child.child_by_field_name("value") if child.type == "init_declarator" else None
                for inner in _walk(value) if value is not None else ():
                    if inner.type == "identifier":
                        facts.file_scope.add(_text(inner))
        elif node.type in ("preproc_def", "preproc_function_def"):
            name_node = node.child_by_field_name("name")
            value = node.child_by_field_name("value")
            if name_node is not None:
                words = _WORD.findall((value.text or b"") if value is not None else b"")
                facts.macros.setdefault(_text(name_node), set()).update(w.decode() for w in words)
        elif node.type == "identifier":
            facts.file_scope.add(_text(node))
        else:
            pending.extend(node.children)
    return facts


def macros_of(files: Iterable[FileFacts]) -> dict[str, frozenset[str]]:
    """:return: macro name -> every identifier it names, through the macros it uses (all files merged)."""
    direct: dict[str, set[str]] = {}
    for facts in files:
        for name, words in facts.macros.items():
            direct.setdefault(name, set()).update(words)
    closed: dict[str, frozenset[str]] = {}
    for name in direct:
        seen, todo = set(), [name]
        while todo:
            for word in direct.get(todo.pop(), ()):
                if word not in seen:
                    seen.add(word)
                    todo.append(word)
        closed[name] = frozenset(seen)
    return closed


def _expanded(words: set[str], macros: Mapping[str, frozenset[str]]) -> set[str]:
    out = set(words)
    for word in words:
        out |= macros.get(word, frozenset())
    return out


def readers(files: Mapping[str, FileFacts], candidates: Iterable[str],
            roots: frozenset[str]) -> frozenset[str]:
    """The candidates that read the object: those that call or name a root, directly, through a
    macro, or through functions defined in ``files``; or that take a ``MigrationState *`` parameter.

    A call resolves to the caller's own file's definition when it has one (a ``static`` function),
    else to every file's definition of that name.

    :param files: path -> facts, every file whose functions may be on the way.
    :param candidates: the functions to classify (a header's declarations).
    :param roots: the names that read the object (``migrate_get_current``, ``current_migration``).
    :return: the candidates that read it.
    """
    macros = macros_of(files.values())
    where: dict[str, list[str]] = {}
    for path, facts in files.items():
        for name in facts.functions:
            where.setdefault(name, []).append(path)
    reach: dict[tuple[str, str], bool] = {}

    def reads(path: str, name: str, seen: frozenset[tuple[str, str]]) -> bool:
        key = (path, name)
        if key in reach:
            return reach[key]
        if key in seen:
            return False
        one = files[path].functions[name]
        uses = _expanded(one.calls | one.names, macros)
        found = bool(uses & roots) or any(
            reads(other, callee, seen | {key})
            for callee in sorted(uses)
            for other in ([path] if callee in files[path].functions else where.get(callee, [])))
        reach[key] = found
        return found

    return frozenset(name for name in candidates for path in where.get(name, [])
                     if reads(path, name, frozenset()) or files[path].functions[name].migration_state_param)


def call_sites(path: str, facts: FileFacts, callees: frozenset[str],
               macros: Mapping[str, frozenset[str]] | None = None) -> set[CallSite]:
    """:param path: the file's path in the tree.
    :param facts: what :func:`scan` found in it.
    :param callees: the names to look for.
    :param macros: what each macro names (:func:`macros_of`): a function using a macro calls what it
        names.
    :return: every function of the file that calls or names one of them, once per callee.
    """
    macros = macros or {}
    sites = {CallSite(f"{path}:{name}", callee)
             for name, one in facts.functions.items()
             for callee in _expanded(one.calls | one.names, macros) & callees}
    sites.update(CallSite(f"{path}:{FILE_SCOPE}", callee)
                 for callee in _expanded(facts.file_scope, macros) & callees)
    return sites


def differences(tag: str, found: Iterable[CallSite], listed: Iterable[CallSite]) -> list[str]:
    """Word what the inventory lacks and what it has that the source does not.

    :param tag: the QEMU version, for the messages.
    :param found: the call sites in the source.
    :param listed: the inventory's call sites at that version.
    :return: one line per difference, sorted: missing ones first, then extra ones.
    """
    found_set, listed_set = set(found), set(listed)
    missing = [f"{tag}: {site} is in the source but not in the inventory"
               for site in sorted(found_set - listed_set)]
    extra = [f"{tag}: {site} is in the inventory but not in the source"
             for site in sorted(listed_set - found_set)]
    return missing + extra
