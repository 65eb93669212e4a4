"""Load generator for the proof (stdlib only). Prints or writes a JSON summary.

burst URL N            send N requests one after the other, a new connection each
loop URL OUT STOP MAX  send requests until the file STOP exists (or MAX seconds
                       pass), rewriting the summary OUT every second
A request fails on any error, timeout (5 s) or status other than 200.
"""
import http.client
import json
import os
import sys
import time
import urllib.parse


def one(url):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=5)
    try:
        conn.request('GET', parts.path or '/', headers={'Connection': 'close'})
        response = conn.getresponse()
        response.read()
        return response.status == 200, '' if response.status == 200 else 'status %d' % response.status
    except Exception as exc:  # every failure counts, whatever its kind
        return False, '%s: %s' % (type(exc).__name__, exc)
    finally:
        conn.close()


def summary(sent, failed, errors, started):
    return {'requests': sent, 'ok': sent - failed, 'failed': failed, 'errors': errors[:10],
            'seconds': round(time.time() - started, 3)}


def burst(url, count):
    started, failed, errors = time.time(), 0, []
    for _attempt in range(count):
        ok, error = one(url)
        if not ok:
            failed += 1
            errors.append(error)
    print(json.dumps(summary(count, failed, errors, started)))


def loop(url, out, stop, max_seconds):
    started, sent, failed, errors, last = time.time(), 0, 0, [], 0.0
    while not os.path.exists(stop) and time.time() - started < max_seconds:
        ok, error = one(url)
        sent += 1
        if not ok:
            failed += 1
            errors.append('%.3f %s' % (time.time() - started, error))
        if time.time() - last >= 1:
            write(out, dict(summary(sent, failed, errors, started), done=False))
            last = time.time()
        time.sleep(0.01)
    write(out, dict(summary(sent, failed, errors, started), done=True))


def write(path, data):
    tmp = path + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


if __name__ == '__main__':
    if sys.argv[1] == 'burst':
        burst(sys.argv[2], int(sys.argv[3]))
    else:
        loop(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
