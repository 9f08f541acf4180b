"""Compiled Jinja kept across Ansible's workers: a fault play's templates compiled once.

Ansible forks a worker per task and host, and every worker compiles each template and
templated variable it reads afresh (ansible-core keeps no compiled template across the
fork): the shared fault steps' scripts alone cost 40-100 ms of controller CPU per host and
task, most of a fault's CPU at fan-out. `install` keeps the Python code Jinja compiles a
source to, in memory and in a directory of the controller, so a worker forked after
another compiled the same source (this play's other hosts, the next task, the next play,
the next run) loads it instead.

The code depends only on the source, on the environment's compile settings and on the
versions of Python, Jinja and ansible-core, which make the key, and on how each filter and
test it names is called (Jinja reads that while compiling): the directory is per versions
and per state of the collections' filter and test plugin files.
The directory is the user's own (0700, refused otherwise): a compiled template is code.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import threading
import types
from pathlib import Path
from typing import Any

from chaosrun.hosts import cachedir

# Environment attributes Jinja's lexer and code generator read.
_SETTINGS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "optimized",
    "is_async",
)

# More entries than a project's templates make: the directory is emptied and fills again.
MAX_ENTRIES = 4096

_local = threading.local()


class Cache:
    """Code objects by key: this process's dict, then the directory."""

    def __init__(self, directory: cachedir.Directory) -> None:
        self.directory = directory
        self.memory: dict[str, types.CodeType] = {}

    def get(self, key: str) -> types.CodeType | None:
        code = self.memory.get(key)
        if code is None:
            data = self.directory.read(key)
            if data is None:
                return None
            try:
                code = marshal.loads(data)
            except (ValueError, EOFError, TypeError):
                return None
            self.memory[key] = code
        return code

    def put(self, key: str, code: types.CodeType) -> None:
        self.memory[key] = code
        self.directory.write(key, marshal.dumps(code))


def _key(env: Any, kind: str, source: str, *extra: Any) -> str:
    settings = tuple(repr(getattr(env, name, None)) for name in _SETTINGS)
    escape = _escape_backslashes()
    parts = (kind, type(env).__name__, settings, escape, extra, source)
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _escape_backslashes() -> Any:
    """Ansible's own compile option (its lexer reads it); None outside its compiles. Read
    from the module as loaded: Ansible compiles its settings' defaults while importing it."""
    bits = sys.modules.get("ansible._internal._templating._jinja_bits")
    context = getattr(bits, "_TemplateCompileContext", None)
    ctx = context.current(optional=True) if context is not None else None
    return None if ctx is None else ctx.escape_backslashes


def install(directory: Path) -> Cache | None:
    """Keep compiled templates in `directory` (made the user's own, 0700) from now on in this
    process and the workers it forks. None, and nothing changed, when the directory is not
    the user's alone."""
    import jinja2

    held = cachedir.own(directory, MAX_ENTRIES)
    if held is None:
        return None
    cache = Cache(held)
    env_class = jinja2.Environment
    compile_source = env_class.compile
    compile_expression = env_class.compile_expression

    def compile_cached(self, source, name=None, filename=None, raw=False, defer_init=False):
        capture = getattr(_local, "capture", None)
        if raw or not isinstance(source, str):
            code = compile_source(self, source, name, filename, raw, defer_init)
            if capture is not None and not raw:
                _local.capture = None
                cache.put(capture, code)
            return code
        key = _key(self, "t", str(source), name, filename, defer_init)
        code = cache.get(key)
        if code is None:
            code = compile_source(self, source, name, filename, raw, defer_init)
            cache.put(key, code)
        return code

    def compile_expression_cached(self, source, undefined_to_none=True):
        key = _key(self, "e", str(source))
        code = cache.get(key)
        if code is None:
            _local.capture = key
            try:
                return compile_expression(self, source, undefined_to_none)
            finally:
                _local.capture = None
        template = self.template_class.from_code(self, code, self.make_globals(None), None)
        return jinja2.environment.TemplateExpression(template, undefined_to_none)

    env_class.compile = compile_cached
    env_class.compile_expression = compile_expression_cached
    return cache


def default_directory() -> Path:
    """Per user and versions: ~/.cache/chaosrun/jinja/<python>-<jinja>-<ansible-core>-<plugins>,
    the last the filter and test plugins of the collections Ansible will read."""
    import jinja2
    from ansible.release import __version__ as ansible_version

    tags = (f"j{jinja2.__version__}", f"a{ansible_version}", f"p{_plugins_tag()}")
    return cachedir.directory("jinja", *tags)


def _plugins_tag() -> str:
    """What the collections' filter and test plugins are (path, size, mtime): Jinja reads how a
    filter is called while compiling, so other plugins make another directory."""
    roots = os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.environ.get(
        "ANSIBLE_COLLECTIONS_PATHS"
    )
    paths = (roots or "~/.ansible/collections:/usr/share/ansible/collections").split(":")
    seen = []
    for root in paths:
        base = Path(root).expanduser()
        base = base if base.name == "ansible_collections" else base / "ansible_collections"
        for kind in ("filter", "test"):
            for plugin in base.glob(f"*/*/plugins/{kind}/*.py"):
                with contextlib.suppress(OSError):
                    st = plugin.stat()
                    seen.append(f"{plugin}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(sorted(seen)).encode()).hexdigest()[:12]
