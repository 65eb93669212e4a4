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
look like headers. The whole text is tokenised once, the way nginx tokenises a
file (``ngx_conf_read_token``), so a header-looking line inside a block, inside
a statement or inside a quoted string is never a boundary. The remaining
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
import itertools
import posixpath
import re

__metaclass__ = type

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

_WS = r'[ \t\r\n]'
# Atomic: a word never gives back a "{" it took after "$" (nginx keeps it in the word).
_WORD = r'''(?>(?:\\[\s\S]?|\$\{?|[^ \t\r\n;{}\\$"'#])(?:\\[\s\S]?|\$\{?|[^ \t\r\n;{\\$])*)'''
_QUOTED = r'''"(?:[^"\\]|\\[\s\S])*+"|'(?:[^'\\]|\\[\s\S])*+\''''
_ARG = '(?:%s|%s)' % (_QUOTED, _WORD)
_TOKENS = r'''
  | (?P<comment>\#[^\n]*)
  | (?P<close>\})
  | (?P<arg>%(arg)s(?:[ \t\r\n]+%(arg)s)*+)
  | (?P<open_quote>["'])
  | (?P<term>[;{])
  | (?P<eof>\Z))''' % {'arg': _ARG}
# At the start of a statement: the fast path takes a whole statement with its
# terminator in one match. Anything else (a comment inside a statement, a
# quoted directive name, an argument glued to ")") is read token by token.
_AT_START = re.compile(r'%s*(?:(?P<stmt>(?P<first>%s)(?:%s+%s)*+%s*(?P<end>[;{]))%s'
                       % (_WS, _WORD, _WS, _ARG, _WS, _TOKENS), re.X)
_IN_STATEMENT = re.compile(r'%s*(?:(?!)%s' % (_WS, _TOKENS), re.X)
_ARGS = re.compile(_ARG)
# Runs of what the audit never reads, stepped over in one match: whitespace,
# comments that are not header lines, statements whose directive is not kept
# and that hold no escape and no "${" (nginx keeps a "{" that follows "$" in
# the word), and blocks holding only those (except http, upstream, map and Lua
# blocks). Possessive: nothing to give back.
_PLAIN_WORD = r'''(?:[^ \t\r\n;{}#"'\\$]|\$(?!\{))[^ \t\r\n;{\\$]*+(?:\$(?!\{)[^ \t\r\n;{\\$]*+)*+'''
_PLAIN_ARG = r'''(?:%s|"[^"\\]*"|'[^'\\]*')''' % _PLAIN_WORD
_NOT_HEADER_COMMENT = r'\#(?!\ configuration\ file\ )[^\n]*'
_PLAIN_STATEMENT = r'(?!(?:%s)[ \t\r\n;])%s(?:[ \t\r\n]+%s)*+[ \t\r\n]*;' % (
    '|'.join(sorted(RELEVANT)), _PLAIN_WORD, _PLAIN_ARG)
_PLAIN_BLOCK = (r'''(?!(?:http|upstream|map)[ \t\r\n{])(?![^ \t\r\n;{}]*_by_lua_block[ \t\r\n{])%s(?:[ \t\r\n]+%s)*+
                   [ \t\r\n]*\{(?:[ \t\r\n]+|%s|%s)*+\}''' % (_PLAIN_WORD, _PLAIN_ARG, _NOT_HEADER_COMMENT, _PLAIN_STATEMENT))
_SKIP = re.compile(r'(?:[ \t\r\n]+|%s|%s|%s)*+' % (_NOT_HEADER_COMMENT, _PLAIN_STATEMENT, _PLAIN_BLOCK), re.X)
# Runs of two-argument map entries (kept as one span, read only when the audit needs the map).
_MAP_RUN = re.compile(r'''(?:[ \t\r\n]+|%s|(?!include[ \t\r\n])%s[ \t\r\n]+%s[ \t\r\n]*;)*+'''
                      % (_NOT_HEADER_COMMENT, _ARG, _ARG), re.X)
# A comment matches as a whole (group 1) so that nothing inside it is taken for an entry.
_MAP_ENTRY = re.compile(r'(\#[^\n]*)|(%s)[ \t\r\n]+(%s)[ \t\r\n]*;' % (_ARG, _ARG))
_ESCAPE = re.compile(r'\\(["\'\\tnr])')
_ESCAPED = {'t': '\t', 'n': '\n', 'r': '\r'}
_HEADER = re.compile(r'# configuration file (.+):\Z')
_FIRST_HEADER = re.compile(r'^# configuration file [^\n]+:$', re.M)
_HEADER_TEXT = '# configuration file '
_LUA = re.compile(r'''[{}"'\[]|--''')
_LUA_LONG = re.compile(r'\[(=*)\[')
_LUA_STRING = {'"': re.compile(r'(?:[^"\\\n]|\\[\s\S])*["\n]'), "'": re.compile(r"(?:[^'\\\n]|\\[\s\S])*['\n]")}
_GLOB_CHARS = re.compile(r'[*?[]')

# Event kinds of the token stream.
STMT, BLOCK, CLOSE, ORDER_INCLUDE, HEAD, ERROR, MAP_ENTRIES = range(7)


def _args(text, start, end):
    """The raw arguments between two offsets, at most MAX_ARGS of them."""
    return [match.group(0) for match in itertools.islice(_ARGS.finditer(text, start, end), MAX_ARGS)]


def unquote(raw):
    """An argument as nginx stores it: quotes removed, \\" \\' \\\\ \\t \\n \\r unescaped, any other \\x kept."""
    if raw[:1] in ('"', "'") and len(raw) >= 2 and raw[-1] == raw[0]:
        raw = raw[1:-1]
    if '\\' not in raw:
        return raw
    return _ESCAPE.sub(lambda match: _ESCAPED.get(match.group(1), match.group(1)), raw)


def _skip_lua(text, pos):
    """Offset after the "}" that closes a *_by_lua_block whose "{" ends just before ``pos``.

    lua-nginx-module reads these blocks with its own lexer; this one knows Lua
    strings, comments and long brackets well enough to find the closing brace.
    """
    depth = 1
    while True:
        match = _LUA.search(text, pos)
        if match is None:
            return len(text)
        token, pos = match.group(0), match.end()
        if token == '{':
            depth += 1
        elif token == '}':
            depth -= 1
            if depth == 0:
                return pos
        elif token in _LUA_STRING:
            end = _LUA_STRING[token].match(text, pos)
            pos = end.end() if end else len(text)
        else:
            long_open = _LUA_LONG.match(text, pos if token == '--' else pos - 1)
            if long_open:
                close = text.find(']%s]' % long_open.group(1), long_open.end())
                pos = len(text) if close < 0 else close + len(long_open.group(1)) + 2
            elif token == '--':
                newline = text.find('\n', pos)
                pos = len(text) if newline < 0 else newline + 1


class _Tokenizer(object):
    """Turns a whole dump into events (see ``tokenize``)."""

    # Kept blocks that may vanish when nothing inside them is kept: they hold nothing to judge.
    DROPPABLE = frozenset(('server', 'location', 'if', 'limit_except'))

    def __init__(self, text, start=0):
        self.text = text
        self.start = start
        self.events = []
        # Per open block: 'skip', or ['keep' | 'map', its BLOCK event index, directive, events kept inside].
        self.stack = []
        self.line = 1 + text.count('\n', 0, start)
        self.counted = start

    def line_at(self, offset):
        """Line number (from 1) of ``offset``, counted from the previous call's offset."""
        if offset >= self.counted:
            self.line += self.text.count('\n', self.counted, offset)
        else:
            self.line -= self.text.count('\n', offset, self.counted)
        self.counted = offset
        return self.line

    def emit(self, kind, offset, directive=None, args=()):
        self.events.append((kind, offset, self.line_at(offset), directive, args))
        if kind in (STMT, BLOCK, CLOSE, MAP_ENTRIES) and self.stack and self.stack[-1] != 'skip':
            self.stack[-1][3] += 1

    def context(self):
        top = self.stack[-1] if self.stack else None
        return 'keep' if top is None else (top if top == 'skip' else top[0])

    def keeps(self, directive, terminator):
        context = self.context()
        return terminator == '{' or directive == 'include' or context == 'map' or (
            context == 'keep' and directive in RELEVANT)

    def finish(self, raw, offset, terminator, pos):
        """Record one statement or block opening; returns where to continue (past a skipped Lua block)."""
        directive = unquote(raw[0])
        context = self.context()
        args = tuple(unquote(arg) for arg in raw[1:]) if len(raw) > 1 else ()
        if terminator == '{':
            if context == 'keep' and directive in BLOCKS:
                self.emit(BLOCK, offset, directive, args)
                self.stack.append(['map' if directive == 'map' else 'keep', len(self.events) - 1, directive, 0])
            elif directive.endswith('_by_lua_block'):
                return _skip_lua(self.text, pos)
            else:
                self.stack.append('skip')
        elif directive == 'include' or context == 'map' or (context == 'keep' and directive in RELEVANT):
            self.emit(ORDER_INCLUDE if context == 'skip' else STMT, offset, directive, args)
        return pos

    def close(self, offset):
        if not self.stack:
            self.emit(ERROR, offset, 'unexpected "}"')
            return
        top = self.stack.pop()
        if top == 'skip':
            return
        if not top[3] and top[2] in self.DROPPABLE:
            del self.events[top[1]]     # nothing inside was kept (header lines, errors, includes of skipped blocks)
            if self.stack and self.stack[-1] != 'skip':
                self.stack[-1][3] -= 1
        else:
            self.emit(CLOSE, offset)

    def run(self):
        text, size, stack = self.text, len(self.text), self.stack
        pending, pending_offset, pos = [], 0, self.start
        while pos < size:
            if not pending:
                if stack and stack[-1] != 'skip' and stack[-1][0] == 'map':
                    end = _MAP_RUN.match(text, pos).end()
                    if end > pos:
                        self.emit(MAP_ENTRIES, pos, None, (pos, end))
                else:
                    end = _SKIP.match(text, pos).end()
                pos = end
                if pos >= size:
                    break
            match = (_IN_STATEMENT if pending else _AT_START).match(text, pos)
            group = match.lastgroup
            pos = match.end()
            if group == 'stmt':
                first = match.group('first')
                terminator = match.group('end')
                if self.keeps(unquote(first), terminator):
                    raw = [first] + _args(text, match.end('first'), match.start('end'))
                    pos = self.finish(raw, match.start('first'), terminator, pos)
            elif group == 'close':
                if pending:
                    self.emit(ERROR, match.start('close'), 'unexpected "}"')
                    pending = []
                self.close(match.start('close'))
            elif group == 'arg':
                if not pending:
                    pending_offset = match.start('arg')
                if len(pending) < MAX_ARGS:
                    pending.extend(_args(text, match.start('arg'), pos))
                if text[pos - 1] in '"\'' and pos < size and text[pos] not in ' \t\r\n;{)':
                    self.emit(ERROR, pos, 'unexpected "%s" after a quoted string' % text[pos])
            elif group == 'term':
                if pending:
                    raw, pending = pending, []
                    if self.keeps(unquote(raw[0]), match.group('term')):
                        pos = self.finish(raw, pending_offset, match.group('term'), pos)
                else:
                    self.emit(ERROR, match.start('term'), 'unexpected "%s"' % match.group('term'))
            elif group == 'comment':
                self.comment(match.start('comment'), match.group('comment'), bool(pending))
            elif group == 'open_quote':
                self.emit(ERROR, match.start('open_quote'), 'unterminated quoted string')
                pos = size
        if pending or stack:
            self.emit(ERROR, size, 'unexpected end of file, expecting "%s"' % (';' if pending else '}'))
        return self.events

    def comment(self, start, comment, in_statement):
        if not comment.startswith(_HEADER_TEXT) or (start and self.text[start - 1] != '\n'):
            return
        header = _HEADER.match(comment)
        if header:
            # Only between statements at depth 0 can nginx's own header line be.
            self.emit(HEAD, start, None, (header.group(1), not self.stack and not in_statement))


def tokenize(text, start=0):
    """The event stream of a whole dump: a list of tuples (kind, offset, line, directive, args).

    STMT and BLOCK carry the directive and its unquoted arguments (BLOCK is
    terminated by "{"); CLOSE ends the innermost kept block; ORDER_INCLUDE is
    an include inside a block that is stepped over (it counts only for the
    order of files); HEAD is a header-looking comment line with
    ``args = (name, eligible)``, eligible when it sits between statements at
    depth 0, the only place nginx's own header line can be; ERROR is a syntax
    error nginx would refuse (``directive`` holds the message). Lines count
    from 1 at the start of the text. MAP_ENTRIES stands for a run of two-argument
    entries of a map block: ``args`` = (start, end) text offsets (see
    ``Dump.map_entries``).
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

        A run of map entries is one tuple with directive None and args (start, end).
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
            elif kind == MAP_ENTRIES:
                stack[-1].append((None, event[4], event[2] - head_line, None))
        return root

    def map_entries(self, span):
        """[(key, value)] of a MAP_ENTRIES span, unquoted."""
        return [(unquote(match.group(2)), unquote(match.group(3)))
                for match in _MAP_ENTRY.finditer(self.text, span[0], span[1]) if match.group(2) is not None]

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


def split_dump(text):
    """{name: content} of every file of an ``nginx -T`` text, in dump order."""
    dump = Dump(text)
    return dict((name, dump.content(name)) for name in dump.files)
