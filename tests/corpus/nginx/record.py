"""Record what a real nginx makes of each corpus entry.

For every entry directory (``NN-slug/``) next to this script, or only those
named on the command line, this script

1. starts a throwaway container ``corpus-rec-<slug>-<random>`` from the local
   image ``harden-tcp/debian:bookworm`` (nginx 1.22.1) with ``--network none``
   and ``sleep`` as its command, adding every ``NAME IP`` line of the entry's
   ``hosts`` file with ``--add-host``;
2. replaces the image's ``/etc/nginx`` with the entry's ``files/etc/nginx``
   (so nothing of the image's own configuration, such as its default site,
   leaks into the recording);
3. prepares what ``nginx -t`` checks on disk but a configuration cannot carry:
   a placeholder self-signed certificate and key at every path named by
   ``ssl_certificate``, ``ssl_certificate_key``, ``ssl_trusted_certificate``,
   ``ssl_client_certificate`` and ``ssl_dhparam`` (one RSA key and certificate
   and one small DH parameter file are made once per run with ``openssl`` on
   this machine), the parent directory of every ``access_log``/``error_log``
   file, and the account named by a ``user`` directive when the image has none;
4. runs ``nginx -t`` (must succeed; nginx's own error is printed otherwise),
   then ``nginx -T`` and ``nginx -v``, and writes the standard output of
   ``nginx -T`` to ``nginx-T.txt`` and the ``nginx -v`` line to ``nginx-v.txt``;
5. removes the container, whatever happened.

Usage::

    python3 tests/corpus/nginx/record.py                 # record every entry
    python3 tests/corpus/nginx/record.py 01-jenkins-docs # record some entries
    python3 tests/corpus/nginx/record.py --check         # re-record into a temp
                                                         # dir, fail on any diff
    python3 tests/corpus/nginx/record.py --image harden-tcp/debian:bookworm

Only the Python standard library, ``docker`` and ``openssl`` are needed.
Exit status: 0 when every entry was recorded (or matched, with --check).
"""
import argparse
import difflib
import os
import re
import secrets
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_IMAGE = "harden-tcp/debian:bookworm"
ENTRY_RE = re.compile(r"^\d\d-[a-z0-9][a-z0-9-]*$")

# directive -> which placeholder file to put at the path it names
TLS_DIRECTIVES = {
    "ssl_certificate": "cert",
    "ssl_certificate_key": "key",
    "ssl_trusted_certificate": "cert",
    "ssl_client_certificate": "cert",
    "ssl_dhparam": "dhparam",
}
DIRECTIVE_RE = re.compile(
    r"(?:^|[;{}])\s*(ssl_certificate|ssl_certificate_key|ssl_trusted_certificate|"
    r"ssl_client_certificate|ssl_dhparam|access_log|error_log|pid|user|"
    r"proxy_cache_path|fastcgi_cache_path|uwsgi_cache_path|scgi_cache_path)\s+"
    r"(\"[^\"]*\"|'[^']*'|[^\s;]+)", re.M)


def run(cmd, check=True, **kw):
    """Run a command, capturing text output."""
    return subprocess.run(cmd, check=check, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def entries(names):
    """The entry directories to record, sorted."""
    if names:
        out = []
        for name in names:
            name = name.rstrip("/").split("/")[-1]
            if not os.path.isdir(os.path.join(HERE, name, "files", "etc", "nginx")):
                sys.exit(f"record.py: no entry {name!r} (no files/etc/nginx)")
            out.append(name)
        return sorted(out)
    return sorted(d for d in os.listdir(HERE)
                  if ENTRY_RE.match(d) and os.path.isdir(os.path.join(HERE, d)))


def make_tls_material(tmp):
    """One self-signed certificate + key and one small dhparam file."""
    key, cert, dh = (os.path.join(tmp, n) for n in ("key.pem", "cert.pem", "dhparam.pem"))
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
         "-subj", "/CN=corpus.invalid", "-keyout", key, "-out", cert])
    # -dsaparam makes 2048-bit parameters in about a second (OpenSSL 3 refuses
    # smaller ones); nginx only loads them.
    run(["openssl", "dhparam", "-dsaparam", "-out", dh, "2048"])
    return {"cert": cert, "key": key, "dhparam": dh}


def scan(tree):
    """Paths the configuration names that must exist for nginx -t."""
    tls, logdirs, users = {}, set(), set()
    for root, _dirs, files in os.walk(tree):
        for name in files:
            path = os.path.join(root, name)
            try:
                text = open(path, encoding="utf-8", errors="replace").read()
            except OSError:
                continue
            # drop comments so commented-out directives are ignored
            text = "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())
            for directive, value in DIRECTIVE_RE.findall(text):
                value = value.strip("\"'")
                if "$" in value or value.startswith("data:") or value.startswith("engine:"):
                    continue
                if directive == "user":
                    users.add(value)
                    continue
                if directive.endswith("_cache_path"):
                    logdirs.add(value)  # nginx creates only the last component
                    continue
                if directive in ("access_log", "error_log", "pid"):
                    if value in ("off", "stderr") or value.startswith(("syslog:", "memory:", "/dev/")):
                        continue
                    if not value.startswith("/"):
                        value = "/usr/share/nginx/" + value  # Debian's prefix
                    logdirs.add(os.path.dirname(value))
                    continue
                if not value.startswith("/"):
                    value = "/etc/nginx/" + value  # relative to the conf prefix
                tls[value] = TLS_DIRECTIVES[directive]
    return tls, logdirs, users


def record(entry, image, tls_material, outdir):
    """Record one entry into outdir; return True on success."""
    edir = os.path.join(HERE, entry)
    tree = os.path.join(edir, "files", "etc", "nginx")
    hosts = []
    hosts_file = os.path.join(edir, "hosts")
    if os.path.exists(hosts_file):
        for line in open(hosts_file, encoding="utf-8"):
            line = line.split("#", 1)[0].split()
            if line:
                hosts.append((line[0], line[1]))
    name = f"corpus-rec-{entry.lower()}-{secrets.token_hex(3)}"[:63]
    cmd = ["docker", "run", "-d", "--rm", "--name", name, "--network", "none",
           "--entrypoint", "sleep"]
    for host, ip in hosts:
        cmd += ["--add-host", f"{host}:{ip}"]
    cmd += [image, "600"]
    run(cmd)
    try:
        def sh(script, check=True):
            return run(["docker", "exec", name, "sh", "-c", script], check=check)
        sh("rm -rf /etc/nginx")
        run(["docker", "cp", tree, f"{name}:/etc/nginx"])
        tls, logdirs, users = scan(tree)
        for path, kind in sorted(tls.items()):
            sh(f"mkdir -p '{os.path.dirname(path)}'")
            run(["docker", "cp", tls_material[kind], f"{name}:{path}"])
        for d in sorted(logdirs):
            sh(f"mkdir -p '{d}'")
        for user in sorted(users):
            sh(f"id -u '{user}' >/dev/null 2>&1 || useradd --system --no-create-home '{user}'")
        test = sh("nginx -t", check=False)
        if test.returncode != 0:
            print(f"{entry}: nginx -t failed:\n{test.stderr}", file=sys.stderr)
            return False
        warnings = [l for l in test.stderr.splitlines() if "[warn]" in l]
        for w in warnings:
            print(f"{entry}: {w}", file=sys.stderr)
        dump = sh("nginx -T 2>/dev/null")
        version = sh("nginx -v 2>&1")
        with open(os.path.join(outdir, "nginx-T.txt"), "w", encoding="utf-8") as f:
            f.write(dump.stdout)
        with open(os.path.join(outdir, "nginx-v.txt"), "w", encoding="utf-8") as f:
            f.write(version.stdout)
        return True
    finally:
        run(["docker", "rm", "-f", name], check=False)


def main():
    global HERE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("entries", nargs="*", help="entry directories (default: all)")
    ap.add_argument("--check", action="store_true",
                    help="re-record into a temporary directory and fail if nginx-T.txt differs")
    ap.add_argument("--image", default=DEFAULT_IMAGE)
    ap.add_argument("--root", default=HERE,
                    help="directory holding the entries (default: this script's directory)")
    args = ap.parse_args()
    HERE = os.path.abspath(args.root)
    failed = []
    with tempfile.TemporaryDirectory(prefix="corpus-rec-") as tmp:
        tls_material = make_tls_material(tmp)
        for entry in entries(args.entries):
            outdir = os.path.join(HERE, entry)
            if args.check:
                outdir = os.path.join(tmp, entry)
                os.makedirs(outdir)
            ok = record(entry, args.image, tls_material, outdir)
            if ok and args.check:
                for fname in ("nginx-T.txt", "nginx-v.txt"):
                    stored = os.path.join(HERE, entry, fname)
                    old = open(stored, encoding="utf-8").read() if os.path.exists(stored) else ""
                    new = open(os.path.join(outdir, fname), encoding="utf-8").read()
                    if old != new:
                        ok = False
                        sys.stdout.writelines(difflib.unified_diff(
                            old.splitlines(True), new.splitlines(True),
                            f"{entry}/{fname} (stored)", f"{entry}/{fname} (recorded)"))
            print(f"{entry}: {'ok' if ok else 'FAILED'}", flush=True)
            if not ok:
                failed.append(entry)
    if failed:
        print(f"{len(failed)} entr{'y' if len(failed) == 1 else 'ies'} failed: {' '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
