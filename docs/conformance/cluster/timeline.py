#!/usr/bin/env python3
"""One timeline of a live run: the runner's faults and heals, every node's `role change` (and warning) lines
from its node.log, and every acknowledged write, in history time (seconds since the run started).

    python3 timeline.py REPORT_DIR DATA_DIR > timeline.txt

REPORT_DIR is the run's --report folder (results.json with originEpochMs, history.json), DATA_DIR the folder
the run kept with --keep (one sub-folder per node, each with node.log).
"""
import glob
import json
import sys

report, data = sys.argv[1], sys.argv[2]
results = json.load(open(f'{report}/results.json'))
origin = results['originEpochMs']
lines = []
for e in results['timeline']:
    lines.append((e['at'], 'RUN', f"{e['kind']} {e.get('node', '')} {e['detail']}"))
for path in sorted(glob.glob(f'{data}/*/node.log')):
    node = path.split('/')[-2]
    for raw in open(path):
        try:
            j = json.loads(raw)
        except ValueError:
            continue
        if j.get('msg') == 'role change':
            lines.append((j['time'] - origin, node, f"{j.get('role')} {j.get('term')}"))
        elif j.get('level', 0) >= 40:
            lines.append((j['time'] - origin, node, 'WARN ' + j.get('msg', '')[:100]))
invoked = {}
for e in json.load(open(f'{report}/history.json')):
    if e['process'] == 'nemesis':
        continue
    if e['type'] == 'invoke':
        invoked[e['process']] = e
    elif e['type'] == 'ok' and e['f'] in ('write', 'cas'):
        lines.append((e['time'], 'ack', f"{e['f']} via {e.get('node')} (invoked {invoked[e['process']]['time'] / 1000:.1f})"))
lines.sort(key=lambda line: line[0])
for at, who, what in lines:
    print(f'{at / 1000:7.2f} {who:6} {what}')
