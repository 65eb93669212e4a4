# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read ``nginx -T`` output back into the files nginx parsed.

Runs on the controller; the text comes from a managed host and is untrusted.

``nginx -T`` prints, for every configuration file in the order nginx opened
it, ``# configuration file NAME:``, the file's bytes and one newline. A file
opened again under the same name is not printed again (nginx 1.11.6 and later;
older versions print it again at every include, which is accepted too). NAME is
the path as nginx opened it: an ``include`` argument, prefixed with the
directory of the main file when relative, never normalised
(``/etc/nginx/../nginx/x.conf``); a glob's matches in sorted order.

A header line is also a plain comment to nginx, so a file may hold lines that
look like headers. The whole text is tokenised once, by crossplane's lexer
(which agrees with nginx's ``ngx_conf_read_token`` but for an unquoted "}"
inside a word, where it splits the word: the braces then do not balance and the
dump is reported as not read the way nginx read it), so a header-looking line
inside a block, inside a statement or inside a quoted string is never a
boundary. The remaining
candidates are accepted only where the include graph says nginx opened that
file next. A header-looking line that is not accepted stays a comment of the
file it sits in and is reported in ``problems``; nothing after it is lost.

Only the statements the audit reads are kept (``RELEVANT``, ``BLOCKS`` and
every entry of a ``map``); the rest are stepped over. Work is linear in the
size of the text, plus glob matching, which is indexed by directory and capped.
"""

from __future__ import absolute_import, division, print_function

import bisect
import fnmatch
import io
import posixpath
import re

__metaclass__ = type

try:
    from crossplane.lexer import _lex_file_object, register_external_lexer
    HAS_CROSSPLANE = True
except ImportError:     # the audit reports it (TW-NGINX-006) instead of failing the host's audit
    HAS_CROSSPLANE = False

# Statements kept for the audit (besides every entry of a map block).
RELEVANT = frozenset((
    'include', 'keepalive', 'keepalive_requests', 'proxy_pass', 'proxy_http_version', 'proxy_set_header',
    'fastcgi_pass', 'fastcgi_keep_conn', 'uwsgi_pass', 'scgi_pass', 'grpc_pass', 'memcached_pass', 'set',
    'ip_hash', 'hash', 'least_conn', 'random', 'server'))
# Blocks kept with their structure; any other block is stepped over (its includes still count for the order).
# stream {} and mail {} are out of scope: stepped over like any other block.
BLOCKS = frozenset(('http', 'server', 'location', 'if', 'limit_except', 'upstream', 'map'))

# Arguments kept per statement (the directives the audit reads take a handful; nginx allows up to 8 for most).
MAX_ARGS = 16
# Problems kept one by one; the rest are only counted.
MAX_PROBLEMS = 10
# Includes nested deeper than this are not followed (real configurations nest a handful).
MAX_NESTING = 100
# Glob candidates compared before include resolution gives up (directory-indexed, so real dumps stay far below).
GLOB_WORK_LIMIT = 200000

_ESCAPE = re.compile(r'\\(["\'\\tnr])')
_ESCAPED = {'t': '\t', 'n': '\n', 'r': '\r'}
_HEADER = re.compile(r'# configuration file (.+):\Z')
_FIRST_HEADER = re.compile(r'^# configuration file [^\n]+:$', re.M)
_HEADER_TEXT = '# configuration file '
_GLOB_CHARS = re.compile(r'[*?[]')
_SYNTAX = frozenset(('{', ';', '}'))

# Event kinds of the token stream.
STMT, BLOCK, CLOSE, ORDER_INCLUDE, HEAD, ERROR = range(6)


# lua-nginx-module reads *_by_lua_block bodies with its own lexer. crossplane
# ships one for them, but it does not know Lua's long brackets ([[ ... ]],
# --[==[ ... ]==]), where braces are text; the one below replaces it for these
# directives through crossplane's documented extension point.
LUA_BLOCK_DIRECTIVES = (
    'access_by_lua_block', 'balancer_by_lua_block', 'body_filter_by_lua_block', 'content_by_lua_block',
    'exit_worker_by_lua_block', 'header_filter_by_lua_block', 'init_by_lua_block', 'init_worker_by_lua_block',
    'log_by_lua_block', 'rewrite_by_lua_block', 'server_rewrite_by_lua_block', 'set_by_lua_block',
    'ssl_certificate_by_lua_block', 'ssl_client_hello_by_lua_block', 'ssl_session_fetch_by_lua_block',
    'ssl_session_store_by_lua_block')


class _Chars(object):
    """crossplane's (char, line) pairs with a push-back buffer; exhausted: (None, last line)."""

    def __init__(self, pairs):
        self.pairs = pairs
        self.back = []
        self.line = 0

    def next(self):
        if self.back:
            return self.back.pop()
        for char, line in self.pairs:
            self.line = line
            return char, line
        return None, self.line

    def push(self, pair):
        self.back.append(pair)


def _long_bracket(chars):
    """After a "[": the level of a Lua long bracket opening here ("[==[" -> 2), else None (chars given back)."""
    taken = []
    while True:
        char, line = chars.next()
        taken.append((char, line))
        if char != '=':
            break
    if char == '[':
        return len(taken) - 1
    for pair in reversed(taken):
        chars.push(pair)
    return None


def _skip_long_bracket(chars, level, code):
    """Consume up to the "]" "="*level "]" that closes a long bracket; returns False at the end of the text."""
    closing = ']' + '=' * level + ']'
    tail = ''
    while True:
        char, _line = chars.next()
        if char is None:
            return False
        code.append(char)
        tail = (tail + char)[-len(closing):]
        if tail == closing:
            return True


def _lex_lua_block(pairs, directive):
    """crossplane external lexer: a Lua block as one quoted token and a ";"; set_by_lua_block takes one argument first."""
    chars = _Chars(pairs)
    if directive == 'set_by_lua_block':
        arg = ''
        while True:
            char, line = chars.next()
            if char is None:
                return
            if char.isspace():
                if arg:
                    yield (arg, line, False)
                    break
                continue
            arg += char
    while True:
        char, line = chars.next()
        if char is None or not char.isspace():
            break
    if char != '{':
        if char is not None:
            chars.push((char, line))
        return
    depth, code = 1, []
    while True:
        char, line = chars.next()
        if char is None:
            return
        if char == '-':
            following, after = chars.next()
            if following == '-':
                code.append('--')
                opener, _line = chars.next()
                level = _long_bracket(chars) if opener == '[' else None
                if level is not None:
                    code.append('[' + '=' * level + '[')
                    if not _skip_long_bracket(chars, level, code):
                        return
                    continue
                if opener is not None:
                    chars.push((opener, _line))
                while True:
                    char, line = chars.next()
                    if char is None:
                        return
                    code.append(char)
                    if char.endswith('\n'):
                        break
                continue
            if following is not None:
                chars.push((following, after))
        elif char == '[':
            level = _long_bracket(chars)
            if level is not None:
                code.append('[' + '=' * level + '[')
                if not _skip_long_bracket(chars, level, code):
                    return
                continue
        elif char in ('"', "'"):
            code.append(char)
            while True:
                inner, line = chars.next()
                if inner is None:
                    return
                code.append(inner)
                if inner in (char, '\n'):
                    break
            continue
        elif char == '{':
            depth += 1
        elif char == '}':
            depth -= 1
            if depth == 0:
                yield (''.join(code), line, True)
                yield (';', line, False)
                return
        code.append(char)


if HAS_CROSSPLANE:
    register_external_lexer(directives=LUA_BLOCK_DIRECTIVES, lexer=_lex_lua_block)


def unescape(word):
    """A word as nginx stores it: \\" \\' \\\\ \\t \\n \\r unescaped, any other \\x kept.

    crossplane's lexer removes the quotes around a string (and unescapes the
    quote itself); nginx also unescapes these in every word.
    """
    if '\\' not in word:
        return word
    return _ESCAPE.sub(lambda match: _ESCAPED.get(match.group(1), match.group(1)), word)


def _lex(text):
    """crossplane's tokens of ``text``: (token, line, quoted).

    crossplane's public ``lex()`` reads a file and stops at the first brace
    that does not balance; a managed host's dump must not be able to hide what
    follows, so the lexer's generator is read directly (crossplane is pinned
    in requirements.txt) and this module reports brace errors itself. Lua
    blocks (``*_by_lua_block``) come back as one quoted argument
    (``_lex_lua_block``).
    """
    return _lex_file_object(io.StringIO(text))


class _Tokenizer(object):
    """Turns a whole dump into events (see ``tokenize``), from crossplane's tokens."""

    # Kept blocks that may vanish when nothing inside them is kept: they hold nothing to judge.
    DROPPABLE = frozenset(('server', 'location', 'if', 'limit_except'))

    def __init__(self, text, start=0):
        self.text = text
        self.start = start
        self.first_line = 1 + text.count('\n', 0, start)
        self.events = []
        # Per open block: 'skip', or ['keep' | 'map', its BLOCK event index, directive, events kept inside].
        self.stack = []
        # Where header-looking comments are searched in the text: (offset, its line).
        self.cursor = (start, self.first_line)

    def emit(self, kind, line, directive=None, args=(), offset=None):
        self.events.append((kind, offset, line, directive, args))
        if kind in (STMT, BLOCK, CLOSE) and self.stack and self.stack[-1] != 'skip':
            self.stack[-1][3] += 1

    def context(self):
        top = self.stack[-1] if self.stack else None
        return 'keep' if top is None else (top if top == 'skip' else top[0])

    def finish(self, words, line, terminator):
        """Record one statement (terminator ";") or block opening ("{")."""
        directive = words[0]
        context = self.context()
        if terminator == '{':
            if context == 'keep' and directive in BLOCKS:
                self.emit(BLOCK, line, directive, tuple(words[1:]))
                self.stack.append(['map' if directive == 'map' else 'keep', len(self.events) - 1, directive, 0])
            else:
                self.stack.append('skip')
        elif directive == 'include' or context == 'map' or (context == 'keep' and directive in RELEVANT):
            self.emit(ORDER_INCLUDE if context == 'skip' else STMT, line, directive, tuple(words[1:]))

    def close(self, line):
        if not self.stack:
            self.emit(ERROR, line, 'unexpected "}"')
            return
        top = self.stack.pop()
        if top == 'skip':
            return
        if not top[3] and top[2] in self.DROPPABLE:
            del self.events[top[1]]     # nothing inside was kept (header lines, errors, includes of skipped blocks)
            if self.stack and self.stack[-1] != 'skip':
                self.stack[-1][3] -= 1
        else:
            self.emit(CLOSE, line)

    def run(self):
        words, first = [], 0
        for token, line, quoted in _lex(self.text[self.start:]):
            line += self.first_line - 1
            if quoted:
                pass
            elif token in _SYNTAX:
                if token == '}':
                    if words:
                        self.emit(ERROR, line, 'unexpected "}"')
                        words = []
                    self.close(line)
                elif words:
                    self.finish(words, first, token)
                    words = []
                else:
                    self.emit(ERROR, line, 'unexpected "%s"' % token)
                continue
            elif token[0] == '#':
                if token.startswith(_HEADER_TEXT):
                    self.comment(token, line, not words)
                continue
            if not words:
                first = line
            if len(words) < MAX_ARGS + 1:
                words.append(unescape(token))
        if words or self.stack:
            self.emit(ERROR, self.first_line + self.text.count('\n', self.start),
                      'unexpected end of file, expecting "%s"' % (';' if words else '}'))
        return self.events

    def comment(self, comment, line, between_statements):
        """A comment that looks like nginx's header line: a HEAD event when it is a whole line of the text."""
        header = _HEADER.match(comment)
        offset = self.line_offset(comment, line) if header else None
        if offset is not None:
            # Only between statements at depth 0 can nginx's own header line be.
            self.emit(HEAD, line, None, (header.group(1), between_statements and not self.stack), offset)

    def line_offset(self, comment, line):
        """Offset of ``comment`` where it fills line ``line`` from its first column, else None.

        Searched forward from the previous header, counting newlines as it
        goes, so the whole dump is scanned once.
        """
        text = self.text
        offset, at_line = self.cursor
        while True:
            found = text.find(comment, offset)
            if found < 0:
                return None
            at_line += text.count('\n', offset, found)
            offset = found
            if at_line > line:
                return None
            if at_line == line and (found == 0 or text[found - 1] == '\n'):
                self.cursor = (found, at_line)
                return found
            offset += 1


def tokenize(text, start=0):
    """The event stream of a whole dump: a list of tuples (kind, offset, line, directive, args).

    STMT and BLOCK carry the directive and its arguments as nginx stores them
    (BLOCK is terminated by "{"); inside a map block every entry is a STMT.
    CLOSE ends the innermost kept block; ORDER_INCLUDE is an include inside a
    block that is stepped over (it counts only for the order of files); HEAD
    is a header-looking comment line with ``args = (name, eligible)``,
    eligible when it sits between statements at depth 0, the only place
    nginx's own header line can be, and its text offset; ERROR is a syntax
    error nginx would refuse (``directive`` holds the message). Lines count
    from 1 at the start of the text; offsets are given for HEAD only.
    """
    return _Tokenizer(text, start).run()


class Dump(object):
    """The files of one ``nginx -T`` text.

    ``files``: {name: (first event, end event, header line)} for every file
    nginx printed, in dump order (the first is the main file). ``problems``:
    [(source or None, message)], at most MAX_PROBLEMS (``more_problems``
    counts the rest): header lines that do not fit the include graph,
    includes of files the dump lacks, syntax errors, work cut off.
    """

    def __init__(self, text):
        self.text = text or ''
        self.problems = []
        self.more_problems = 0
        # Whatever precedes the first header line (a wrapper's message) is no file's: tokenise from there.
        first = _FIRST_HEADER.search(self.text)
        start = first.start() if first else len(self.text)
        if self.text[:start].strip():
            self.problem(None, 'text before the first "# configuration file" line belongs to no file; it was '
                               'ignored')
        self.events = tokenize(self.text, start)
        self.files = {}
        self.prefix = '/'
        self._accepted = []
        self._names = []
        self._name_set = set()
        self._by_dir = {}
        self._normalised = {}
        self._resolved = {}
        self._glob_work = 0
        self._split()

    def problem(self, source, message):
        """Record one problem (source ``path:line`` or None); past MAX_PROBLEMS they are only counted."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((source, message))
        else:
            self.more_problems += 1

    # -- include resolution ---------------------------------------------------

    def _index(self, names):
        self._names = list(names)
        self._name_set = set(self._names)
        self._by_dir = {}
        self._normalised = {}
        for name in self._names:
            self._by_dir.setdefault(name[:name.rfind('/') + 1], []).append(name)
            self._normalised.setdefault(posixpath.normpath(name), name)
        self._resolved = {}

    def resolve(self, pattern):
        """The printed names ``include pattern`` opens, in the order nginx opens them."""
        if pattern in self._resolved:
            return self._resolved[pattern]
        full = pattern if pattern.startswith('/') else self.prefix + pattern
        if not _GLOB_CHARS.search(full):
            if full in self._name_set:
                result = [full]
            else:
                # nginx prints the name as it opened it; tolerate a dump where either side was normalised.
                found = self._normalised.get(posixpath.normpath(full))
                result = [found] if found else []
        else:
            directory = full[:full.rfind('/') + 1]
            candidates = self._names if _GLOB_CHARS.search(directory) else self._by_dir.get(directory, ())
            self._glob_work += len(candidates)
            if self._glob_work > GLOB_WORK_LIMIT:
                if self._glob_work - len(candidates) <= GLOB_WORK_LIMIT:
                    self.problem(None, 'include globs matched against too many files; later globs were not '
                                       'resolved')
                result = []
            else:
                parts = full.split('/')
                result = sorted(name for name in candidates if _glob_match(parts, name.split('/')))
        self._resolved[pattern] = result
        return result

    @staticmethod
    def includes(events):
        """The include statements among ``events`` (any depth, stepped-over blocks too)."""
        return [event for event in events
                if event[0] in (STMT, ORDER_INCLUDE) and event[3] == 'include' and len(event[4]) == 1]

    # -- splitting ------------------------------------------------------------

    def _split(self):
        events = self.events
        heads = [index for index, event in enumerate(events) if event[0] == HEAD]
        eligible = [index for index in heads if events[index][4][1]]
        if not eligible:
            return
        main = events[eligible[0]][4][0]
        self.prefix = main[:main.rfind('/') + 1] or '/'
        self._index(events[index][4][0] for index in eligible)
        opened = _Follow(self, eligible).run()
        self._accepted = sorted(opened.accepted)
        self.files = dict((name, (head + 1, self._next_head(head), events[head][2]))
                          for name, head in sorted(opened.first.items(), key=lambda item: item[1]))
        self._index(self.files)
        accepted = set(self._accepted)
        for index in heads:
            if index not in accepted:
                name = events[index][4][0]
                why = ('repeats the header of a file already printed' if name in opened.first and
                       opened.first[name] < index else 'is not where any include of the dump would print it')
                self.problem(self.source_of(index), 'the line "# configuration file %s:" %s; it is read as a '
                                                    'comment of the file around it' % (name, why))
        for index, event in enumerate(events):
            if event[0] == ERROR:
                self.problem(self.source_of(index), event[3])
        self._report_missing()

    def _next_head(self, head, accepted=None):
        """Event index of the first accepted header after ``head`` (or the end)."""
        accepted = self._accepted if accepted is None else accepted
        at = bisect.bisect_right(accepted, head)
        return accepted[at] if at < len(accepted) else len(self.events)

    def source_of(self, index):
        """``path:line`` of event ``index``, as nginx would name it; None before the first file."""
        at = bisect.bisect_right(self._accepted, index) - 1
        if at < 0:
            return None
        head = self.events[self._accepted[at]]
        return '%s:%d' % (head[4][0], self.events[index][2] - head[2])

    def _report_missing(self):
        for name, (start, end, head_line) in self.files.items():
            for event in self.includes(self.events[start:end]):
                if not _GLOB_CHARS.search(event[4][0]) and not self.resolve(event[4][0]):
                    self.problem('%s:%d' % (name, event[2] - head_line),
                                 'include %s names a file the dump does not contain' % event[4][0])

    def body_range(self, head, accepted=None):
        """Text offsets (start, end) of the file printed at header event ``head``, without nginx's newline."""
        start = self.text.find('\n', self.events[head][1]) + 1 or len(self.text)
        following = self._next_head(head, accepted)
        end = self.events[following][1] if following < len(self.events) else len(self.text)
        if end > start and self.text[end - 1] == '\n':
            end -= 1
        return start, end

    # -- per-file statement trees ---------------------------------------------

    def tree(self, name):
        """The kept statements of one file, nested: tuples (directive, args, line, children or None).

        """
        start, end, head_line = self.files[name]
        root = []
        stack = [root]
        for event in self.events[start:end]:
            kind = event[0]
            if kind == STMT:
                stack[-1].append((event[3], event[4], event[2] - head_line, None))
            elif kind == BLOCK:
                children = []
                stack[-1].append((event[3], event[4], event[2] - head_line, children))
                stack.append(children)
            elif kind == CLOSE and len(stack) > 1:
                stack.pop()
        return root

    def content(self, name):
        """The text of one file as nginx read it."""
        start, end = self.body_range(self.files[name][0] - 1)
        return self.text[start:end]


class _Follow(object):
    """Walk the include graph through the candidate headers, as nginx opened the files.

    A frame is a file being read: first its content is delimited (it ends at
    the first candidate header that nginx would print next), then its include
    targets are taken in order, each opening a frame at the next candidate.
    """

    def __init__(self, dump, eligible):
        self.dump = dump
        self.events = dump.events
        self.eligible = eligible
        self.first = {}        # name -> header event index of its first print
        self.accepted = []     # header event indices taken as boundaries
        self.next = 0          # index into eligible of the next unconsumed candidate

    def name_at(self, candidate):
        return self.events[self.eligible[candidate]][4][0]

    def open(self, name, candidate):
        head = self.eligible[candidate]
        self.first.setdefault(name, head)
        self.accepted.append(head)
        self.next = candidate + 1
        return {'name': name, 'head': head, 'targets': [], 'cursor': 0, 'new': 0, 'done': False, 'scanned': head + 1}

    def upcoming(self, frames, new_only):
        """The name nginx would print next after the innermost frame's content, or None."""
        for frame in reversed(frames):
            targets = frame['targets']
            if not new_only:
                if frame['cursor'] < len(targets):
                    return targets[frame['cursor']]
                continue
            # Files only ever get opened, so the first unopened target never moves back.
            index = max(frame['new'], frame['cursor'])
            while index < len(targets) and targets[index] in self.first:
                index += 1
            frame['new'] = index
            if index < len(targets):
                return targets[index]
        return None

    def reprint_fits(self, candidate, name):
        """Whether the candidate repeats the bytes of the first print of ``name`` (nginx before 1.11.6)."""
        text = self.dump.text
        # The first print ends at the next accepted header, or here when it is the file being delimited.
        start, end = self.dump.body_range(self.first[name], sorted(self.accepted + [self.eligible[candidate]]))
        body = text[start:end] + '\n'
        here = text.find('\n', self.events[self.eligible[candidate]][1]) + 1
        after = here + len(body)
        return text.startswith(body, here) and (after == len(text) or text.startswith(_HEADER_TEXT, after))

    def run(self):
        eligible = self.eligible
        frames = [self.open(self.name_at(0), 0)]
        while frames:
            frame = frames[-1]
            if not frame['done']:
                self.delimit(frames)
                continue
            if frame['cursor'] < len(frame['targets']):
                name = frame['targets'][frame['cursor']]
                frame['cursor'] += 1
                if self.next < len(eligible) and self.name_at(self.next) == name and (
                        name not in self.first or self.reprint_fits(self.next, name)):
                    if len(frames) >= MAX_NESTING:
                        self.dump.problem(None, 'includes nest more than %d deep; %s and what it includes '
                                                'were not read' % (MAX_NESTING, name))
                        continue
                    frames.append(self.open(name, self.next))
                continue
            frames.pop()
        return self

    def delimit(self, frames):
        """Extend the innermost frame's content up to the candidate nginx would print next."""
        frame, eligible = frames[-1], self.eligible
        while True:
            end = eligible[self.next] if self.next < len(eligible) else len(self.events)
            for event in self.dump.includes(self.events[frame['scanned']:end]):
                frame['targets'].extend(self.dump.resolve(event[4][0]))
            frame['scanned'] = end
            if self.next >= len(eligible):
                break
            name = self.name_at(self.next)
            if name == self.upcoming(frames, True) or (
                    name in self.first and name == self.upcoming(frames, False) and self.reprint_fits(self.next, name)):
                break
            self.next += 1      # not a boundary: a comment inside this file
        frame['done'] = True


def _glob_match(parts, candidate):
    """glob(3) on path components: a wildcard never crosses "/" nor matches a leading "."."""
    if len(parts) != len(candidate):
        return False
    for pattern, name in zip(parts, candidate):
        if pattern == name:
            continue
        if name.startswith('.') and not pattern.startswith('.'):
            return False
        if not fnmatch.fnmatchcase(name, pattern):
            return False
    return True
