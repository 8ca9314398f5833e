#!/usr/bin/env python3
# Samples CPU seconds per command name every INTERVAL s; prints a TSV row of per-group cores used.
import os, sys, time
interval = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
tick = os.sysconf('SC_CLK_TCK')
groups = ['meerkat', 'meerkat-load', 'nats-server', 'postgres', 'beam.smp']
def sample():
    tot = {g: 0 for g in groups}; tot['other'] = 0
    for pid in os.listdir('/proc'):
        if not pid.isdigit(): continue
        try:
            s = open(f'/proc/{pid}/stat').read()
        except OSError: continue
        comm = s[s.index('(')+1:s.rindex(')')]
        f = s[s.rindex(')')+2:].split()
        cpu = (int(f[11]) + int(f[12])) / tick
        tot[comm if comm in tot else 'other'] += cpu
    return tot
prev = sample(); t0 = time.time()
print('t\t' + '\t'.join(prev.keys()), flush=True)
while True:
    time.sleep(interval)
    cur = sample()
    print(f'{time.time()-t0:.0f}\t' + '\t'.join(f'{max(0,cur[k]-prev[k])/interval:.2f}' for k in cur), flush=True)
    prev = cur
