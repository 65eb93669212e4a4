# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate and normalise the nginx_keepalive role's input before anything is rendered.

Every value that ends up in an nginx file passes through here. A value that
could inject nginx syntax (``;``, braces, quotes, ``#``, a backslash, a
newline) is refused with a message naming the variable, before the value's
format is even looked at, so the message says what is wrong with it.

``nginx_keepalive_check(upstreams, sites, headers)`` returns
``{errors: [sentences], upstreams: [...], sites: [...]}``; the lists come back
with every optional key filled in, so templates need no ``default()``.
"""

from __future__ import absolute_import, division, print_function

import ipaddress
import re

__metaclass__ = type

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.nginx_version import (
    DEFAULT_KEEPALIVE, KEEPALIVE_TIME_VERSION, KEEPALIVE_TIMEOUT_VERSION, pools_by_default, version_tuple)

# Characters that end a directive, open or close a block, quote, escape or comment.
INJECTION_CHARS = (';', '{', '}', '"', "'", '#', '\\', '\n', '\r', '`')

NAME_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$')
HOST_LABEL_RE = re.compile(r'^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$')
UNIX_PATH_RE = re.compile(r'^unix:/[A-Za-z0-9_./@+-]+$')
TIME_RE = re.compile(r'^(?:\d+(?:ms|[smhdwMy])?)+$')
SERVER_NAME_RE = re.compile(r'^(?:_|\*?[A-Za-z0-9.-]*\*?|~[A-Za-z0-9_.^$*+?()|\[\]-]+)$')
HEADER_NAME_RE = re.compile(r'^[A-Za-z0-9-]{1,64}$')
LOCATION_PATH_RE = re.compile(r'^/[A-Za-z0-9_./~%@:+-]*$')

BALANCE = {'round_robin': None, 'least_conn': 'least_conn', 'ip_hash': 'ip_hash', 'random': 'random'}
# Methods with which nginx refuses the "backup" server parameter.
NO_BACKUP = ('ip_hash', 'random')
LOCATION_MODIFIERS = ('', '=', '^~')

UPSTREAM_DEFAULTS = {
    'balance': 'round_robin',
    'keepalive': 32,
    'keepalive_requests': 1000,
    'keepalive_timeout': '60s',
    'keepalive_time': None,
}
SERVER_DEFAULTS = {'port': None, 'weight': None, 'max_fails': None, 'fail_timeout': None, 'backup': False}
SITE_DEFAULTS = {'listen': [80], 'server_name': ['_'], 'default_server': False}
LOCATION_DEFAULTS = {'modifier': '', 'proxy_set_headers': None}


class _Errors(object):
    def __init__(self):
        self.items = []

    def add(self, var, message):
        self.items.append('%s %s' % (var, message))


def _injection(value):
    """Return the first character of ``value`` that could inject nginx syntax, or None."""
    text = str(value)
    for char in INJECTION_CHARS:
        if char in text:
            return char
    return None


def _refuse_injection(errors, var, value):
    char = _injection(value)
    if char is None:
        return False
    errors.add(var, 'is %r: the character %r could inject nginx syntax and is refused.' % (str(value), char))
    return True


def _as_int(errors, var, value, minimum, maximum, required=True):
    if value is None:
        if required:
            errors.add(var, 'is missing: set an integer from %d to %d.' % (minimum, maximum))
        return None
    if isinstance(value, bool) or not re.match(r'^\d+$', str(value).strip()):
        if not _refuse_injection(errors, var, value):
            errors.add(var, 'is %r: set an integer from %d to %d.' % (value, minimum, maximum))
        return None
    number = int(str(value).strip())
    if not minimum <= number <= maximum:
        errors.add(var, 'is %d: set an integer from %d to %d.' % (number, minimum, maximum))
        return None
    return number


def is_nginx_time(value):
    """True for an nginx time value such as 60, 60s, 500ms, 1h30m."""
    return bool(TIME_RE.match(str(value)))


def _as_time(errors, var, value, required=False):
    if value is None:
        if required:
            errors.add(var, 'is missing: set an nginx time such as "60s", "500ms" or "1h".')
        return None
    if _refuse_injection(errors, var, value):
        return None
    text = str(value).strip()
    if not is_nginx_time(text):
        errors.add(var, 'is %r: set an nginx time: digits with an optional unit ms, s, m, h, d, w, M or y '
                        '(for example "60s", "500ms", "1h30m").' % text)
        return None
    return text


def is_hostname(value):
    """True for a DNS host name (labels of letters, digits and hyphens)."""
    text = str(value).rstrip('.')
    if not text or len(text) > 253:
        return False
    labels = text.split('.')
    return all(HOST_LABEL_RE.match(label) for label in labels) and not text.replace('.', '').isdigit()


def classify_address(value):
    """Return "ipv4", "ipv6", "hostname", "unix" or None for a server address."""
    text = str(value)
    if text.startswith('unix:'):
        return 'unix' if UNIX_PATH_RE.match(text) and '/../' not in text else None
    candidate = text[1:-1] if text.startswith('[') and text.endswith(']') else text
    try:
        parsed = ipaddress.ip_address(candidate)
    except ValueError:
        parsed = None
    if parsed is not None:
        if text != candidate and parsed.version == 4:
            return None  # brackets are for IPv6 only
        return 'ipv%d' % parsed.version
    if text != candidate:
        return None
    if re.match(r'^[\d.]+$', text):
        return None  # looks like a broken IPv4 address, not a host name
    return 'hostname' if is_hostname(text) else None


def format_address(address, port):
    """Render ``address`` and ``port`` the way nginx's server directive wants them."""
    kind = classify_address(address)
    text = str(address)
    if kind == 'ipv6' and not text.startswith('['):
        text = '[%s]' % text
    if kind == 'unix' or port is None:
        return text
    return '%s:%s' % (text, port)


def _check_name(errors, var, value, what):
    if value is None or str(value) == '':
        errors.add(var, 'is missing: name the %s (letters, digits, "_", "." and "-").' % what)
        return None
    if _refuse_injection(errors, var, value):
        return None
    if not NAME_RE.match(str(value)):
        errors.add(var, 'is %r: a %s name is 1 to 64 letters, digits, "_", "." and "-", not starting '
                        'with "." or "-".' % (str(value), what))
        return None
    return str(value)


def _check_bool(errors, var, value):
    if isinstance(value, bool):
        return value
    if str(value).lower() in ('true', 'yes', '1'):
        return True
    if str(value).lower() in ('false', 'no', '0'):
        return False
    errors.add(var, 'is %r: set true or false.' % (value,))
    return False


def _unknown_keys(errors, var, item, allowed):
    for key in sorted(set(item) - set(allowed)):
        errors.add('%s.%s' % (var, key), 'is not a known setting: use %s.' % ', '.join(sorted(allowed)))


def _with_defaults(errors, var, item, required, defaults, shape, keep_none=()):
    """item over its defaults (a null value means "the default", except for keys in keep_none).

    Returns None, after recording why, when item is not a dict; unknown keys are
    recorded. ``shape`` finishes the sentence "must be a dict with ...".
    """
    if not isinstance(item, dict):
        errors.add(var, 'must be a dict with %s.' % shape)
        return None
    _unknown_keys(errors, var, item, list(required) + list(defaults))
    out = dict(defaults)
    out.update({key: value for key, value in item.items() if value is not None or key in keep_none})
    return out


def _check_server(errors, var, server, balance):
    if isinstance(server, str):
        server = {'address': server}
    out = _with_defaults(errors, var, server, ['address'], SERVER_DEFAULTS, 'at least "address"')
    if out is None:
        return None
    address = out.get('address')
    kind = None
    if address is None or str(address) == '':
        errors.add(var + '.address', 'is missing: set an IPv4 or IPv6 address, a host name or unix:/path.')
    elif not _refuse_injection(errors, var + '.address', address):
        kind = classify_address(address)
        if kind is None:
            errors.add(var + '.address', 'is %r: set an IPv4 or IPv6 address, a host name or unix:/path '
                                         '(without a port: use "port").' % str(address))
    out['address'] = None if address is None else str(address)
    if kind == 'unix' and out['port'] is not None:
        errors.add(var + '.port', 'is set for the unix socket %s: leave port unset.' % address)
    out['port'] = _as_int(errors, var + '.port', out['port'], 1, 65535, required=False)
    out['weight'] = _as_int(errors, var + '.weight', out['weight'], 1, 1000, required=False)
    out['max_fails'] = _as_int(errors, var + '.max_fails', out['max_fails'], 0, 1000, required=False)
    out['fail_timeout'] = _as_time(errors, var + '.fail_timeout', out['fail_timeout'])
    out['backup'] = _check_bool(errors, var + '.backup', out['backup'])
    if out['backup'] and balance in NO_BACKUP:
        errors.add(var + '.backup', 'is true but the upstream balances with %s, which nginx does not allow '
                                    'with backup servers: use round_robin or least_conn.' % balance)
    out['rendered'] = format_address(out['address'], out['port']) if kind else None
    return out


def _check_upstream(errors, var, upstream):
    # keepalive_time: null means "do not render it", not the default.
    out = _with_defaults(errors, var, upstream, ['name', 'servers'], UPSTREAM_DEFAULTS, '"name" and "servers"',
                         keep_none=('keepalive_time',))
    if out is None:
        return None
    out['name'] = _check_name(errors, var + '.name', upstream.get('name'), 'upstream')
    balance = out['balance']
    if _refuse_injection(errors, var + '.balance', balance):
        balance = 'round_robin'
    elif balance not in BALANCE:
        errors.add(var + '.balance', 'is %r: use one of %s.' % (balance, ', '.join(sorted(BALANCE))))
        balance = 'round_robin'
    out['balance'] = balance
    out['balance_directive'] = BALANCE[balance]
    servers = upstream.get('servers')
    if not isinstance(servers, list) or not servers:
        errors.add(var + '.servers', 'must list at least one server ({address, port}).')
        servers = []
    out['servers'] = [s for s in (_check_server(errors, '%s.servers[%d]' % (var, index), server, balance)
                                  for index, server in enumerate(servers)) if s is not None]
    if servers and all(s.get('backup') for s in out['servers']):
        errors.add(var + '.servers', 'are all backup servers: at least one must be a primary server.')
    out['keepalive'] = _as_int(errors, var + '.keepalive', out['keepalive'], 1, 100000)
    out['keepalive_requests'] = _as_int(errors, var + '.keepalive_requests', out['keepalive_requests'], 1,
                                        10000000)
    out['keepalive_timeout'] = _as_time(errors, var + '.keepalive_timeout', out['keepalive_timeout'])
    out['keepalive_time'] = _as_time(errors, var + '.keepalive_time', out['keepalive_time'])
    return out


def _check_listen(errors, var, value):
    if _refuse_injection(errors, var, value):
        return None
    text = str(value).strip()
    if re.match(r'^\d+$', text):
        return str(_as_int(errors, var, text, 1, 65535) or '') or None
    if UNIX_PATH_RE.match(text):
        return text
    match = re.match(r'^(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):(\d+)$', text)
    if match and classify_address(match.group(1)) in ('ipv4', 'ipv6', 'hostname') \
            and _as_int(errors, var, match.group(2), 1, 65535) is not None:
        return text
    errors.add(var, 'is %r: set a port (8080), address:port (127.0.0.1:8080, [::1]:8080) or unix:/path.' % text)
    return None


def _check_headers(errors, var, headers):
    if headers is None:
        return None
    if not isinstance(headers, dict):
        errors.add(var, 'must be a dict of header name to value.')
        return {}
    out = {}
    for name, value in headers.items():
        hvar = '%s[%s]' % (var, name)
        if _refuse_injection(errors, hvar, name) or value is None or _refuse_injection(errors, hvar, value):
            if value is None:
                errors.add(hvar, 'has no value: set a string (use the variable only for headers to send).')
            continue
        if not HEADER_NAME_RE.match(str(name)):
            errors.add(hvar, 'is not a header name: letters, digits and "-" only.')
            continue
        if str(name).lower() == 'connection':
            errors.add(hvar, 'is managed by the role (Connection "" keeps upstream connections alive): '
                             'remove it.')
            continue
        out[str(name)] = str(value)
    return out


def _check_location(errors, var, location, upstream_names, default_headers):
    out = _with_defaults(errors, var, location, ['path', 'upstream'], LOCATION_DEFAULTS, '"path" and "upstream"')
    if out is None:
        return None
    path = out.get('path')
    if path is None:
        errors.add(var + '.path', 'is missing: set a URI prefix such as "/" or "/api/".')
    elif not _refuse_injection(errors, var + '.path', path) and not LOCATION_PATH_RE.match(str(path)):
        errors.add(var + '.path', 'is %r: set a URI starting with "/" (letters, digits and _ . / ~ %% @ : + -).'
                   % str(path))
    if out['modifier'] not in LOCATION_MODIFIERS:
        if not _refuse_injection(errors, var + '.modifier', out['modifier']):
            errors.add(var + '.modifier', 'is %r: use "", "=" or "^~".' % out['modifier'])
    upstream = out.get('upstream')
    if upstream is None:
        errors.add(var + '.upstream', 'is missing: name one of nginx_keepalive_upstreams.')
    elif not _refuse_injection(errors, var + '.upstream', upstream) and str(upstream) not in upstream_names:
        errors.add(var + '.upstream', 'is %r, which is not in nginx_keepalive_upstreams (%s).'
                   % (str(upstream), ', '.join(sorted(upstream_names)) or 'none defined'))
    headers = _check_headers(errors, var + '.proxy_set_headers', out['proxy_set_headers'])
    out['proxy_set_headers'] = default_headers if headers is None else headers
    return out


def _check_site(errors, var, site, upstream_names, default_headers):
    out = _with_defaults(errors, var, site, ['name', 'locations'], SITE_DEFAULTS, '"name" and "locations"')
    if out is None:
        return None
    out['name'] = _check_name(errors, var + '.name', site.get('name'), 'site')
    listen = out['listen'] if isinstance(out['listen'], list) else [out['listen']]
    out['listen'] = [v for v in (_check_listen(errors, '%s.listen[%d]' % (var, i), item)
                                 for i, item in enumerate(listen)) if v]
    if not listen:
        errors.add(var + '.listen', 'is empty: set at least one port or address:port.')
    names = out['server_name'] if isinstance(out['server_name'], list) else [out['server_name']]
    checked = []
    for index, name in enumerate(names):
        nvar = '%s.server_name[%d]' % (var, index)
        if _refuse_injection(errors, nvar, name):
            continue
        if not SERVER_NAME_RE.match(str(name)) or str(name) in ('', '*'):
            errors.add(nvar, 'is %r: set a host name, "*.example.com", "example.*" or "_".' % str(name))
            continue
        checked.append(str(name))
    out['server_name'] = checked
    out['default_server'] = _check_bool(errors, var + '.default_server', out['default_server'])
    locations = site.get('locations')
    if not isinstance(locations, list) or not locations:
        errors.add(var + '.locations', 'must list at least one location ({path, upstream}).')
        locations = []
    out['locations'] = [loc for loc in (_check_location(errors, '%s.locations[%d]' % (var, i), item,
                                                        upstream_names, default_headers)
                                        for i, item in enumerate(locations)) if loc is not None]
    seen = set()
    for index, loc in enumerate(out['locations']):
        key = (loc.get('modifier'), loc.get('path'))
        if key in seen:
            errors.add('%s.locations[%d].path' % (var, index), 'repeats %r: nginx refuses duplicate locations.'
                       % (loc.get('path'),))
        seen.add(key)
    return out


def nginx_keepalive_check(upstreams, sites=None, headers=None, prefix='nginx_keepalive'):
    """Validate the role's input; return {errors, upstreams, sites} with defaults filled in."""
    errors = _Errors()
    uvar, svar, hvar = prefix + '_upstreams', prefix + '_sites', prefix + '_proxy_headers'
    if upstreams is None:
        upstreams = []
    if not isinstance(upstreams, list):
        errors.add(uvar, 'must be a list of upstreams ({name, servers, keepalive, ...}).')
        upstreams = []
    checked_upstreams = [u for u in (_check_upstream(errors, '%s[%d]' % (uvar, i), item)
                                     for i, item in enumerate(upstreams)) if u is not None]
    names = [u['name'] for u in checked_upstreams if u.get('name')]
    for name in sorted(set(n for n in names if names.count(n) > 1)):
        errors.add(uvar, 'defines the upstream %r more than once: names must be unique.' % name)
    default_headers = _check_headers(errors, hvar, headers if headers is not None else {}) or {}
    if sites is None:
        sites = []
    if not isinstance(sites, list):
        errors.add(svar, 'must be a list of sites ({name, listen, server_name, locations}).')
        sites = []
    checked_sites = [s for s in (_check_site(errors, '%s[%d]' % (svar, i), item, set(names), default_headers)
                                 for i, item in enumerate(sites)) if s is not None]
    site_names = [s['name'] for s in checked_sites if s.get('name')]
    for name in sorted(set(n for n in site_names if site_names.count(n) > 1)):
        errors.add(svar, 'defines the site %r more than once: names must be unique.' % name)
    return {'errors': errors.items, 'upstreams': checked_upstreams, 'sites': checked_sites}


def nginx_keepalive_features(version):
    """What this nginx version needs rendered.

    Returns {proxy_settings, keepalive_default, keepalive_time, keepalive_timeout, version}:
    ``proxy_settings`` is false from 1.29.7 on (HTTP/1.1 and no "Connection: close"
    are defaults there); ``keepalive_default`` is the count nginx applies without
    a keepalive directive (None before 1.29.7); the other two say whether the
    upstream directives exist. An unknown version gets the explicit, older form.
    """
    vtuple = version_tuple(version)
    new_defaults = pools_by_default(version)
    return {
        'version': version,
        'proxy_settings': not new_defaults,
        'keepalive_default': DEFAULT_KEEPALIVE if new_defaults else None,
        'keepalive_time': vtuple >= KEEPALIVE_TIME_VERSION,
        'keepalive_timeout': vtuple >= KEEPALIVE_TIMEOUT_VERSION,
    }


def nginx_keepalive_version_errors(upstreams, features, prefix='nginx_keepalive'):
    """Sentences for settings this nginx version does not have (empty list when all fit)."""
    errors = []
    for index, upstream in enumerate(upstreams or []):
        var = '%s_upstreams[%d]' % (prefix, index)
        if upstream.get('keepalive_time') and not features.get('keepalive_time'):
            errors.append('%s.keepalive_time is set but nginx %s has no upstream keepalive_time (it appeared in '
                          '1.19.10): leave it unset (null) on this host.' % (var, features.get('version')))
        if not features.get('keepalive_timeout') and (upstream.get('keepalive_timeout')
                                                      or upstream.get('keepalive_requests')):
            errors.append('%s: nginx %s has no upstream keepalive_timeout or keepalive_requests (they appeared '
                          'in 1.15.3): upgrade nginx.' % (var, features.get('version')))
    return errors
