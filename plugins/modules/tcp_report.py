# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Documentation only: the work is done by the action plugin plugins/action/tcp_report.py, on the controller.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: tcp_report
short_description: Write the fleet report of the TCP TIME_WAIT audit, in one step on the controller
version_added: "1.0.0"
description:
  - Reads C(tcp_audit_record) (and C(tcp_report_host_error)) of every covered host, or the JSON reports given in
    O(merge), and writes the fleet report as JSON, Markdown, HTML and JUnit XML into O(dir), with the changes since
    the previous report.
  - Runs entirely on the controller, in the process of the task; runs nothing on any host and never uses become.
  - The files are controller artifacts, not a change to any host, so the task never reports C(changed);
    RV(written) and RV(files) say what was written.
  - Every host value is escaped for the format it lands in; the JSON report keeps it unchanged.
  - File names carry the AWX job id (extra variable C(awx_job_id)) and the slice, when there is one, so jobs and
    slices writing to one directory do not replace each other's reports.
author:
  - harden-tcp contributors (@harden-tcp)
options:
  dir:
    description: Directory on the controller for the report files; created when missing.
    type: path
    required: true
  hosts:
    description:
      - Hosts the report covers. Default the hosts of the play (C(ansible_play_hosts_all)); then the hosts Ansible
        removed from the run before the report are reported as failed (with a record) or unreachable (without).
    type: list
    elements: str
  formats:
    description: Files to write besides the JSON report, which is always written.
    type: list
    elements: str
    choices: [json, markdown, html, junit]
    default: [json, markdown, html, junit]
  previous:
    description:
      - The report to compare with. C(auto) is the newest JSON report of the same kind in O(dir) (the one this run
        replaces, or the newest of earlier AWX jobs); a path names one; an empty string compares with nothing.
    type: str
    default: auto
  options:
    description: 'Limits of the human formats: C(worst_hosts), C(md_hosts_per_finding), C(chart_max_hosts),
      C(html_max_hosts), C(history_rows) (see the tcp_report role variables of the same names), and C(page_rows),
      the host rows per page of the HTML table (100).'
    type: dict
    default: {}
  write_in_check_mode:
    description: Write the files under C(--check) too.
    type: bool
    default: true
  slice:
    description: This run's slice of a sliced fleet, C({number, count}); marks the report partial and names its files.
    type: dict
  merge:
    description:
      - JSON reports (paths or glob patterns) to merge instead of reading host variables. The newest entry of each
        host is kept; hosts in several reports and missing slices are reported.
    type: list
    elements: str
  summary_hosts:
    description: Host lines in RV(summary), worst first.
    type: int
    default: 50
  prometheus_var:
    description: Name of a host variable; the audited hosts where it is true are returned in RV(prometheus_hosts).
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
    details: Run it once, with C(run_once) and delegated to localhost, as the tcp_report role does.
  check_mode:
    support: full
    details: Builds the report; writes the files only when O(write_in_check_mode) is true.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - The run id and run start time come from the ansible-playbook process (see plugins/plugin_utils/run.py); audit
    records with another run id are flagged stale.
'''

EXAMPLES = r'''
- name: Write the fleet report
  harden_tcp.tcp.tcp_report:
    dir: /srv/reports/tcp
  run_once: true
  delegate_to: localhost
  register: report

- name: Merge the reports of two slices
  harden_tcp.tcp.tcp_report:
    dir: /srv/reports/tcp
    merge:
      - /srv/reports/tcp/tcp-audit.awx-*.slice-*-of-2.json
  delegate_to: localhost
'''

RETURN = r'''
written:
  description: Whether the files were written (false under --check with O(write_in_check_mode=false)).
  returned: always
  type: bool
files:
  description: Path of each written file, by format.
  returned: always
  type: dict
  sample: {json: /srv/reports/tcp/tcp-audit.json, html: /srv/reports/tcp/tcp-audit.html}
totals:
  description: Host counts by state, stale records, findings by severity, TIME_WAIT sockets; as in the JSON report.
  returned: always
  type: dict
run:
  description: The run metadata written in the report.
  returned: always
  type: dict
merge:
  description: With O(merge), the sources, the duplicated hosts and the missing slices.
  returned: always
  type: dict
history:
  description: Counts of the changes since the previous report, and which report that was.
  returned: always
  type: dict
stats:
  description: The data for C(ansible.builtin.set_stats) (key C(harden_tcp_report) in the tcp_report role).
  returned: always
  type: dict
summary:
  description: One line per host, worst first, at most O(summary_hosts) of them.
  returned: always
  type: list
  elements: str
prometheus_hosts:
  description: Audited hosts whose O(prometheus_var) is true.
  returned: always
  type: list
  elements: str
timings:
  description: Seconds spent reading the records or reports, building the report and writing the files.
  returned: always
  type: dict
'''
