"""Run ansible-playbook invocations at the same time; print each outcome as JSON.

Usage: run_playbooks.py RUNS, RUNS being a JSON list of
{playbook, inventory, limit, extra_vars: {...}, delay: seconds before starting}.
Each run uses the ansible.posix.json callback, so its outcome is read, not
scraped: [{rc, seconds, started, failures: [{task, msg}], tasks: {name: [results]}}]
where a task's result keeps msg and the fields the cases look at.
"""
import json
import os
import subprocess
import sys
import threading
import time

KEPT = ('failed', 'skipped', 'changed', 'msg', 'method', 'loaded', 'reloaded', 'waited', 'lock', 'restored',
        'serving', 'errors')


def outcome(doc):
    failures, tasks = [], {}
    for play in doc.get('plays', []):
        for task in play.get('tasks', []):
            # A role's task is named "role : task"; keep the task's own name.
            name = task['task']['name'].split(' : ', 1)[-1]
            for result in task.get('hosts', {}).values():
                kept = dict((key, result[key]) for key in KEPT if key in result)
                tasks.setdefault(name, []).append(kept)
                if result.get('failed'):
                    failures.append({'task': name, 'msg': result.get('msg')})
    return failures, tasks


def run(spec, report):
    time.sleep(spec.get('delay', 0))
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', spec['inventory'],
            spec['playbook'], '--limit', spec['limit']]
    for key, value in sorted(spec.get('extra_vars', {}).items()):
        argv += ['-e', json.dumps({key: value})]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_NOCOLOR='1')
    started = time.time()
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
    try:
        failures, tasks = outcome(json.loads(done.stdout.decode('utf-8', 'replace')))
    except ValueError:
        failures, tasks = [{'task': None, 'msg': done.stdout.decode('utf-8', 'replace')[-2000:]}], {}
    report.update(rc=done.returncode, started=started, seconds=round(time.time() - started, 1), failures=failures,
                  tasks=tasks, stderr=done.stderr.decode('utf-8', 'replace')[-2000:])


def main():
    specs = json.loads(sys.argv[1])
    reports = [{} for _spec in specs]
    threads = [threading.Thread(target=run, args=(spec, report)) for spec, report in zip(specs, reports)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(reports))


if __name__ == '__main__':
    main()
