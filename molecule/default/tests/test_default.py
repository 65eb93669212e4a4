"""Verify the main playbook end to end: the host is hardened and the audit
that proved it produced a record for every host in the fleet report."""

import json
import os

import pytest

REPORT = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"), "reports", "tcp-audit.json")


@pytest.fixture(scope="module")
def fleet_report():
    with open(REPORT) as handle:
        return json.load(handle)


def _entry(fleet_report, host):
    name = host.backend.get_hostname()
    matches = [entry for entry in fleet_report["hosts"] if entry["host"] == name]
    assert len(matches) == 1, "%s appears %d times in %s" % (name, len(matches), REPORT)
    return matches[0]


def test_profile_values_are_live(host):
    sysctl = {key: host.file("/proc/sys/net/ipv4/" + key).content_string.strip()
              for key in ("tcp_tw_reuse", "tcp_timestamps")}
    assert sysctl == {"tcp_tw_reuse": "1", "tcp_timestamps": "1"}


def test_profile_is_persisted_in_one_drop_in(host):
    drop_in = host.file("/etc/sysctl.d/60-harden-tcp.conf")
    assert drop_in.exists and drop_in.user == "root" and drop_in.mode == 0o644
    settings = dict(
        (key.strip(), value.strip())
        for key, _sep, value in (line.partition("=") for line in drop_in.content_string.splitlines())
        if value and not key.lstrip().startswith("#")
    )
    assert settings["net.ipv4.tcp_tw_reuse"] == "1"
    assert settings["net.ipv4.tcp_timestamps"] == "1"
    assert int(settings["net.ipv4.tcp_max_tw_buckets"]) > 0
    # The key is gone from current kernels: nothing may mention it.
    assert "tcp_tw_recycle" not in drop_in.content_string


def test_audit_record_is_in_the_fleet_report(host, fleet_report):
    entry = _entry(fleet_report, host)
    assert entry["status"] == "ok"
    assert entry["compliant"] is True, entry


def test_audit_record_describes_this_host(host, fleet_report):
    record = _entry(fleet_report, host)["record"]
    assert record["kernel"]["release"] == host.check_output("uname -r")
    live_buckets = host.file("/proc/sys/net/ipv4/tcp_max_tw_buckets").content_string.strip()
    assert record["sysctl"]["net.ipv4.tcp_max_tw_buckets"]["runtime"] == live_buckets
    assert record["timewait"]["max_tw_buckets"] == int(live_buckets)
    assert record["timewait"]["method"] in ("netlink", "procfs")
