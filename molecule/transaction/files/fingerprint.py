"""Print, as JSON, the host state the transaction cases compare (stdlib only).

Usage: fingerprint.py [EXTRA_DIR...]
{files: {path: [type, mode, uid, gid, sha256 | link target]} for everything
under /etc/nginx, /etc/sysctl.d and the extra directories, sysctl: runtime values of the profile keys,
nginx: {master, workers}, http: what one request through nginx on :8080 got
(status and how the backend was asked: "HTTP/1.0 close" from the hand-written
site, "HTTP/1.1 -" through the keepalive upstream), holders: pids of
harden-tcp lock holders, tmp: harden-tcp transaction directories left in /tmp}.
"""
import hashlib
import json
import os
import stat
import sys
import urllib.request

KEYS = ('tcp_tw_reuse', 'tcp_timestamps', 'tcp_max_tw_buckets')


def entry(path):
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        kind, content = 'link', os.readlink(path)
    elif stat.S_ISDIR(st.st_mode):
        kind, content = 'dir', None
    else:
        with open(path, 'rb') as handle:
            kind, content = 'file', hashlib.sha256(handle.read()).hexdigest()
    return [kind, '%04o' % stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, content]


def tree(*roots):
    found = {}
    for root in roots:
        for base, dirs, files in os.walk(root):
            for name in dirs + files:
                path = os.path.join(base, name)
                found[path] = entry(path)
    return found


def processes():
    found = []
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                with open('/proc/%s/stat' % name) as handle:
                    fields = handle.read().rsplit(')', 1)[1].split()
                with open('/proc/%s/cmdline' % name, 'rb') as handle:
                    title = ' '.join(handle.read().decode('utf-8', 'replace').replace('\0', ' ').split())
            except OSError:
                continue
            if fields[0] != 'Z':
                found.append({'pid': int(name), 'ppid': int(fields[1]), 'title': title})
    return found


def request():
    try:
        answer = urllib.request.urlopen('http://127.0.0.1:8080/', timeout=5)
        return {'status': answer.status, 'asked': answer.headers['X-Backend-Request']}
    except Exception as exc:  # pylint: disable=broad-except
        return {'status': None, 'error': str(exc)}


def main():
    with open('/run/nginx.pid') as handle:
        master = int(handle.read().strip() or 0)
    procs = processes()
    print(json.dumps({
        'files': tree('/etc/nginx', '/etc/sysctl.d', *sys.argv[1:]),
        'sysctl': dict((key, ' '.join(open('/proc/sys/net/ipv4/' + key).read().split())) for key in KEYS),
        'nginx': {'master': master, 'workers': sorted(p['pid'] for p in procs if p['ppid'] == master)},
        'http': request(),
        'holders': [p['pid'] for p in procs if 'harden-tcp-lock' in p['title']],
        'tmp': sorted(name for name in os.listdir('/tmp') if name.startswith('harden-tcp-')),
    }, sort_keys=True))


if __name__ == '__main__':
    main()
