# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Merge fleet reports outside Ansible: the same merge as playbooks/merge_reports.yml.

    python -m ansible_collections.harden_tcp.tcp.plugins.plugin_utils.report_cli merge \\
        --dir /srv/reports/tcp /srv/reports/tcp/tcp-audit.awx-*.slice-*-of-4.json

Run it with the directory that holds ``ansible_collections/`` on PYTHONPATH
(an installed collection's path, or ``collections/`` of the checkout). It
needs nothing but the Python standard library. Exit status 0 when the merged
report is complete, 3 when slices are missing, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report as rp
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report_files
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.run import utc_now

EXIT_INCOMPLETE = 3


def main(argv: Optional[List[str]] = None) -> int:
    """Parse the command line, merge, write, print the file paths and the merge summary as JSON."""
    parser = argparse.ArgumentParser(prog='report_cli', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    merge = commands.add_parser('merge', help='merge JSON fleet reports into one report in every format')
    merge.add_argument('reports', nargs='+', help='JSON reports (paths or glob patterns)')
    merge.add_argument('--dir', required=True, help='directory for the merged report')
    merge.add_argument('--format', action='append', choices=report_files.FORMATS, dest='formats',
                       help='formats to write (repeat; default all); JSON is always written')
    merge.add_argument('--previous', default='auto',
                       help="merged report to compare with: 'auto' (the newest in --dir), a path, or '' for none")
    args = parser.parse_args(argv)
    try:
        with report_files.no_gc_pauses():
            reports = report_files.load_reports(args.reports)
            fleet = rp.merge_reports(reports, {'generated_at': utc_now(), 'tool': 'report_cli merge'})
            files = report_files.write_reports(fleet, args.dir, report_files.base_name(merged=True),
                                               args.formats or report_files.FORMATS, previous=args.previous)
    except report_files.ReportFileError as exc:
        print('report_cli: %s' % exc, file=sys.stderr)
        return 2
    summary = {'files': files, 'totals': fleet['totals'], 'merge': fleet['run']['merge']}
    print(json.dumps(summary, indent=2))
    return EXIT_INCOMPLETE if fleet['run']['partial'] else 0


if __name__ == '__main__':
    sys.exit(main())
